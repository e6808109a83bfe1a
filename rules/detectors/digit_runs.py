"""Runs of digits, where phone numbers, cards, SSNs and IBANs are looked for, and the shapes a
multi-pattern scan finds them by.

A run is a stretch of digits and the separators `( ) . -` and space holding at least nine
digits (`RUN`). Most runs in tool results (a log line's id, status and duration) can hold no
personal data, which the PII detector tells from the run and its surroundings (`_judged`). A
multi-pattern scan reports only the runs that pass the cheap tests that judgement starts with
(`EXPRESSIONS`), and `candidate_runs` turns its reports back into runs for that judgement.
"""

from __future__ import annotations

import re

from rules.budget import check
from rules.prefilter import Expression

# A run of at least 9 digits (separators allowed). The lookaheads count the digits inside `re`,
# so a short run (a date, a time, a port) costs no Python at all; the first, eight characters a
# run can hold, turns away most digits (a hash's, a UUID's) before the count starts. Separators
# and digits are disjoint, so the possessive repeats find what plain ones would, without
# backtracking.
RUN = re.compile(r"[0-9](?=[0-9 ().-]{8})(?=(?:[ ().-]*+[0-9]){8})[0-9 ().-]*+")
_STRETCH = re.compile(r"[0-9 ().-]*")

# Tags: the match ends in a run, or just past it; the match ends past an IBAN's first letters
# and digits, with runs on either side of it.
IN_RUN, IBAN = "in_run", "iban"
# What every phone number, card and SSN holds, all of it inside its run: a "+" and a digit, a
# dash or dot and four digits at its end (an SSN, a phone number without a country code), or
# 13 digits (a card's start). Whether those 13 start after a word boundary is left to the
# judgement of the run: a leading class that nearly every character is in made this shape
# cost a third of the whole scan.
_NUMERIC = (
    r"\+[0-9]",
    r"[0-9][-.][0-9]{4}(?:[^0-9-]|\z)",
    r"[0-9](?:[ -]?[0-9]){12}",
)
# The head of an IBAN: country code, check digits, two groups of four.
_IBAN_HEAD = r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2}"


def expressions(numeric: bool, iban: bool) -> tuple[Expression, ...]:
    out = [Expression(shape, IN_RUN) for shape in _NUMERIC] if numeric else []
    if iban:
        out.append(Expression(_IBAN_HEAD, IBAN))
    return tuple(out)


def candidate_runs(text: str, found) -> list[tuple[int, int]]:
    """The spans `RUN` matches in the stretches of `text` the reports point at, in order."""
    spans: list[tuple[int, int]] = []
    for count, (lo, hi) in enumerate(stretches(text, found)):
        if not count & 255:
            check()
        spans.extend(m.span() for m in RUN.finditer(text, lo, hi))
    return spans


def stretches(text: str, found) -> list[tuple[int, int]]:
    """The places the reports point at, grown to whole runs' edges (so `RUN` finds there what
    it finds in all `text`), in order and apart: each character is widened over at most once.

    A long run is reported at nearly every digit; the reports are taken in order, and one that
    falls inside the stretch already widened is skipped, so the work is linear in the text."""
    size = len(text)
    places = sorted(
        (end - 1, end)
        if tag is IN_RUN
        # The IBAN starts 12 to 14 characters before `end`; a run is judged beside it when it
        # lies within 42 characters before the IBAN's start or 45 after its end.
        else (max(0, end - 46), min(size, end + 31))
        for tag, end in found
        if tag is IN_RUN or tag is IBAN
    )
    out: list[tuple[int, int]] = []
    reversed_text = None
    hi = -1
    for count, (lo, end) in enumerate(places):
        if not count & 255:
            check()
        if end <= hi:
            continue
        if lo <= hi:
            # It starts inside the last stretch, whose start is a run's: only its end grows.
            hi = _STRETCH.match(text, end).end()
            out[-1] = (out[-1][0], hi)
            continue
        # The run's start, found by one match on the reversed text, which is made once.
        if reversed_text is None:
            reversed_text = text[::-1]
        start = size - _STRETCH.match(reversed_text, size - lo).end()
        hi = _STRETCH.match(text, end).end()
        out.append((start, hi))
    return out
