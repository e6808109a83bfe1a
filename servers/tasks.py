"""Background work of the servers app: keeping discovered catalogs and health current."""

from celery import shared_task

from servers.discovery import refresh_catalog
from servers.models import Server


@shared_task(name="servers.refresh_catalog")
def refresh_catalog_task(server_id: int) -> str:
    server = Server.objects.filter(pk=server_id).first()
    if server is None:
        return "gone"
    return refresh_catalog(server=server).health


@shared_task(name="servers.refresh_catalogs")
def refresh_catalogs() -> int:
    """Fan out one refresh per server; each task re-fetches its own row."""
    ids = list(Server.objects.values_list("pk", flat=True))
    for server_id in ids:
        refresh_catalog_task.delay(server_id)
    return len(ids)
