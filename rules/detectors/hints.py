"""Literal hints found in one pass: the gate in front of the expensive expressions.

Most strings a gateway carries hold no secret and no injection phrase. Before any regular
expression runs, one Aho-Corasick pass over the lower-cased string (all hints at once) tells
which hints occur; only the expressions behind those hints run.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick_rs

# Up to this many hints, `str.find` for each costs less than one pass of the automaton (whose
# every call also converts the string for Rust).
FEW = 8


class HintIndex:
    """Maps lower-case literal hints to the things (kinds, phrases) they gate."""

    def __init__(self, pairs: Iterable[tuple[str, object]], *, by_find: bool = False):
        self._targets: list[list[object]] = []
        positions: dict[str, int] = {}
        for hint, target in pairs:
            hint = hint.lower()
            if hint not in positions:
                positions[hint] = len(self._targets)
                self._targets.append([])
            self._targets[positions[hint]].append(target)
        self._hints = list(positions)
        # With `by_find`, few hints are looked for one by one, with no automaton to build.
        few = by_find and len(positions) <= FEW
        self._few = tuple(zip(self._hints, self._targets, strict=True)) if few else None
        if few:
            self._automaton = None
            return
        # A DFA costs more memory and build time than the default NFA, built once per compiled
        # rule, and scans several times faster, on every string of every call.
        self._automaton = (
            ahocorasick_rs.AhoCorasick(
                list(positions), implementation=ahocorasick_rs.Implementation.DFA
            )
            if positions
            else None
        )

    def __bool__(self):
        return bool(self._hints)

    def narrowed(self, keep) -> HintIndex:
        """The index of the targets `keep(target)` is true of, under their hints; built for
        a few calls, so with few hints it has no automaton."""
        return HintIndex(
            (
                (hint, target)
                for hint, targets in zip(self._hints, self._targets, strict=True)
                for target in targets
                if keep(target)
            ),
            by_find=True,
        )

    def starts(self, lowered: str) -> list[int]:
        """The offsets where a hint starts in `lowered`."""
        if self._few is not None:
            found = _found_one_by_one(self._few, lowered)
            return sorted(at for ats in found.values() for at in ats)
        if self._automaton is None:
            return []
        found = self._automaton.find_matches_as_indexes(lowered, overlapping=True)
        return [start for _i, start, _end in found]

    def positions(self, lowered: str) -> dict:
        """Every target whose hint occurs in `lowered`, with the offsets where its hints start."""
        if self._few is not None:
            return _found_one_by_one(self._few, lowered)
        if self._automaton is None:
            return {}
        out: dict = {}
        for i, start, _end in self._automaton.find_matches_as_indexes(lowered, overlapping=True):
            for target in self._targets[i]:
                out.setdefault(target, []).append(start)
        return out

    def targets(self, lowered: str) -> set:
        """Every target whose hint occurs in `lowered` (a lower-cased string)."""
        if self._few is not None:
            return set(_found_one_by_one(self._few, lowered))
        if self._automaton is None:
            return set()
        hits = {
            i for i, _s, _e in self._automaton.find_matches_as_indexes(lowered, overlapping=True)
        }
        out: set = set()
        for i in hits:
            out.update(self._targets[i])
        return out


def _found_one_by_one(hints, lowered: str) -> dict:
    # What the automaton reports (overlapping occurrences too), by `str.find`.
    out: dict = {}
    for hint, targets in hints:
        at = lowered.find(hint)
        while at != -1:
            for target in targets:
                out.setdefault(target, []).append(at)
            at = lowered.find(hint, at + 1)
    return out
