"""A cheap estimate of how many tokens a payload costs a model that reads it.

Real tokenizers (BPE vocabularies of 100k-200k pieces) are too heavy to run on every hop, so the
estimate counts the pieces a BPE tokenizer almost always splits text into:

* a run of ASCII letters costs one token per 6 letters, rounded up (common English words are
  one token; long identifiers and rare words split into several);
* a run of other letters (accented, Cyrillic, CJK...) costs one token per 2 characters, rounded
  up, since vocabularies hold far fewer of those pieces;
* a run of digits costs one token per 3 digits, rounded up (tokenizers group digits in threes);
* a run of punctuation and symbols costs one token per 2 characters, rounded up (BPE
  vocabularies hold the pairs JSON is made of: `{"`, `":`, `",`, `}}`);
* whitespace and underscores are free (they merge into the next piece).

The payload is measured as compact JSON text, which is close to what a client passes a model
as a tool result. Treat the figure as an estimate for reports and budgets, typically within a
quarter of a real tokenizer's count for JSON tool traffic; it never replaces a provider's bill.
"""

import re

from core import json_text

_PIECES = re.compile(r"[^\W\d_]+|\d+|[^\w\s]+")
# The same pieces in ASCII text, cut to one token each: a greedy bounded run splits a run of n
# characters into ceil(n / k) matches, which is what the loop below adds up per piece. The
# classes are `[^\W\d_]`, `\d` and `[^\w\s]` spelt out for ASCII (`\s` includes \x1c-\x1f),
# which the regex engine matches faster.
_ASCII_TOKENS = re.compile(r"[A-Za-z]{1,6}|[0-9]{1,3}|[\x00-\x08\x0e-\x1b!-/:-@\[-^`{-~\x7f]{1,2}")
# json.dumps(value, ensure_ascii=False).
_JSON_TEXT = json_text.encoder(ensure_ascii=False)


def estimate_text(text: str) -> int:
    if text.isascii():
        return len(_ASCII_TOKENS.findall(text))
    tokens = 0
    for piece in _PIECES.findall(text):
        first = piece[0]
        if first.isdigit():
            tokens += (len(piece) + 2) // 3
        elif piece.isascii() and first.isalpha():
            tokens += (len(piece) + 5) // 6
        elif first.isalpha():
            tokens += (len(piece) + 1) // 2
        else:
            tokens += (len(piece) + 1) // 2
    return tokens


def measured_text(payload) -> str:
    """What the estimate reads: a string as it is, anything else as JSON (default separators)."""
    return payload if isinstance(payload, str) else _JSON_TEXT(payload)


def estimate(payload) -> int | None:
    """Tokens of `payload` (anything JSON can carry); None when there is no payload."""
    if payload is None:
        return None
    return estimate_text(measured_text(payload))
