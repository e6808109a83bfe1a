"""Where the platform reaches a server: its own URL, or the managed supervisor (its socket or
loopback port; the requests to it are signed by the upstream client, not by fixed headers)."""

from servers.supervisor.address import configured


def upstream_endpoint(*, server_id: int, kind: str, url: str) -> tuple[str, dict[str, str]]:
    """(URL, headers) to reach a server over Streamable HTTP."""
    if kind == "remote":
        return url, {}
    return f"{configured().base_url}/managed/{server_id}/mcp", {}
