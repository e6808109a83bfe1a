"""Secrets: credentials of well-known services, private keys, JWTs and password assignments.

The catalogue lives in `secret_kinds`. A scan first tests each kind's literal hints (plain
substring searches, which cost far less than a regular expression), then runs only the
expressions whose hint occurred. A string that sits under a telling key of structured JSON
(`{"password": "..."}`) is also scanned as `key=value`, so context-bound kinds see their context.
An AWS secret key with no name of its own is found beside the access key id it pairs with, in
text (a credentials CSV row) and in structured data (a list, an object: `find_beside`).
"""

from __future__ import annotations

import re

from rules.detectors.base import Detector, Match, check_settings, non_overlapping
from rules.detectors.hints import HintIndex
from rules.detectors.secret_kinds import (
    AWS_KEY_ID,
    BY_KIND,
    FAMILIES,
    KINDS,
    MIXED_CASE_40,
    SecretKind,
)
from rules.prefilter import APPROXIMATE, Expression, head
from rules.setting_fields import MULTI_CHOICE, Setting

# Families first, then each kind: the values `kinds` and `exclude` take.
_CHOICES = tuple((f, f"{f} (family)") for f in sorted(FAMILIES)) + tuple(
    (k, k) for k in sorted(BY_KIND) if k not in FAMILIES
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_.]*(?:\(\)?)?")
_PLACEHOLDER_START = ("${", "{{", "<", "%", "(", "*")
# Keys whose value is scanned as `key=value` (lower-cased substrings).
_KEY_HINTS = ("pass", "pwd", "secret", "key", "token", "auth", "credential")
_CONTEXTUAL = frozenset(k.kind for k in KINDS if "(?P<s>" in k.pattern)
# Vendors' documentation marks its sample keys (AWS: AKIAIOSFODNN7EXAMPLE); they are inert.
_DOCUMENTED_EXAMPLE = ("EXAMPLE", "EXAMPLEKEY")
# The shortest value any kind can match; shorter strings are not scanned at all.
MIN_LENGTH = 10
# In the joined text of a payload (one value a line, `key=` before a mapping's value): a value
# that is an access key id, then a value (after its key, if any) that is exactly a secret key.
_PAIR_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA")
_PAIR_BEFORE = re.compile(r"[^A-Za-z0-9_]")
_PAIR_START = re.compile("|".join(_PAIR_PREFIXES))
# How many sets of kinds keep their own hint index (`_index_of`); past that, the kept are
# dropped and built again as they come.
_NARROWED_KEPT = 256
# The tag of a key id prefix in a multi-pattern scan (a kind's expression has its kind's name).
_PAIR_TAG = " pair"
_PAIR = re.compile(
    rf"{AWS_KEY_ID}\n(?:[^\n=]{{1,64}}\n)?(?:[^\n=]{{1,64}}=)?"
    rf"{MIXED_CASE_40}(?P<s>[A-Za-z0-9/+]{{40}})(?=\n|\Z)"
)


def _real_value(kind: str, value: str, quoted: bool) -> bool:
    """Refuse placeholders and code references where only the context said "secret"."""
    if len(set(value)) < 4 or value.startswith(_PLACEHOLDER_START):
        return False
    # An unquoted bare name after "password=" is code (`password=self.password`, or a call
    # such as `os.environ.get(...)`), not a value.
    return not (kind == "password_assignment" and not quoted and _IDENTIFIER.fullmatch(value))


class _Compiled:
    __slots__ = ("kind", "regex", "contextual", "position", "hints", "before", "after", "starts")

    def __init__(self, spec: SecretKind, position: int):
        self.kind = spec.kind
        self.regex = spec.compile()
        self.contextual = "(?P<s>" in spec.pattern
        self.position = position
        # Hints are matched case-insensitively; the expression then decides on the exact text.
        self.hints = spec.hints
        # How far before and after a hint a match may start and end.
        self.before = spec.before
        self.after = spec.after
        self.starts = spec.starts


