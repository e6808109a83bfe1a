"""`GET /metrics`: the Prometheus text exposition of every process of this server.

Off (404, as for any unknown page) unless `METRICS_TOKEN` is set; then only a request bearing
that token gets an answer. Reading the processes' files happens on a thread of its own, so a
scrape never waits on, or holds up, the thread Django shares for sync work.
"""

import asyncio
import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from audit import metrics


@require_GET
async def scrape(request):
    if not settings.METRICS_TOKEN:
        raise Http404
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.METRICS_TOKEN.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        response = HttpResponse("A metrics token is required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = await asyncio.to_thread(metrics.exposition)
    return HttpResponse(body, content_type=content_type)
