"""What a managed server's child is started with: command, arguments, environment, directory."""

import os
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

# Inherited by an unsandboxed child so interpreters and package runners (npx, uvx) work; nothing
# else of the supervisor's environment (SECRET_KEY, DATABASE_URL...) reaches a managed server.
# A sandboxed child gets its own variables, PATH and HOME only (servers/supervisor/sandbox.py).
INHERITED_VARIABLES = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TERM",
    "TMPDIR",
    "TMP",
    "TEMP",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "npm_config_cache",
    "UV_CACHE_DIR",
    "SYSTEMROOT",
)


@dataclass(frozen=True)
class ProcessSpec:
    server_id: int
    name: str
    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    network: bool = True
    version: str = ""

    @property
    def label(self) -> str:
        return f"managed server '{self.name}' (#{self.server_id})"

    @classmethod
    def from_server(cls, server) -> "ProcessSpec":
        return cls(
            server_id=server.pk,
            name=server.name,
            command=server.command,
            args=tuple(server.args or ()),
            env=dict(server.env or {}),
            network=server.network,
            version=server.updated_at.isoformat(),
        )

    def environment(self) -> dict[str, str]:
        """The environment of an unsandboxed child (MANAGED_SANDBOX=off)."""
        inherited = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
        return {**inherited, **self.env}

    def working_directory(self) -> Path:
        # A directory of its own, so a child that writes files never writes into the checkout.
        path = Path(settings.VAR_DIR) / "managed" / str(self.server_id)
        path.mkdir(parents=True, exist_ok=True)
        return path
