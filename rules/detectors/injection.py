"""Prompt-injection phrases: text in a tool result that tries to instruct the model.

The phrases are the common shapes of the attack (overriding earlier instructions, claiming a new
role or a system prompt, hiding orders from the user, chat-template control tokens, asking for
credentials to be sent somewhere); admins can add their own. Meant for responses, where an
upstream's content reaches the model. Each phrase is gated by the literal words it must
contain, so a string without any of them costs one pass of `HintIndex`.
"""

from __future__ import annotations

import re

from core.injection_phrases import PHRASES
from rules.detectors.base import Detector, Match, non_overlapping
from rules.detectors.hints import HintIndex
from rules.prefilter import CASELESS, Expression
from rules.setting_fields import STRINGS, Setting


class InjectionDetector(Detector):
    key = "injection"
    label = "Prompt-injection phrases"
    settings = (
        Setting(
            "extra_phrases",
            "Extra phrases",
            STRINGS,
            help="Your own phrases, one per line, besides the built-in ones.",
            default=[],
            max_length=200,
        ),
    )

    def __init__(self, config):
        super().__init__(config)
        phrases = list(PHRASES)
        for phrase in config.get("extra_phrases") or ():
            words = phrase.lower().split()
            phrases.append(((words[0],), r"\s+".join(re.escape(w) for w in words), (words[0],)))
        self._index = HintIndex(
            (anchor, i) for i, (anchors, _, _) in enumerate(phrases) for anchor in anchors
        )
        self._leads = HintIndex(
            (lead, i) for i, (_, _, leads) in enumerate(phrases) for lead in leads
        )
        self._leading = [bool(leads) for _, _, leads in phrases]
        self._regexes = [re.compile(expression) for _, expression, _ in phrases]
        self._folded = [re.compile(expression, re.IGNORECASE) for _, expression, _ in phrases]
        # Every phrase whole, for a multi-pattern scan: a string can hold a match only where
        # one of them ends.
        self._expressions = tuple(
            Expression(expression, i, CASELESS) for i, (_, expression, _) in enumerate(phrases)
        )

    def expressions(self):
        return self._expressions

    def located(self, text, found):
        return sorted({end - 1 for _tag, end in found})

    def locate(self, text, lowered):
        # Hint offsets in `lowered` are those of `text` unless lower-casing changed a length.
        return self._index.starts(lowered) if len(lowered) == len(text) else None

    def find(self, text, key=None):
        if len(text) < 8:
            return []
        lowered = text.lower()
        hits = self._index.targets(lowered)
        if not hits:
            return []
        # Lower-casing keeps offsets for nearly all text; where it does not, match the original.
        same = len(lowered) == len(text)
        leads = None
        out = []
        for i in sorted(hits):
            if same and self._leading[i]:
                if leads is None:
                    leads = self._leads.positions(lowered)
                found = _at_anchors(self._regexes[i], lowered, leads.get(i, ()))
            else:
                regex = self._regexes[i] if same else self._folded[i]
                found = regex.finditer(lowered if same else text)
            out.extend(Match("prompt_injection", *m.span()) for m in found)
        return non_overlapping(out)


def _at_anchors(regex: re.Pattern, text: str, anchors: list[int]):
    """What `regex.finditer(text)` finds, trying only at these offsets (where every match of
    the expression starts): a match still hides any that would start inside it."""
    end = 0
    for at in sorted(set(anchors)):
        if at < end:
            continue
        m = regex.match(text, at)
        if m is not None:
            end = m.end()
            yield m
