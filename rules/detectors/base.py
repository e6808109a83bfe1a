"""The one base every detector builds on, and the shapes they report.

A detector is built once per compiled rule from its validated config. Text detectors answer
`find(text)` for every string of a payload; call detectors answer `inspect(call)` once per call.
A match carries a kind and where it is, never the matched value, so nothing a detector returns
can leak a secret into the audit log.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

from rules.errors import InvalidRule
from rules.prefilter import Expression
from rules.setting_fields import Setting, clean_settings

TEXT_ACTIONS = frozenset({"block", "redact", "replace", "mask", "hash", "flag"})
CALL_ACTIONS = frozenset({"block", "flag"})


@dataclass(frozen=True, slots=True)
class Match:
    """One finding: a kind, and a span of a string (text detectors) or a path (call detectors)."""

    kind: str
    start: int = 0
    end: int = 0
    path: str = ""


@dataclass(frozen=True)
class Call:
    """What a call detector sees of one call."""

    direction: str
    method: str
    tool_name: str | None
    server_name: str | None
    payload: Any


class Detector:
    """Base of every detector. Subclasses set `key`, `label` and the actions they support."""

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    #: "text": `find()` runs on every string; "call": `inspect()` runs once per call.
    scope: ClassVar[str] = "text"
    actions: ClassVar[frozenset[str]] = TEXT_ACTIONS
    #: Set on detectors that must be awaited (`consult`), which the engine runs last-minute.
    is_async: ClassVar[bool] = False
    #: An external rule engine: configuring one also needs `integrations.manage`.
    external: ClassVar[bool] = False
    #: The settings it takes, as the console's typed fields show them and `clean_config` checks.
    settings: ClassVar[tuple[Setting, ...]] = ()

    def __init__(self, config: dict):
        self.config = config

    @classmethod
    def clean_config(cls, config: dict) -> dict:
        """Validate and normalise a config; raise `InvalidRule` naming the bad setting."""
        return check_settings(cls.settings, config)

    def locate(self, text: str, lowered: str) -> Collection[int] | None:
        """Where in a payload could `find` match?

        `text` joins every string of the payload (as `key=value` under a mapping key) with
        newlines; `lowered` is it lower-cased. The answer is offsets in `text` such that every
        string `find` can match in has one inside its part (so an empty answer skips the payload
        in one step, and `find` runs only on the strings that hold an offset), or None when the
        detector cannot tell: then `find` runs on every string."""
        return None

    def expressions(self) -> tuple[Expression, ...] | None:
        """What `locate` looks for, as expressions a multi-pattern engine scans for all rules
        at once (`rules/prefilter.py`), or None when this detector cannot say."""
        return None

    def located(self, text: str, found: list[tuple[object, int]]) -> Collection[int] | None:
        """`locate`, told the `(tag, end)` of every match of `expressions()` in `text` (ASCII
        text only). It may answer other offsets than `locate` would, as long as `find_near`
        finds the same in the strings either answer points at. Told no match, it answers no
        offsets (and `find_beside` finds nothing): the engine then does not call it at all."""
        raise NotImplementedError

    def narrowing(self, found: list[tuple[object, int]]) -> object:
        """What else those matches tell `find_near` for this payload (say, which of its
        expressions can match at all); None: nothing."""
        return None

    def find(self, text: str, key: str | None = None) -> list[Match]:
        raise NotImplementedError

    def find_near(
        self, text: str, key: str | None, offsets: list[int], narrowing: object = None
    ) -> list[Match]:
        """`find`, told the offsets `locate` gave inside this string (sorted, relative to
        `text`; negative inside a mapping key), and the payload's `narrowing`. A detector whose
        `locate` already judged each candidate can look at those places only instead of
        scanning the string again."""
        return self.find(text, key)

    def find_beside(self, text: str, offsets: Collection[int] | None) -> list[Match]:
        """Matches that only a value's neighbours reveal (a secret beside the id it pairs
        with, in a list or an object), as spans of the joined `text` `locate` saw (told its
        answer), each lying within one value. Most detectors judge each value alone."""
        return []

    def inspect(self, call: Call) -> list[Match]:
        raise NotImplementedError


def non_overlapping(matches: list[Match]) -> list[Match]:
    """Matches in text order; of two that overlap, the earlier (then the longer) is kept."""
    if len(matches) < 2:
        return matches
    ordered = sorted(matches, key=lambda m: (m.start, m.start - m.end))
    out: list[Match] = []
    end = -1
    for m in ordered:
        if m.start >= end:
            out.append(m)
            end = m.end
    return out


# -- Config checking shared by the detectors ----------------------------------------------------


def fail(message: str, setting: str | None = None) -> InvalidRule:
    return InvalidRule(message, field="detector_config", setting=setting)


def check_settings(settings: tuple[Setting, ...], config: Any) -> dict:
    """Refuse a non-mapping or unknown keys, check each declared setting, fill defaults."""
    return clean_settings(settings, config, field="detector_config", owner="detector")
