"""`GET /healthz` and `GET /readyz`: what a load balancer or orchestrator asks a server.

`/healthz` (liveness) says the process answers HTTP; it reads nothing. `/readyz` (readiness)
is 503 until the audit writer is ready and while it is behind its durability window
(`audit/log/durability.py`), the same state in which the data plane holds answers back, so
traffic goes elsewhere meanwhile. Neither needs a credential nor queries the database.

They are plain ASGI, routed by `config/asgi.py` ahead of Django: a probe addresses the server
by whatever name or address it has (a pod's IP), which `ALLOWED_HOSTS` would refuse.
"""

from audit.log import durability
from audit.log.writer import default_recorder

PATHS = frozenset({"/healthz", "/readyz"})


def _readiness() -> tuple[int, str]:
    if not default_recorder().ready:
        return 503, "starting: the audit writer is not ready"
    if not durability.caught_up():
        return 503, f"behind: the audit writer is {durability.lag_seconds():.1f} s behind"
    return 200, "ready"


async def serve(scope, receive, send) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        status, body, headers = 405, "method not allowed", [(b"allow", b"GET, HEAD")]
    elif scope["path"] == "/healthz":
        status, body, headers = 200, "ok", []
    else:
        status, body = _readiness()
        retry = str(durability.retry_after_seconds()).encode()
        headers = [(b"retry-after", retry)] if status == 503 else []
    data = (body + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(data)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else data})
