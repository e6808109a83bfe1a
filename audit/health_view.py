"""`GET /healthz` and `GET /readyz`: what a load balancer or orchestrator asks a server.

`/healthz` (liveness) says the process answers HTTP; it reads nothing. `/readyz` (readiness)
is 503 until the audit writer is ready, while it is behind its durability window
(`audit/log/durability.py`: the same state in which the data plane holds answers back), and
while the database, the cache or the channel layer does not answer (`audit/readiness.py`), so
traffic goes elsewhere meanwhile. The first line of the body says why; one line per check follows.
Neither needs a credential.

They are plain ASGI, routed by `config/asgi.py` ahead of Django: a probe addresses the server
by whatever name or address it has (a pod's IP), which `ALLOWED_HOSTS` would refuse.
"""

from audit import readiness
from audit.log import durability

PATHS = frozenset({"/healthz", "/readyz"})


async def _readiness() -> tuple[int, str]:
    state = await readiness.readiness()
    lines = [state.first_failure or "ready"]
    lines += [f"{name}: {reason or 'ok'}" for name, reason in state.results]
    return (200 if state.ready else 503), "\n".join(lines)


async def serve(scope, receive, send) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        status, body, headers = 405, "method not allowed", [(b"allow", b"GET, HEAD")]
    elif scope["path"] == "/healthz":
        status, body, headers = 200, "ok", []
    else:
        status, body = await _readiness()
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
