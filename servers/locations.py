"""Where the platform reaches a server: its own URL, or the managed supervisor on loopback."""

from django.conf import settings

from servers.supervisor.auth import SUPERVISOR_HEADER, supervisor_token


def upstream_endpoint(*, server_id: int, kind: str, url: str) -> tuple[str, dict[str, str]]:
    """(URL, headers) to reach a server over Streamable HTTP."""
    if kind == "remote":
        return url, {}
    base = settings.MANAGED_SUPERVISOR_URL.rstrip("/")
    return f"{base}/managed/{server_id}/mcp", {SUPERVISOR_HEADER: supervisor_token()}
