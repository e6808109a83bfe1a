"""A list of words or phrases, matched case-insensitively, optionally as whole words only."""

from __future__ import annotations

import re

from rules.detectors.base import Detector, Match, boolean, check_keys, string_list
from rules.detectors.regex import clean_kind


class KeywordsDetector(Detector):
    key = "keywords"
    label = "Keyword list"

    @classmethod
    def clean_config(cls, config):
        config = check_keys(
            config, {"words": None, "whole_word": True, "case_sensitive": False, "kind": "keyword"}
        )
        config["words"] = sorted(set(string_list(config, "words", required=True)))
        config["whole_word"] = boolean(config, "whole_word")
        config["case_sensitive"] = boolean(config, "case_sensitive")
        config["kind"] = clean_kind(config, "keyword")
        return config

    def __init__(self, config):
        super().__init__(config)
        self.kind = config.get("kind") or "keyword"
        # Longest first, so "secret plan" wins over "secret" at the same place.
        words = sorted(config["words"], key=len, reverse=True)
        body = "|".join(re.escape(w) for w in words)
        if config.get("whole_word", True):
            body = rf"(?<!\w)(?:{body})(?!\w)"
        flags = 0 if config.get("case_sensitive") else re.IGNORECASE
        self.regex = re.compile(body, flags)

    def find(self, text, key=None):
        kind = self.kind
        return [Match(kind, *m.span()) for m in self.regex.finditer(text)]
