"""Payload size: the bytes of the payload as compact UTF-8 JSON, against a limit."""

from __future__ import annotations

import json

from rules.detectors.base import CALL_ACTIONS, Call, Detector, Match
from rules.setting_fields import NUMBER, Setting

MAX_LIMIT = 1 << 30


def payload_bytes(payload) -> int:
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode())


class SizeDetector(Detector):
    key = "size"
    label = "Payload size"
    scope = "call"
    actions = CALL_ACTIONS
    settings = (
        Setting(
            "max_bytes",
            "Largest payload (bytes)",
            NUMBER,
            help="As compact UTF-8 JSON; 1048576 is 1 MiB.",
            required=True,
            minimum=1,
            maximum=MAX_LIMIT,
        ),
    )

    def __init__(self, config):
        super().__init__(config)
        self.max_bytes = config["max_bytes"]

    def inspect(self, call: Call) -> list[Match]:
        if payload_bytes(call.payload) > self.max_bytes:
            return [Match("oversize")]
        return []
