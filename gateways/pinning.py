"""Tool pinning: fingerprints of tool definitions, pins, and the changes that await approval.

A pin is the digest and the definition of a tool as an admin curated it. An upstream that later
changes what a pinned tool tells the model (its title, description, schemas or annotations), or
the MCP App it shows and who may call it (`_meta.ui`: the app's `ui://` template, visibility to
the model), may be poisoning it or pulling the rug; the gateway withholds such a tool until an
admin approves the new definition. The definition is kept beside the digest so the console can
show the difference.
"""

import difflib
import hashlib
import json
from dataclasses import dataclass

PINNED_FIELDS = ("title", "description", "inputSchema", "outputSchema", "annotations")


def _present(value) -> bool:
    # Eras and SDKs differ in whether they send an empty field or leave it out.
    return value is not None and value != "" and value != {}


def definition(tool: dict) -> dict:
    """The parts of a tool the fingerprint covers, with absent, null and empty made equal."""
    found = {}
    for key in PINNED_FIELDS:
        value = tool.get(key)
        if key == "annotations" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None}
        if _present(value):
            found[key] = value
    meta = tool.get("_meta")
    # Only the app part of `_meta`: the rest is the server's own bookkeeping.
    ui = meta.get("ui") if isinstance(meta, dict) else None
    if _present(ui):
        found["_meta"] = {"ui": ui}
    return found


def canonical(tool: dict) -> str:
    """Key order and whitespace never change the fingerprint; list order and values do."""
    return json.dumps(definition(tool), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(tool: dict) -> str:
    return "sha256:" + hashlib.sha256(canonical(tool).encode()).hexdigest()


def pin(tool: dict) -> dict:
    return {"digest": fingerprint(tool), "definition": definition(tool)}


def pretty(definition_: dict) -> str:
    return json.dumps(definition_, indent=2, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class PinChange:
    """A pinned tool whose discovered definition differs from what was approved."""

    tool: str
    pinned_digest: str
    current_digest: str
    pinned: dict
    current: dict

    @property
    def diff(self) -> str:
        lines = difflib.unified_diff(
            pretty(self.pinned).splitlines(),
            pretty(self.current).splitlines(),
            fromfile=f"{self.tool} (approved)",
            tofile=f"{self.tool} (now)",
            lineterm="",
        )
        return "\n".join(lines)


def discovered_tools(catalog: dict | None) -> dict[str, dict]:
    """The tools of a discovered catalog (`Server.catalog`), by name."""
    tools = (catalog or {}).get("tools") or []
    return {t["name"]: t for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)}


def changes(pins: dict, tools: dict[str, dict]) -> list[PinChange]:
    """Pinned tools whose definition in `tools` no longer matches the pin, by name."""
    found = []
    for name in sorted(pins or {}):
        tool = tools.get(name)
        pinned = pins[name]
        if tool is None or not isinstance(pinned, dict):
            continue  # a tool that is gone offers nothing to withhold
        digest = fingerprint(tool)
        if digest != pinned.get("digest"):
            found.append(
                PinChange(
                    tool=name,
                    pinned_digest=str(pinned.get("digest", "")),
                    current_digest=digest,
                    pinned=pinned.get("definition") or {},
                    current=definition(tool),
                )
            )
    return found


def digests(pins: dict) -> dict[str, str]:
    """Name to digest, the part of the pins the data plane compares against."""
    return {
        name: pinned["digest"]
        for name, pinned in (pins or {}).items()
        if isinstance(pinned, dict) and isinstance(pinned.get("digest"), str)
    }
