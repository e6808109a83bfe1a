"""A custom regular expression, reported under a kind the admin names.

The pattern is an admin's, so it runs on RE2 (rules/patterns.py), in time linear in the text.
"""

from __future__ import annotations

import re

from rules.detectors.base import Detector, Match, check_settings, fail
from rules.patterns import PatternError, compile_pattern, spans
from rules.setting_fields import BOOL, REGEX, TEXT, Setting

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_PATTERN = 2000


def clean_kind(config: dict, default: str) -> str:
    kind = config.get("kind") or default
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise fail(
            "'kind' must be 1-40 lowercase letters, digits and '_', starting with a letter.",
            "kind",
        )
    return kind


def kind_setting(default: str) -> Setting:
    return Setting(
        "kind",
        "Kind",
        TEXT,
        help=f"The name matches are reported under (lowercase, digits, _). Empty: {default}.",
        default=default,
        max_length=40,
    )


class RegexDetector(Detector):
    key = "regex"
    label = "Custom regular expression"
    settings = (
        Setting(
            "pattern",
            "Pattern",
            REGEX,
            help="A regular expression in RE2 syntax, such as ACME-[0-9]{6}.",
            required=True,
            max_length=MAX_PATTERN,
            missing="'pattern' is required: a regular expression.",
        ),
        kind_setting("custom"),
        Setting("ignore_case", "Ignore case", BOOL, default=False),
        Setting("multiline", "Multiline (^ and $ match at each line)", BOOL, default=False),
    )

    @classmethod
    def clean_config(cls, config):
        config = check_settings(cls.settings, config)
        config["kind"] = clean_kind(config, "custom")
        try:
            compiled = cls._compile(config)
        except PatternError as exc:
            raise fail(f"'pattern' {exc}", "pattern") from exc
        if compiled.match(""):
            raise fail(
                "'pattern' matches the empty string, so it would match everywhere.", "pattern"
            )
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
