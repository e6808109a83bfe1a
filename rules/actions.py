"""What a rule does to the matches in one string: redact, replace, mask or hash them.

`block` and `flag` change no text and are handled by the engine. Matches are applied from left
to right; where two overlap, the earlier (then the longer) wins, so a string is rewritten once
per rule and the result never contains a piece of a match.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

from rules.detectors.base import Match, non_overlapping
from rules.setting_fields import NUMBER, TEXT, Setting, clean_settings

REWRITING = frozenset({"redact", "replace", "mask", "hash"})

#: The settings each action takes; actions not listed take none.
SETTINGS: dict[str, tuple[Setting, ...]] = {
    "replace": (
        Setting(
            "text",
            "Replacement",
            TEXT,
            help="What each match becomes (up to 200 characters; empty removes it).",
            required=True,
            min_length=0,
            max_length=200,
            missing="Action 'replace' needs 'text', the replacement (up to 200 characters).",
        ),
    ),
    "mask": (
        Setting(
            "keep",
            "Characters kept",
            NUMBER,
            help="How many of the last characters stay readable.",
            default=4,
            minimum=0,
            maximum=32,
        ),
        Setting("char", "Mask character", TEXT, default="*", min_length=1, max_length=1),
    ),
    "hash": (
        Setting(
            "length",
            "Digest length",
            NUMBER,
            help="Hex characters of the keyed digest.",
            default=10,
            minimum=6,
            maximum=64,
        ),
    ),
}


def clean_action_config(action: str, config) -> dict:
    """The action's settings checked and normalised; raises `InvalidRule` naming the setting."""
    return clean_settings(
        SETTINGS.get(action, ()), config, field="action_config", owner=f"action '{action}'"
    )


def hash_key(workspace_id: int | None) -> bytes:
    """The per-workspace key of the hash action, derived from SECRET_KEY: digests are stable
    across calls and processes of one workspace, and not comparable across workspaces."""
    label = f"gatehouse.rules.hash:{workspace_id or 0}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), label, hashlib.sha256).digest()


def digest(key: bytes, value: str, length: int = 10) -> str:
    return "[HASH:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:length] + "]"


def replacement(action: str, config: dict, match: Match, value: str, key: bytes) -> str:
    if action == "redact":
        return f"[REDACTED:{match.kind.upper()}]"
    if action == "replace":
        return config.get("text", "")
    if action == "mask":
        keep = config.get("keep", 4)
        char = config.get("char", "*")
        tail = value[len(value) - keep :] if 0 < keep < len(value) else ""
        return char * (len(value) - len(tail)) + tail
    if action == "hash":
        return digest(key, value, config.get("length", 10))
    raise ValueError(f"action {action!r} does not rewrite text")


def rewrite(text: str, matches: list[Match], action: str, config: dict, key: bytes) -> str:
    pieces: list[str] = []
    last = 0
    for m in non_overlapping(matches):
        pieces.append(text[last : m.start])
        pieces.append(replacement(action, config, m, text[m.start : m.end], key))
        last = m.end
    pieces.append(text[last:])
    return "".join(pieces)
