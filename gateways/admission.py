"""Admission checks: what in a tool's definition looks like poisoning, before a model reads it.

A tool definition is text the model reads and trusts. A poisoned one carries orders for the
model (hidden tags, "do not tell the user", read ~/.ssh and pass it along), characters a person
reviewing it cannot see, links to hosts that are not the server's own, or a name or a mention
that shadows another server's tool on the same gateway. `assess` names each of these as a
`Reason`; the gateway withholds a flagged tool until an admin approves that exact definition
(its fingerprint, `gateways.pinning`). Pure functions: the callers bring the catalogs.
"""

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.injection_phrases import SPECIFIC
from gateways import pinning

INSTRUCTIONS = "instructions"
INVISIBLE = "invisible_characters"
UNKNOWN_HOST = "unknown_host"
SHADOWING = "shadowing"
OVERSIZED = "oversized"

# How much text the checks read of one definition: its prose, and every string (keys too) for
# hidden characters. An upstream's reply may be megabytes, and the checks run on each fetch, so
# a definition longer than this is flagged as too long to check rather than read in full: no
# honest tool needs the model to read this much about it.
MAX_PROSE_CHARS = 64 * 1024
MAX_DEFINITION_CHARS = 256 * 1024

# Phrases of tool poisoning besides the injection phrases: the verb-and-object ones of the
# injection detector are replaced by stricter ones, since a tool may "override rules" honestly.
# Every repetition is bounded, so a search stays linear in the text: an unbounded run before a
# literal that never comes makes `re` scan to the end from every start (quadratic).
_POISONING = (
    r"(?:ignore|disregard|forget)\s+(?:all |any |the |your |these |those )?(?:previous|prior"
    r"|above|earlier|preceding|other|original)\b",
    r"(?:override|bypass)\s+(?:all |any |the |your )?(?:previous|prior|system|safety)\s+"
    r"(?:instructions?|prompts?|rules|guidelines)",
    r"</?(?:important|instructions?|secret|hidden|critical|system)\b[^>]{0,40}>",
    # A comment hidden from rendered Markdown; the opener is enough, its end need not be found.
    r"<!--.{0,40}",
    r"(?:do not|don't|never|must not) (?:tell|inform|mention|reveal|show|notify)\b[^.]{0,40}"
    r"\buser\b",
    r"the user (?:must|should|need|may) (?:not|never) (?:know|see|be told|notice|find out)",
    r"(?:hide|conceal|keep) (?:this|it|that|these)\b[^.]{0,30}\b(?:secret|hidden|from the user)",
    r"\b(?:secretly|covertly|silently|quietly) (?:send|forward|copy|call|include|add|upload|read"
    r"|pass|attach|append|bcc)\b",
    r"(?:before|prior to) (?:using|calling|running|invoking) (?:this|any|the) (?:tool|function)"
    r"\b[^.]{0,80}\b(?:read|open|cat|include|pass|send|fetch|call)\b",
    r"(?:note|message|instructions?) (?:to|for) (?:the |any )?(?:ai|assistant|model|llm|agent)\b",
    r"\b(?:hey|dear|attention),? (?:ai|assistant|model|llm|agent|claude|chatgpt|gpt)\b",
    r"(?:send|forward|post|upload|copy|leak|exfiltrate|bcc|cc)\b[^.]{0,60}?\b(?:conversation"
    r"|chat history|previous messages|user's messages|system prompt)\b[^.]{0,60}\bto\b",
    # The address is only tried where a run of address characters starts.
    r"\b(?:bcc|cc|forward (?:a copy|it|them|everything|all))\b[^.]{0,40}?"
    r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+",
    # Files no tool needs the model to read for it: keys, credentials, the client's own config.
    r"~/\.(?:ssh|aws|gnupg|kube|docker|netrc|npmrc|pypirc|config/gcloud)\b|\bid_(?:rsa|ed25519"
    r"|ecdsa|dsa)\b|/etc/(?:passwd|shadow)\b|\.git-credentials\b|\bmcp\.json\b"
    r"|claude_desktop_config\.json",
)
_PHRASES = tuple(re.compile(expression) for _, expression, _ in SPECIFIC) + tuple(
    re.compile(expression, re.DOTALL) for expression in _POISONING
)

_URL = re.compile(r"\b(?:https?|wss?|ftp)://[^\s\"'<>`)\]}]+", re.IGNORECASE)
# Keys of a JSON Schema whose strings are read as prose by the model.
_TEXT_KEYS = ("description", "title", "default", "const", "examples", "enum")
_SNIPPET = 60


@dataclass(frozen=True)
class Reason:
    kind: str
    text: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text}


