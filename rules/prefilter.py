"""One multi-pattern scan of a payload's text for every text rule of a rule set.

Each text detector can name what its `locate` looks for as expressions (`Expression`): its
secret formats, its phrases, the shapes of personal data. A rule set compiles the expressions of
all its rules into one Hyperscan (Vectorscan) database, scans the joined text of a payload once,
and hands each detector the ends of its expressions' matches (`Detector.located`), which it turns
into offsets that lead `find_near` to what `locate`'s would. The exact work (the expressions
themselves, checksums, context, decoys) runs as before, on the strings flagged.

Hyperscan and Python's `re` agree on ASCII text: outside it (case folding, Unicode classes) and
where `\\s` differs (Python counts the separators U+001C to U+001F as white space), a payload is
located the reference way. Without the `hyperscan` package (a platform with no wheel), every
payload is; the choice is made once, here, at import.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from rules.budget import Exhausted, check, overrun

try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    hyperscan = None

logger = logging.getLogger(__name__)

AVAILABLE = hyperscan is not None
ENGINE = "hyperscan" if AVAILABLE else "python"

CASELESS = 1
#: A superset of the expression's matches (lookarounds, back-references): only its ends count.
APPROXIMATE = 2


@dataclass(frozen=True, slots=True)
class Expression:
    """An expression a detector's `located` wants the ends of, under its own `tag`."""

    pattern: str
    tag: object
    flags: int = 0


# Where `\s` or case folding differ between the engines, the text is located the reference way.
_UNSAFE = r"[\x1c-\x1f]"


@lru_cache(maxsize=32)
def _database(patterns: tuple[tuple[str, int], ...]):
    """One compiled database per set of expressions: rule sets alike share it."""
    flags = []
    for _pattern, flag in patterns:
        value = 0
        if flag & CASELESS:
            value |= hyperscan.HS_FLAG_CASELESS
        if flag & APPROXIMATE:
            value |= hyperscan.HS_FLAG_PREFILTER
        flags.append(value)
    database = hyperscan.Database()
    database.compile(
        expressions=[p.encode() for p, _ in patterns],
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=flags,
    )
    return database


# Matches one scan keeps before it gives the text to the reference way (whose loops check the
# budget): a text dense with matches ("@" * 10**7) would otherwise fill memory with them.
MAX_MATCHES = 1 << 18


def _on_match(index, _start, end, _flags, found):
    found.append((index, end))
    # Returning true stops the scan: past the budget, or with as many matches as it may keep.
    if not len(found) & 4095:
        return len(found) >= MAX_MATCHES or overrun()
    return False


class Prefilter:
    """The expressions of a rule set's text detectors in one database.

    `scan(text)` gives, for each detector it covers (by position in `detectors`), the
    `(tag, end)` of every match, or None when the text must be located the reference way."""

    def __init__(self, detectors):
        self._owners: list[tuple[int, object]] = []
        patterns: list[tuple[str, int]] = [(_UNSAFE, 0)]
        self.covered: frozenset[int] = frozenset()
        self._database = None
        if not AVAILABLE:
            return
        wanted = [(slot, d.expressions()) for slot, d in enumerate(detectors)]
        wanted = [(slot, expressions) for slot, expressions in wanted if expressions is not None]
        try:
            self._build(wanted, patterns)
        except Exception:  # noqa: BLE001 - find the detector whose expressions do not compile
            kept = []
            for slot, expressions in wanted:
                try:
                    _database(tuple((e.pattern, e.flags) for e in expressions))
                    kept.append((slot, expressions))
                except Exception as exc:  # noqa: BLE001 - it is located the reference way
                    logger.warning("%s: no multi-pattern scan (%s)", detectors[slot].key, exc)
            self._owners = []
            self._build(kept, [(_UNSAFE, 0)])
        self._slots = len(detectors)
        self._local = threading.local()

    def _build(self, wanted, patterns: list[tuple[str, int]]) -> None:
        for slot, expressions in wanted:
            patterns.extend((e.pattern, e.flags) for e in expressions)
            self._owners.extend((slot, e.tag) for e in expressions)
        if wanted:
            self._database = _database(tuple(patterns))
            self.covered = frozenset(slot for slot, _ in wanted)

    def __bool__(self):
        return self._database is not None

    def scan(self, text: str) -> list[list[tuple[object, int]]] | None:
        if self._database is None or not text.isascii():
            return None
        # A scratch space serves one scan at a time: one per thread (scans run in a pool too).
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._database)
        found: list[tuple[int, int]] = []
        try:
            self._database.scan(
                text.encode(), match_event_handler=_on_match, context=found, scratch=scratch
            )
        except hyperscan.ScanTerminated:
            if overrun():
                raise Exhausted from None
            return None
        out: list[list[tuple[object, int]]] = [[] for _ in range(self._slots)]
        owners = self._owners
        for count, (index, end) in enumerate(found):
            if not count & 1023:
                check()
            if index == 0:
                return None
            slot, tag = owners[index - 1]
            out[slot].append((tag, end))
        return out


