"""A list of words or phrases, matched case-insensitively, optionally as whole words only.

The words are an admin's, so they are matched by RE2 (rules/patterns.py): a long list of long
words costs Python's `re` time per character times the whole list, RE2 one pass.
"""

from __future__ import annotations

import re

from rules.budget import check
from rules.detectors.base import Detector, Match, check_settings, fail
from rules.detectors.regex import clean_kind, kind_setting
from rules.patterns import NOT_WORD, PatternError, compile_pattern, matchable, spans
from rules.setting_fields import BOOL, STRINGS, Setting


class KeywordsDetector(Detector):
    key = "keywords"
    label = "Keyword list"
    settings = (
        Setting(
            "words",
            "Words and phrases",
            STRINGS,
            help="One per line.",
            required=True,
            max_length=1000,
        ),
        Setting("whole_word", "Whole words only", BOOL, default=True),
        Setting("case_sensitive", "Case-sensitive", BOOL, default=False),
        kind_setting("keyword"),
    )

    @classmethod
    def clean_config(cls, config):
        config = check_settings(cls.settings, config)
        config["words"] = sorted(set(config["words"]))
        config["kind"] = clean_kind(config, "keyword")
        try:
            cls._compile(config)
        except PatternError as exc:
            raise fail(f"'words' {exc}", "words") from exc
        return config

    @staticmethod
    def _compile(config):
        # Longest first, so "secret plan" wins over "secret" at the same place.
        words = sorted(config["words"], key=len, reverse=True)
        body = "|".join(re.escape(w) for w in words)
        if config.get("whole_word", True):
            # RE2 has no lookaround: the characters either side of a word are matched too.
            body = f"{NOT_WORD}({body}){NOT_WORD}"
        return compile_pattern(body, ignore_case=not config.get("case_sensitive"))

    def __init__(self, config):
        super().__init__(config)
        self.kind = config.get("kind") or "keyword"
        self.whole_word = config.get("whole_word", True)
        self.regex = self._compile(config)

    def find(self, text, key=None):
        kind = self.kind
        text = matchable(text)
        if not self.whole_word:
            return [Match(kind, start, end) for start, end in spans(self.regex, text)]
        return [Match(kind, start, end) for start, end in self._whole_words(text)]

    def _whole_words(self, text: str):
        """Spans of whole words in `text`, as `(?<!\\w)word(?!\\w)` would find them.

        The text is framed by a newline each side, so a word at either end has a non-word
        character to match, and searched as UTF-8 bytes, encoded once. Each search starts at
        the last character of the previous word: the one a following word's boundary may use."""
        framed = f"\n{text}\n".encode()
        same = len(framed) == len(text) + 2  # ASCII: byte offsets are character offsets
        search = self.regex.search
        pos = chars = seen = found = 0
        while (m := search(framed, pos)) is not None:
            found += 1
            if not found & 255:
                check()
            start, end = m.span(1)
            if same:
                yield start - 1, end - 1
            else:
                chars += len(framed[seen:start].decode())
                first = chars - 1
                chars += len(framed[start:end].decode())
                seen = end
                yield first, chars - 1
            pos = end - 1
            while framed[pos] & 0xC0 == 0x80:  # back to the first byte of that character
                pos -= 1
