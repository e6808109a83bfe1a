"""Background work of the servers app: keeping discovered catalogs and health current."""

from celery import shared_task
from django.conf import settings

from servers.health_checks import check_server
from servers.models import Server


@shared_task(name="servers.refresh_catalog")
def refresh_catalog_task(server_id: int) -> str:
    return check_server(server_id) or "gone"


@shared_task(name="servers.refresh_catalogs")
def refresh_catalogs() -> int:
    """Fan out one refresh per server; each task re-fetches its own row."""
    ids = list(Server.objects.values_list("pk", flat=True))
    for server_id in ids:
        # A check still queued when the next round is sent is dropped, not piled up.
        refresh_catalog_task.apply_async(
            (server_id,), expires=settings.HEALTH_CHECK_SECONDS or None
        )
    return len(ids)