class SecretsDetector(Detector):
    key = "secrets"
    label = "Secrets and credentials"
    settings = (
        Setting(
            "kinds",
            "Secret kinds or families",
            MULTI_CHOICE,
            help="Only these (a family such as github covers its kinds). None chosen: all.",
            default=[],
            choices=_CHOICES,
        ),
        Setting(
            "exclude",
            "Excluded kinds or families",
            MULTI_CHOICE,
            help="Never these, even when chosen above.",
            default=[],
            choices=_CHOICES,
        ),
    )

    @classmethod
    def clean_config(cls, config):
        config = check_settings(cls.settings, config)
        return {key: sorted(set(names)) for key, names in config.items()}

    def __init__(self, config):
        super().__init__(config)
        wanted = set(config.get("kinds") or ())
        excluded = set(config.get("exclude") or ())
        specs = [
            spec
            for spec in KINDS
            if (not wanted or spec.kind in wanted or spec.family in wanted)
            and spec.kind not in excluded
            and spec.family not in excluded
        ]
        self.kinds = tuple(spec.kind for spec in specs)
        self._pairs = "aws_secret_access_key" in self.kinds
        compiled = [_Compiled(spec, i) for i, spec in enumerate(specs)]
        self._index = HintIndex((hint, c) for c in compiled for hint in c.hints)
        # The index of the kinds a payload's multi-pattern scan left (`narrowing`), by kinds.
        self._narrowed: dict[frozenset, HintIndex] = {}
        # For a multi-pattern scan: every kind's expression (lookarounds and back-references
        # made looser, so it finds a superset), and the key id prefixes `find_beside` starts at.
        self._expressions = tuple(
            Expression(head(spec.pattern), spec.kind, APPROXIMATE) for spec in specs
        ) + (tuple(Expression(p, _PAIR_TAG) for p in _PAIR_PREFIXES) if self._pairs else ())

    def locate(self, text, lowered):
        # Hint offsets in `lowered` are those of `text` unless lower-casing changed a length.
        return self._index.starts(lowered) if len(lowered) == len(text) else None

    def expressions(self):
        return self._expressions

    def located(self, text, found):
        # A string holds a match only where some kind's looser expression ends; a pair starts
        # at a key id prefix (four letters).
        return sorted({end - 4 if tag == _PAIR_TAG else end - 1 for tag, end in found})

    def find_beside(self, text, offsets):
        if not self._pairs or (offsets is not None and not offsets):
            return []
        if offsets is None:
            offsets = [m.start() for m in _PAIR_START.finditer(text)]
        out = []
        # The key id prefixes are hints of this detector: `locate` gave where each starts.
        for at in offsets:
            if not text.startswith(_PAIR_PREFIXES, at):
                continue
            # The id starts its value, or follows what cannot be part of a token.
            m = _PAIR.match(text, at) if at == 0 or _PAIR_BEFORE.match(text[at - 1]) else None
            if m is not None and not m.group("s").endswith(_DOCUMENTED_EXAMPLE):
                out.append(Match("aws_secret_access_key", *m.span("s")))
        return out

    def narrowing(self, found):
        # Only the kinds whose expressions matched in the payload can match in its strings.
        return frozenset(tag for tag, _end in found)

    def find_near(self, text, key, offsets, narrowing=None):
        return self.find(text, key, narrowing)

    def find(self, text: str, key: str | None = None, kinds=None) -> list[Match]:
        """Every secret in `text` (and in `key=text` under a telling key); with `kinds`, of
        those kinds only (the others are known not to occur)."""
        matches = self._scan(text, 0, kinds) if len(text) >= MIN_LENGTH else []
        if key and len(text) >= 6:
            lowered = key.lower()
            if any(h in lowered for h in _KEY_HINTS):
                # Scan `key=value` and keep what falls inside the value.
                offset = len(key) + 1
                for m in self._scan(f"{key}={text}", -offset, kinds):
                    if m.start == 0 and m.kind in _CONTEXTUAL:
                        # The field's whole value is the secret, whatever characters it has.
                        matches.append(Match(m.kind, 0, len(text)))
                    elif m.start >= 0:
                        matches.append(m)
        return non_overlapping(matches)

    def _index_of(self, kinds: frozenset) -> HintIndex:
        """The hints of these kinds only: a payload's scan leaves a few kinds, whose hints are
        found for less than all the others' (built once per set of kinds, and kept)."""
        index = self._narrowed.get(kinds)
        if index is None:
            index = self._index.narrowed(lambda compiled: compiled.kind in kinds)
            _no_more_than(self._narrowed, _NARROWED_KEPT)[kinds] = index
        return index

    def _scan(self, text: str, shift: int, kinds=None) -> list[Match]:
        lowered = text.lower()
        hits = (self._index if kinds is None else self._index_of(kinds)).positions(lowered)
        if not hits:
            return []
        # Offsets in the lower-cased text are those of `text` unless lower-casing changed a
        # length (a few non-ASCII letters); then each expression scans the whole string.
        exact = len(lowered) == len(text)
        # Case-insensitive expressions also match a few non-ASCII letters no hint stands for;
        # only in ASCII text are a kind's `starts` the only places its matches can start.
        anchored = exact and text.isascii()
        size = len(text)
        out: list[Match] = []
        for compiled in sorted(hits, key=lambda c: c.position):
            if kinds is not None and compiled.kind not in kinds:
                continue
            if not exact:
                found = compiled.regex.finditer(text)
            elif anchored and compiled.starts:
                found = _anchored(text, hits[compiled], compiled, size)
            else:
                found = (
                    m
                    for lo, hi in _windows(hits[compiled], compiled, size)
                    for m in compiled.regex.finditer(text, lo, hi)
                )
            for m in found:
                if compiled.contextual and m.group("s") is not None:
                    start, end = m.span("s")
                    quoted = start > 0 and text[start - 1] in "\"'"
                    if not _real_value(compiled.kind, m.group("s"), quoted):
                        continue
                else:
                    start, end = m.span()
                if text.endswith(_DOCUMENTED_EXAMPLE, start, end):
                    continue
                if end > start:
                    out.append(Match(compiled.kind, start + shift, end + shift))
        return out


def _no_more_than(cache: dict, size: int) -> dict:
    if len(cache) >= size:
        cache.clear()
    return cache


def _windows(starts: list[int], compiled: _Compiled, size: int) -> list[tuple[int, int]]:
    """The stretches of text around each hint where a match of the kind can lie, merged."""
    windows: list[tuple[int, int]] = []
    for start in sorted(starts):
        lo, hi = max(0, start - compiled.before), min(size, start + compiled.after)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
        else:
            windows.append((lo, hi))
    return windows


def _anchored(text: str, hints: list[int], compiled: _Compiled, size: int):
    """What `finditer` would find in the kind's windows, trying the expression only where a
    match can start (a window's end still bounds it, and a match still hides any that would
    start inside it)."""
    windows = _windows(hints, compiled, size)
    regex, window, end = compiled.regex, 0, 0
    for at in sorted({h - d for h in hints for d in compiled.starts if h >= d}):
        if at < end:
            continue
        while at >= windows[window][1]:
            window += 1
        m = regex.match(text, at, windows[window][1])
        if m is not None:
            end = m.end()
            yield m