@dataclass(frozen=True)
class Hold:
    """A discovered tool the checks flagged and no admin approved as it is now."""

    tool: str
    digest: str
    reasons: tuple[Reason, ...]
    definition: dict


def known_hosts(url: str) -> frozenset[str]:
    """The server's own host and its parent domain (api.example.com: also example.com and the
    rest of it); an IP address or a single-label host stands alone."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".") if url else ""
    if not host:
        return frozenset()
    labels = host.split(".")
    if len(labels) > 2 and not host.replace(".", "").isdigit():
        return frozenset({host, ".".join(labels[1:])})
    return frozenset({host})


class OtherTools(dict):
    """Tool name -> the server offering it, over a gateway's other servers; `shared`: those
    names the own server offers too (a tool mentioning one may mean its own)."""

    shared: frozenset = frozenset()


def other_tools(own_server_id: int, servers: Iterable[tuple[int, str, dict | None]]) -> OtherTools:
    """The other servers' tools on a gateway (`(server_id, server_name, catalog)` each)."""
    servers = list(servers)
    own = set()
    for server_id, _name, catalog in servers:
        if server_id == own_server_id:
            own |= set(pinning.discovered_tools(catalog))
    found = OtherTools()
    for server_id, name, catalog in servers:
        if server_id == own_server_id:
            continue
        for tool in pinning.discovered_tools(catalog):
            found.setdefault(tool, name)
    found.shared = frozenset(own & set(found))
    return found


