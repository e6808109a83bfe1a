"""Patterns admins write (custom regexes, keywords, tool and argument globs), compiled for RE2.

Python's `re` backtracks: one pattern such as `^(a+)+$` on forty `a`s and a `!` takes hours and
holds the worker's event loop, so every tenant on it waits. RE2 runs in time linear in the text
for any pattern, which is why every pattern a rule takes from an admin is compiled here and
nowhere else. The price is RE2's syntax: no backreferences, no lookaround, no atomic groups or
possessive quantifiers; `compile_pattern` names the construct when it refuses one, so the admin
hears it when saving. (RE2 also releases the GIL while it matches, so a scan in a worker thread
leaves the event loop free.)
"""

from __future__ import annotations

import re

import re2

from rules.budget import check

# Not a character of Python's `\w` on str: letters, digits (any script) and the underscore.
NOT_WORD = r"[^\pL\pN_]"

# The constructs RE2 refuses, by how they start, most specific first.
_GROUPS = (
    ("(?<=", "a lookbehind"),
    ("(?<!", "a negative lookbehind"),
    ("(?=", "a lookahead"),
    ("(?!", "a negative lookahead"),
    ("(?>", "an atomic group"),
    ("(?P=", "a named backreference"),
    ("(?P>", "a recursive pattern"),
    ("(?(", "a conditional group"),
    ("(?#", "a comment group"),
)
MAX_GLOB = 200
_BACKREFERENCE = re.compile(r"\\[1-9]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class PatternError(ValueError):
    """A pattern RE2 cannot run; the message says why, to follow the name of the setting."""


def _options(ignore_case: bool) -> re2.Options:
    options = re2.Options()
    options.case_sensitive = not ignore_case
    # A refused pattern is the admin's mistake, answered to them; not worth a line on stderr.
    options.log_errors = False
    return options


def _explain(pattern: str, error: str) -> str:
    """A sentence naming what in `pattern` RE2 refused, from RE2's own error text."""
    problem, _, fragment = error.partition(": ")
    unsupported = "which rule patterns cannot use: they run on RE2, a linear-time engine"
    if problem == "invalid perl operator":
        # RE2 quotes only the first characters ("(?P"), so look at the pattern itself.
        at = pattern.find(fragment)
        while at >= 0:
            for start, construct in _GROUPS:
                if pattern.startswith(start, at):
                    return f"uses {construct}, {start}...), {unsupported}."
            at = pattern.find(fragment, at + 1)
        return f"uses the group or flag {fragment}, {unsupported}."
    if problem == "invalid escape sequence":
        if _BACKREFERENCE.fullmatch(fragment):
            return f"uses a backreference ({fragment}), {unsupported}."
        if fragment == r"\Z":
            return r"uses \Z; write \z for the end of the text."
    if problem == "bad repetition operator" and fragment.endswith("+"):
        return f"uses a possessive quantifier ({fragment}), {unsupported}."
    if problem == "invalid repetition size":
        return f"repeats more than 1000 times ({fragment}), {unsupported}."
    if problem == "pattern too large - compile failed":
        return "is too large to compile; make it shorter or simpler."
    return f"is not a valid regular expression: {error}."


def compile_pattern(pattern: str, *, ignore_case: bool = False, multiline: bool = False):
    """An admin's regular expression, compiled by RE2; raises `PatternError` naming the
    construct RE2 cannot run (backreferences, lookaround...)."""
    if multiline:
        pattern = f"(?m){pattern}"
    try:
        return re2.compile(pattern, _options(ignore_case))
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        error = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise PatternError(_explain(pattern, error)) from None


def matchable(text: str) -> str:
    """`text` as RE2 can take it. JSON may carry a lone surrogate, which has no UTF-8 form;
    it becomes U+FFFD, one character for one, so spans found are spans of `text`."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def spans(regex, text: str):
    """`(start, end)` of each non-empty match of `regex` in `text`, in characters.

    The text is matched as UTF-8 bytes encoded once: the re2 module's own str path costs
    several times as much per match. Dense matches make a long loop, so it checks the call's
    budget as it goes."""
    data = matchable(text).encode()
    same = len(data) == len(text)  # ASCII: byte offsets are character offsets
    chars = seen = 0
    for i, m in enumerate(regex.finditer(data)):
        if not i & 255:
            check()
        start, end = m.span()
        if start == end:
            continue  # found nothing; and after one, the search may stand inside a character
        if same:
            yield start, end
            continue
        chars += len(data[seen:start].decode())
        first = chars
        chars += len(data[start:end].decode())
        seen = end
        yield first, chars


def glob_expression(glob: str) -> str:
    """The RE2 expression of a shell-style glob, as `fnmatch.fnmatchcase` reads it: `*` any
    text, `?` one character, `[seq]` and `[!seq]` a class. (`fnmatch.translate` emits atomic
    groups, which RE2 does not run.)"""
    out, i, n = [], 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i + (1 if i < n and glob[i] == "!" else 0)
            j += 1 if j < n and glob[j] == "]" else 0
            j = glob.find("]", j)
            if j < 0:
                out.append(re.escape(c))
                continue
            out.append(_glob_class(glob[i:j]))
            i = j + 1
        else:
            out.append(re.escape(c))
    return "".join(out)


def _glob_class(body: str) -> str:
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    parts, k = [], 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            low, high = body[k], body[k + 2]
            if low <= high:  # fnmatch drops a reversed range
                parts.append(f"{re.escape(low)}-{re.escape(high)}")
            k += 3
        else:
            parts.append(re.escape(body[k]))
            k += 1
    if not parts:
        # `[!]`-style leftovers: nothing in the class, so it matches nothing (or anything).
        return "." if negate else r"[^\x00-\x{10FFFF}]"
    return f"[{'^' if negate else ''}{''.join(parts)}]"


def compile_globs(globs, *, ignore_case: bool = False):
    """One RE2 expression for a list of globs, whose `match` is a match of the whole text
    (as `fnmatch.translate`'s is); None for no globs."""
    if not globs:
        return None
    # Tool names are short; a longer glob only makes the expression slow to build.
    if any(len(g) > MAX_GLOB for g in globs):
        raise PatternError(f"holds a glob longer than {MAX_GLOB} characters.")
    expression = "|".join(f"(?s:{glob_expression(g)})" for g in globs)
    return compile_pattern(f"(?:{expression})\\z", ignore_case=ignore_case)
