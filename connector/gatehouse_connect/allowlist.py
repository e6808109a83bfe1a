"""What this workstation approved: per server name, the exact command, args and env keys, or
the url.

The file (`~/.config/gatehouse/connect.json` unless `--config`) reads
`{"allowed": {"files": {"command": "npx", "args": ["-y", "..."], "env_keys": ["NOTES_DIR"]},
"wiki": {"url": "..."}}}`. The platform only proposes; a server runs here only if what it asks
for equals the approval, and it runs as approved (the env keys on file, not the platform's).
"""

import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path("~/.config/gatehouse/connect.json")


class ConfigError(Exception):
    """The config file cannot be read or written."""


def approval_of(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a server definition an approval pins: command, args and env keys, or url.

    The env keys are pinned too: they name the workstation's variables the child may read, so
    a platform that adds one would otherwise get a secret its server can echo back.
    """
    if spec.get("url"):
        return {"url": str(spec["url"])}
    return {
        "command": str(spec.get("command") or ""),
        "args": [str(a) for a in spec.get("args") or []],
        "env_keys": sorted({str(key) for key in spec.get("env_keys") or []}),
    }


def describe(spec: dict[str, Any]) -> str:
    """The full command line (or url) a person approves, with the env keys it may read.

    Raw: whoever prints it escapes it (display.printable).
    """
    approval = approval_of(spec)
    if "url" in approval:
        return approval["url"]
    line = shlex.join([approval["command"], *approval["args"]])
    keys = approval["env_keys"]
    return f"{line} (env: {', '.join(keys)})" if keys else line


def difference(approved: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """What changed in `spec` since `approved`, in a few words; None if nothing did."""
    offered = approval_of(spec)
    if offered == approved:
        return None
    if "url" in offered and "url" in approved:
        return "its url changed"
    if "url" in offered or "url" in approved:
        return "it changed between a command and a url"
    if (offered["command"], offered["args"]) != (approved["command"], approved["args"]):
        return "its command changed"
    return "its env keys changed"


class Allowlist:
    def __init__(self, path: Path, allowed: dict[str, dict[str, Any]]):
        self.path = path
        self.allowed = allowed

    @classmethod
    def load(cls, path: Path) -> "Allowlist":
        path = path.expanduser()
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(path, {})
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read {path}: {error}") from None
        allowed = data.get("allowed") if isinstance(data, dict) else None
        if not isinstance(allowed, dict) or not all(
            isinstance(entry, dict) for entry in allowed.values()
        ):
            raise ConfigError(f'{path}: expected {{"allowed": {{"<name>": {{"command": ...}}}}}}')
        return cls(path, {str(name): approval_of(entry) for name, entry in allowed.items()})

    def names(self) -> list[str]:
        return sorted(self.allowed)

    def permits(self, name: str, spec: dict[str, Any]) -> bool:
        """Whether `spec` is exactly what was approved under `name`."""
        return name in self.allowed and self.allowed[name] == approval_of(spec)

    def refusal(self, name: str, spec: dict[str, Any]) -> str | None:
        """Why `spec` may not run under `name`, in a few words, or None if it may."""
        if name not in self.allowed:
            return "not allowed"
        change = difference(self.allowed[name], spec)
        return f"{change} since it was allowed" if change else None

    def approve(self, name: str, spec: dict[str, Any]) -> None:
        self.allowed[name] = approval_of(spec)
        self.save()

    def save(self) -> None:
        """Write the file atomically, readable by its owner only (it says what may run here)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"allowed": self.allowed}, indent=2, sort_keys=True) + "\n"
        try:
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".connect-")
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except OSError as error:
            raise ConfigError(f"cannot write {self.path}: {error}") from None