def _texts(value, where: str):
    """(where, text) for each string of a schema the model reads as prose."""
    if isinstance(value, dict):
        for key, item in value.items():
            # A property may itself be named "title" or "description": its schema is a dict.
            if key in _TEXT_KEYS and not isinstance(item, dict):
                yield from _strings(item, f"{where}.{key}")
            elif isinstance(item, dict | list):
                yield from _texts(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _texts(item, f"{where}[{i}]")


def _strings(value, where: str):
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield where, item


def prose(tool: dict):
    """(where, text) for every part of a definition the model reads as prose."""
    for key in ("description", "title"):
        if isinstance(tool.get(key), str):
            yield key, tool[key]
    for key in ("inputSchema", "outputSchema"):
        yield from _texts(tool.get(key), key)
    annotations = tool.get("annotations")
    if isinstance(annotations, dict):
        for key, value in annotations.items():
            if isinstance(value, str):
                yield f"annotations.{key}", value


def _every_string(value, where: str):
    """Keys and values alike: a hidden character is as bad in a property's name."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", str(key)
            yield from _every_string(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _every_string(item, f"{where}[{i}]")


def _within(texts, limit: int) -> tuple[list[tuple[str, str]], bool]:
    """The (where, text) pairs up to `limit` characters in all, and whether there was more;
    stops reading at the limit, so a huge definition costs no more than a long one."""
    kept, left = [], limit
    for where, text in texts:
        if len(text) > left:
            if left:
                kept.append((where, text[:left]))
            return kept, True
        kept.append((where, text))
        left -= len(text)
    return kept, False


def _snippet(text: str, start: int, end: int) -> str:
    found = " ".join(text[start:end].split())
    return found if len(found) <= _SNIPPET else found[: _SNIPPET - 1] + "…"


def _invisible(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) == "Cf"  # zero-width, bidi controls, tags, word joiners
        or 0xE0000 <= code <= 0xE007F
        or 0xE0100 <= code <= 0xE01EF  # variation selectors that smuggle bytes
    )


def _describe_invisible(found: list[str]) -> str:
    counts: dict[str, int] = {}
    for ch in found:
        counts[ch] = counts.get(ch, 0) + 1
    named = [
        f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed').lower()}" + (f" ×{n}" if n > 1 else "")
        for ch, n in list(counts.items())[:4]
    ]
    more = f" and {len(counts) - 4} more kinds" if len(counts) > 4 else ""
    # Tag characters spell ASCII a reviewer never sees; show what they say.
    tagged = "".join(chr(ord(ch) - 0xE0000) for ch in found if 0xE0020 <= ord(ch) <= 0xE007E)
    hidden = f'; they spell "{tagged[:_SNIPPET]}"' if tagged else ""
    return ", ".join(named) + more + hidden


def _host_known(host: str, known: frozenset[str]) -> bool:
    return any(host == k or host.endswith("." + k) for k in known)


def _distinctive(name: str) -> bool:
    # "search" or "list" in prose is a word, not a reference to another server's tool.
    return len(name) >= 4 and bool(re.search(r"[_\-.]|[a-z][A-Z]", name))


@functools.lru_cache(maxsize=64)
def _mentions(names: tuple[str, ...]) -> re.Pattern | None:
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])({alternatives})(?![\w-])", re.IGNORECASE)


def assess(
    tool: dict,
    *,
    other_tools: Mapping[str, str],
    known_hosts: Iterable[str],
    bare: bool = False,
) -> list[Reason]:
    """Why this definition looks poisoned; empty when it does not.

    `other_tools`: tool name -> server, for the other servers on the same gateway.
    `known_hosts`: hosts links may point at (their subdomains too). `bare`: the tool is offered
    under its own name, without a namespace, so a same-named tool elsewhere collides with it."""
    reasons: list[Reason] = []
    texts, prose_cut = _within(prose(tool), MAX_PROSE_CHARS)

    for where, text in texts:
        lowered = text.lower()
        # Lower-casing keeps offsets for nearly all text; where not, quote the lowered text.
        source = text if len(lowered) == len(text) else lowered
        for phrase in _PHRASES:
            m = phrase.search(lowered)
            if m is not None:
                snippet = _snippet(source, *m.span())
                reasons.append(
                    Reason(INSTRUCTIONS, f'Instructions aimed at the model in {where}: "{snippet}"')
                )
                break

    definition = {"name": tool.get("name"), **pinning.definition(tool)}
    strings, definition_cut = _within(_every_string(definition, "tool"), MAX_DEFINITION_CHARS)
    if prose_cut or definition_cut:
        limit = MAX_PROSE_CHARS if prose_cut else MAX_DEFINITION_CHARS
        what = "of prose" if prose_cut else "in its strings"
        reasons.append(
            Reason(
                OVERSIZED,
                f"Too long to check: more than {limit:,} characters {what}; only those were read",
            )
        )
    hidden: dict[str, list[str]] = {}
    for where, text in strings:
        if text.isascii():
            continue  # no format character is ASCII
        found = [ch for ch in text if _invisible(ch)]
        if found:
            hidden.setdefault(where.removeprefix("tool."), []).extend(found)
    for where, found in hidden.items():
        reasons.append(
            Reason(INVISIBLE, f"Invisible characters in {where}: {_describe_invisible(found)}")
        )

    known = frozenset(h.lower() for h in known_hosts)
    unknown: dict[str, str] = {}
    for where, text in texts:
        for m in _URL.finditer(text):
            try:
                host = (urlsplit(m.group(0)).hostname or "").rstrip(".")
            except ValueError:
                host = ""
            if not host or not _host_known(host, known):
                unknown.setdefault(host or m.group(0), where)
    for host, where in unknown.items():
        reasons.append(
            Reason(UNKNOWN_HOST, f"Links to {host} in {where}, not a host of the server itself")
        )

    name = tool.get("name")
    if bare and isinstance(name, str) and name in other_tools:
        reasons.append(
            Reason(
                SHADOWING,
                f"Shares its name with {name} of server {other_tools[name]}, and is offered "
                "without a namespace",
            )
        )
    shared = getattr(other_tools, "shared", frozenset())
    pattern = _mentions(
        tuple(sorted(n for n in other_tools if n != name and n not in shared and _distinctive(n)))
    )
    if pattern is not None:
        for where, text in texts:
            m = pattern.search(text)
            if m is not None:
                mentioned = next(n for n in other_tools if n.lower() == m.group(1).lower())
                reasons.append(
                    Reason(
                        SHADOWING,
                        f"Mentions {mentioned}, a tool of server {other_tools[mentioned]}, "
                        f"in {where}",
                    )
                )
                break
    return reasons


def holds(
    tools: Mapping[str, dict],
    approved: Mapping[str, str],
    *,
    other_tools: Mapping[str, str],
    known_hosts: Iterable[str],
    bare: bool = False,
) -> list[Hold]:
    """The flagged tools among `tools` (by name) whose definition is not the approved one
    (`approved`: name -> fingerprint), by name."""
    found = []
    for name in sorted(tools):
        tool = tools[name]
        reasons = assess(tool, other_tools=other_tools, known_hosts=known_hosts, bare=bare)
        if not reasons:
            continue
        digest = pinning.fingerprint(tool)
        if approved.get(name) != digest:
            found.append(Hold(name, digest, tuple(reasons), pinning.definition(tool)))
    return found


def approved_digests(admissions: dict | None) -> dict[str, str]:
    """Name -> the fingerprint an admin approved, from `Assignment.tool_admissions`."""
    return {
        name: record["digest"]
        for name, record in (admissions or {}).items()
        if isinstance(record, dict) and isinstance(record.get("digest"), str)
    }