# -- Heads of expressions ------------------------------------------------------------------------

_LONG = 64
_LOOKS = ("(?=", "(?!", "(?<=", "(?<!", "(?P=")
_OPENING = re.compile(r"\((?:\?P<\w+>|\?:|\?[aiLmsux]+:)?")
_QUANTIFIER = re.compile(r"(?:([*+?])|\{(\d*)(,?)(\d*)\})([?+]?)")


def head(pattern: str) -> str:
    """The part of `pattern` every match starts with, cut after the last element a match must
    hold, that element repeated the least it may be: `sk-[a-z]{12,}(?![a-z])` gives
    `sk-[a-z]{12}`. A text holds a match of `head` wherever it holds one of `pattern`, ending
    inside it, and a scan reports it once, not once for each character the tail could take."""
    atoms = _head_atoms(pattern)
    return "".join(t + q for t, q, _, _ in atoms) if atoms else pattern


def _head_atoms(pattern: str) -> list[tuple[str, str, int, float]] | None:
    alternatives = _alternatives(pattern)
    if len(alternatives) > 1:
        return None
    atoms = alternatives[0]
    # Long counted repeats make a database large and slow to build: the head stops after one
    # (cut to the least it must repeat, at most `_LONG` times, below), or before one that may
    # be left out.
    for i, (_text, _quantifier, least, most) in enumerate(atoms):
        if least > _LONG or (least and _LONG < most < math.inf):
            del atoms[i + 1 :]
            break
        if _LONG < most < math.inf:
            del atoms[i:]
            break
    while atoms:
        while atoms and _may_be_empty(atoms[-1]):
            atoms.pop()
        if not atoms:
            break
        text, quantifier, least, most = atoms[-1]
        if quantifier and (most != least or least > _LONG):
            # A match holds the element at least `least` times, so it holds it `_LONG` times.
            least = min(least, _LONG)
            quantifier = "" if least == 1 else f"{{{least}}}"
        if text.startswith("(") and not quantifier:
            opening = _OPENING.match(text).group()
            inner = _head_atoms(text[len(opening) : -1])
            if inner is not None:
                if not inner:
                    atoms.pop()
                    continue
                flags = opening if opening[2:3] in tuple("aiLmsux") else "(?:"
                text = flags + "".join(t + q for t, q, _, _ in inner) + ")"
        atoms[-1] = (text, quantifier, least, most)
        break
    return atoms


def _may_be_empty(atom) -> bool:
    """Whether an element can match nothing: a lookaround, a back-reference, a repeat that may
    be taken no times, a group one of whose alternatives can."""
    text, _quantifier, least, _most = atom
    if least == 0 or text.startswith(_LOOKS):
        return True
    if not text.startswith("("):
        return False
    opening = _OPENING.match(text).group()
    inner = _alternatives(text[len(opening) : -1])
    return any(all(_may_be_empty(a) for a in atoms) for atoms in inner)


def _alternatives(pattern: str) -> list[list[tuple[str, str, int, float]]]:
    """The top-level alternatives of `pattern`, each as its elements, each element with its
    repeat and its least and most counts."""
    alternatives: list[list[tuple[str, str, int, float]]] = [[]]
    atoms = alternatives[0]
    i, size = 0, len(pattern)
    while i < size:
        ch = pattern[i]
        if ch == "|":
            atoms = []
            alternatives.append(atoms)
            i += 1
            continue
        if ch == "\\":
            end = i + (4 if pattern[i + 1] == "x" else 2)
        elif ch == "[":
            end = _class_end(pattern, i)
        elif ch == "(":
            end, depth = i, 0
            while True:
                c = pattern[end]
                if c == "\\":
                    end += 2
                    continue
                if c == "[":
                    end = _class_end(pattern, end)
                    continue
                depth += c == "("
                depth -= c == ")"
                end += 1
                if depth == 0:
                    break
        else:
            end = i + 1
        m = _QUANTIFIER.match(pattern, end)
        if m is None or (m.group(2) == "" and m.group(1) is None):
            atoms.append((pattern[i:end], "", 1, 1))
            i = end
            continue
        if m.group(1):
            least, most = {"*": (0, math.inf), "+": (1, math.inf), "?": (0, 1)}[m.group(1)]
        else:
            least = int(m.group(2))
            most = math.inf if m.group(3) and not m.group(4) else int(m.group(4) or least)
        atoms.append((pattern[i:end], m.group(), least, most))
        i = m.end()
    return alternatives


def _class_end(pattern: str, i: int) -> int:
    """Where the character class opening at `i` ends (past its "]")."""
    j = i + 1
    if pattern[j] == "^":
        j += 1
    if pattern[j] == "]":
        j += 1
    while pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1
