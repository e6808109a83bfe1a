"""A custom regular expression, reported under a kind the admin names.

The pattern is an admin's, so it runs on RE2 (rules/patterns.py), in time linear in the text.
"""

from __future__ import annotations

import re

from rules.detectors.base import Detector, Match, boolean, check_keys, fail
from rules.patterns import PatternError, compile_pattern, spans

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_PATTERN = 2000


def clean_kind(config: dict, default: str) -> str:
    kind = config.get("kind") or default
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise fail("'kind' must be 1-40 lowercase letters, digits and '_', starting with a letter.")
    return kind


class RegexDetector(Detector):
    key = "regex"
    label = "Custom regular expression"

    @classmethod
    def clean_config(cls, config):
        config = check_keys(
            config, {"pattern": None, "kind": "custom", "ignore_case": False, "multiline": False}
        )
        pattern = config["pattern"]
        if not isinstance(pattern, str) or not pattern:
            raise fail("'pattern' is required: a regular expression.")
        if len(pattern) > MAX_PATTERN:
            raise fail(f"'pattern' is longer than {MAX_PATTERN} characters.")
        config["kind"] = clean_kind(config, "custom")
        config["ignore_case"] = boolean(config, "ignore_case")
        config["multiline"] = boolean(config, "multiline")
        try:
            compiled = cls._compile(config)
        except PatternError as exc:
            raise fail(f"'pattern' {exc}") from exc
        if compiled.match(""):
            raise fail("'pattern' matches the empty string, so it would match everywhere.")
        return config

    @staticmethod
    def _compile(config):
        return compile_pattern(
            config["pattern"],
            ignore_case=bool(config.get("ignore_case")),
            multiline=bool(config.get("multiline")),
        )

    def __init__(self, config):
        super().__init__(config)
        self.kind = config.get("kind") or "custom"
        self.regex = self._compile(config)

    def find(self, text, key=None):
        kind = self.kind
        return [Match(kind, start, end) for start, end in spans(self.regex, text)]
