"""Payload size: the bytes of the payload as compact UTF-8 JSON, against a limit."""

from __future__ import annotations

import json

from rules.detectors.base import CALL_ACTIONS, Call, Detector, Match, check_keys, number

MAX_LIMIT = 1 << 30


def payload_bytes(payload) -> int:
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode())


class SizeDetector(Detector):
    key = "size"
    label = "Payload size"
    scope = "call"
    actions = CALL_ACTIONS

    @classmethod
    def clean_config(cls, config):
        config = check_keys(config, {"max_bytes": None})
        config["max_bytes"] = number(config, "max_bytes", minimum=1, maximum=MAX_LIMIT)
        return config

    def __init__(self, config):
        super().__init__(config)
        self.max_bytes = config["max_bytes"]

    def inspect(self, call: Call) -> list[Match]:
        if payload_bytes(call.payload) > self.max_bytes:
            return [Match("oversize")]
        return []
