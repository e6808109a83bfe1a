"""Literal hints found in one pass: the gate in front of the expensive expressions.

Most strings a gateway carries hold no secret and no injection phrase. Before any regular
expression runs, one Aho-Corasick pass over the lower-cased string (all hints at once) tells
which hints occur; only the expressions behind those hints run.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick_rs


class HintIndex:
    """Maps lower-case literal hints to the things (kinds, phrases) they gate."""

    def __init__(self, pairs: Iterable[tuple[str, object]]):
        self._targets: list[list[object]] = []
        positions: dict[str, int] = {}
        for hint, target in pairs:
            hint = hint.lower()
            if hint not in positions:
                positions[hint] = len(self._targets)
                self._targets.append([])
            self._targets[positions[hint]].append(target)
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
        return self._automaton is not None

    def starts(self, lowered: str) -> list[int]:
        """The offsets where a hint starts in `lowered`."""
        if self._automaton is None:
            return []
        found = self._automaton.find_matches_as_indexes(lowered, overlapping=True)
        return [start for _i, start, _end in found]

    def positions(self, lowered: str) -> dict:
        """Every target whose hint occurs in `lowered`, with the offsets where its hints start."""
        if self._automaton is None:
            return {}
        out: dict = {}
        for i, start, _end in self._automaton.find_matches_as_indexes(lowered, overlapping=True):
            for target in self._targets[i]:
                out.setdefault(target, []).append(start)
        return out

    def targets(self, lowered: str) -> set:
        """Every target whose hint occurs in `lowered` (a lower-cased string)."""
        if self._automaton is None:
            return set()
        hits = {
            i for i, _s, _e in self._automaton.find_matches_as_indexes(lowered, overlapping=True)
        }
        out: set = set()
        for i in hits:
            out.update(self._targets[i])
        return out
