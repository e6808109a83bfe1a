"""Catalog discovery against a live SDK upstream, as the periodic task runs it."""

from servers import services as server_services
from servers.models import Server
from servers.tasks import refresh_catalogs
from tests.support.live import free_port


def test_the_periodic_task_records_catalogs_and_health(db, acme, alice, upstream_url):
    up = server_services.create_server(workspace=acme, name="notes", url=upstream_url, actor=alice)
    down = server_services.create_server(
        workspace=acme, name="gone", url=f"http://127.0.0.1:{free_port()}/mcp", actor=alice
    )
    assert refresh_catalogs() == 2
    up = Server.objects.get(pk=up.pk)
    down = Server.objects.get(pk=down.pk)
    assert up.health == "up" and up.catalog_updated_at is not None
    tools = {t["name"]: t for t in up.catalog["tools"]}
    assert tools["echo"]["annotations"]["readOnlyHint"] is True
    assert [p["name"] for p in up.catalog["prompts"]] == ["greet"]
    assert up.catalog["era"] == "handshake"
    assert down.health == "down" and "refused" in down.health_detail
