"""Rewriting matches inside a string that holds a JSON document, so that it stays one.

Tools often return their result twice: as `structuredContent` and as the same JSON in a text
content item. A match is rewritten only where it lies inside a token, never in the syntax
around it: inside a string literal the replacement is escaped for JSON (and never splits an
escape sequence); a number that holds a match becomes a string literal (`{"card":
"[REDACTED:CARD]"}`, not `{"card": [REDACTED:CARD]}`); an object key that a rewrite makes equal
to another key of its object gets a `#2` suffix. The document's layout is kept as it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from rules.detectors.base import Match, non_overlapping

# The syntax before a token, then a string literal (a key when a colon follows) or a number: in
# a valid document nothing else holds a quote or starts with a digit or a minus sign. Each match
# takes the syntax along, so the scan never retries at a brace or a space.
_TOKEN = re.compile(
    r'[^"0-9-]*+(?:(?P<t>"[^"\\]*+(?:\\.[^"\\]*+)*+")(?P<key>\s*:)?|(?P<n>-?[0-9][0-9.eE+-]*+))'
)
# The full grammar, for the keys of one object (needed only when a rewrite renames a key).
_SYNTAX = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],]')
_ESCAPE = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|.)")
# The largest document rewritten token by token; a larger one is rewritten as plain text.
MAX_LENGTH = 4_000_000


def looks_like_json(text: str) -> bool:
    """Cheap first test: an object or an array, possibly after whitespace."""
    first = text[:1]
    return first in ("{", "[") or (first.isspace() and text.lstrip()[:1] in ("{", "["))


def scannable(text: str) -> str:
    """JSON text as the detectors should see it: each escape sequence written with letters
    (`\\n`, `\\t`, `\\u00e9`) kept as its backslash followed by spaces. The text keeps its
    length, so what is found in it lies at the same place in `text`; and a value after an
    escaped newline starts after a space, not after the letter `n` (which would hide a token
    or a card number from a detector that wants it to start a word). `\\"` stays: a quote
    already ends a word. Other text is returned as it is."""
    if "\\" not in text or not looks_like_json(text):
        return text
    return _ESCAPE.sub(_blank, text)


def _blank(escape: re.Match) -> str:
    sequence = escape.group()
    if sequence[1] not in "bfnrtu":
        return sequence
    return "\\" + " " * (len(sequence) - 1)


def _tokens(text: str, matches: list[Match]):
    """`(start, end, kind)` of the string literals and numbers of a valid document that may
    cover one of `matches` (in text order), in order; kind is "key", "string" or "number".

    A raw newline lies outside every token (a JSON string holds none), so the walk goes from
    the line a match starts on rather than from the start of the document."""
    pos, i, count, last = 0, 0, len(matches), matches[-1].end
    while i < count:
        line = text.rfind("\n", pos, matches[i].start)
        if line >= 0:
            pos = line + 1
        for m in _TOKEN.finditer(text, pos):
            if m.group("n") is not None:
                start, end = m.span("n")
                kind = "number"
            else:
                start, end = m.span("t")
                kind = "string" if m.group("key") is None else "key"
            if start >= last:
                return
            yield start, end, kind
            pos = end
            while i < count and matches[i].end <= end:
                i += 1
            if i < count and text.find("\n", end, matches[i].start) >= 0:
                break  # the next match is on a later line: go there
        else:
            return


def _object_keys(text: str) -> dict[int, set[str]]:
    """For each key literal (by its start), the literals of all keys of its object."""
    out: dict[int, set[str]] = {}
    stack: list[set[str] | None] = []
    expect_key = False
    for m in _SYNTAX.finditer(text):
        ch = text[m.start()]
        if ch == "{":
            stack.append(set())
            expect_key = True
        elif ch == "[":
            stack.append(None)
            expect_key = False
        elif ch in "}]":
            stack.pop()
        elif ch == ",":
            expect_key = stack[-1] is not None
        elif expect_key:
            stack[-1].add(m.group())
            out[m.start()] = stack[-1]
            expect_key = False
    return out


def _escape_bounds(literal: str, start: int, end: int) -> tuple[int, int]:
    """`start`, `end` (offsets in a literal's raw text) widened to whole escape sequences."""
    for e in _ESCAPE.finditer(literal):
        if e.start() < start < e.end():
            start = e.start()
        if e.start() < end < e.end():
            end = e.end()
        if e.start() >= end:
            break
    return start, end


def rewrite(text: str, matches: list[Match], replace: Callable[[Match, str], str]) -> str | None:
    """`text` with each match replaced by `replace(match, matched value)` inside the tokens it
    covers, or None when `text` is not a JSON document (the caller rewrites it as plain
    text)."""
    if len(text) > MAX_LENGTH or not matches:
        return None
    try:
        json.loads(text)
    except ValueError:
        return None
    matches = non_overlapping(matches)
    pieces: list[str] = []
    keys: list[tuple[int, int, str]] = []  # rewritten keys: index in pieces, start, old literal
    last = at = 0
    for start, end, kind in _tokens(text, matches):
        while at < len(matches) and matches[at].end <= start:
            at += 1
        i, covering = at, []
        while i < len(matches) and matches[i].start < end:
            covering.append(matches[i])
            i += 1
        if not covering:
            continue
        raw = text[start:end]
        new = (
            _number(raw, start, covering, replace)
            if kind == "number"
            else (_literal(raw, start, covering, replace))
        )
        if new == raw:
            continue
        pieces.append(text[last:start])
        if kind == "key":
            keys.append((len(pieces), start, raw))
        pieces.append(new)
        last = end
    pieces.append(text[last:])
    if keys:
        _unique_keys(text, pieces, keys)
    out = "".join(pieces)
    try:
        json.loads(out)
    except ValueError:  # not expected; the caller then rewrites the text as plain text
        return None
    return out


def _number(raw: str, start: int, matches: list[Match], replace) -> str:
    """A number holding a match becomes a string literal: the document stays valid."""
    value = raw
    for m in reversed(matches):
        lo, hi = max(m.start - start, 0), min(m.end - start, len(raw))
        value = value[:lo] + replace(m, raw[lo:hi]) + value[hi:]
    return json.dumps(value, ensure_ascii=False)


def _literal(raw: str, start: int, matches: list[Match], replace) -> str:
    body = raw[1:-1]
    pieces: list[str] = []
    last = 0
    for m in matches:
        lo, hi = max(m.start - start - 1, 0), min(m.end - start - 1, len(body))
        lo, hi = _escape_bounds(body, lo, hi)
        if lo < last or hi <= lo:
            continue
        value = json.loads(f'"{body[lo:hi]}"')
        pieces.append(body[last:lo])
        pieces.append(json.dumps(replace(m, value), ensure_ascii=False)[1:-1])
        last = hi
    pieces.append(body[last:])
    return '"' + "".join(pieces) + '"'


def _unique_keys(text: str, pieces: list[str], keys: list[tuple[int, int, str]]) -> None:
    """Suffix rewritten keys that now read like another key of their object (`#2`)."""
    siblings = _object_keys(text)
    for index, start, old in keys:
        taken = siblings[start]
        taken.discard(old)
        literal, unique, n = pieces[index], pieces[index], 1
        while unique in taken:
            n += 1
            unique = f"{literal[:-1]}#{n}" + '"'
        taken.add(unique)
        pieces[index] = unique
