"""`GET /healthz` and `GET /readyz`: what a load balancer or orchestrator asks a server.

`/healthz` (liveness) says the process answers HTTP; it reads nothing. `/readyz` (readiness)
is 503 until the audit writer is ready and while it is behind its durability window
(`audit/log/durability.py`), the same state in which the data plane holds answers back, so
traffic goes elsewhere meanwhile. Neither needs a credential nor queries the database.
"""

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from audit.log import durability
from audit.log.writer import default_recorder


def _text(body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body + "\n", status=status, content_type="text/plain")
    response["Cache-Control"] = "no-store"
    return response


@require_GET
async def healthz(request):
    return _text("ok")


@require_GET
async def readyz(request):
    if not default_recorder().ready:
        response = _text("starting: the audit writer is not ready", 503)
    elif not durability.caught_up():
        lag = durability.lag_seconds()
        response = _text(f"behind: the audit writer is {lag:.1f} s behind", 503)
    else:
        return _text("ready")
    response["Retry-After"] = str(durability.retry_after_seconds())
    return response
