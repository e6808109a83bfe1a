"""Background work of the servers app: keeping discovered catalogs and health current."""

from celery import shared_task

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
        refresh_catalog_task.delay(server_id)
    return len(ids)
