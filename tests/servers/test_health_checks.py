"""The periodic health checks on their own thread, against upstreams on real sockets: a server
found down opens one alert however many passes find it so, and coming back clears it."""

import socket
import time

import pytest

from audit.models import Alert
from config.celery import app as celery_app
from servers import health_checks
from servers import services as server_services
from servers.models import Server
from tests.dataplane import upstream_app
from tests.support.live import ThreadedServer, free_port

pytestmark = pytest.mark.timeout(120)


def wait_for(condition, *, timeout: float = 30.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def health(server) -> str:
    return Server.objects.get(pk=server.pk).health


def checked_at(server):
    return Server.objects.get(pk=server.pk).health_checked_at


def open_alerts() -> list[tuple[str, int]]:
    return list(
        Alert.objects.filter(kind="server_down", acknowledged_at__isnull=True)
        .order_by("subject")
        .values_list("subject", "count")
    )


@pytest.fixture
def checks():
    running = []

    def start(**kwargs):
        running.append(health_checks.EmbeddedChecks(**kwargs).start())
        return running[-1]

    yield start
    for each in running:
        assert each.stop(timeout=30)


def test_scheduled_checks_mark_servers_and_alert_once_until_it_comes_back(
    transactional_db, acme, alice, checks
):
    port = free_port()
    upstream = ThreadedServer(upstream_app.build().streamable_http_app(), port=port).start()
    live = server_services.create_server(
        workspace=acme, name="notes", url=f"http://127.0.0.1:{port}/mcp", actor=alice
    )
    dead = server_services.create_server(
        workspace=acme, name="gone", url=f"http://127.0.0.1:{free_port()}/mcp", actor=alice
    )
    assert (health(live), health(dead)) == ("unknown", "unknown")

    checks(every=0.3, first_after=0)

    wait_for(lambda: health(live) == "up" and health(dead) == "down", what="the first pass")
    assert "echo" in {t["name"] for t in Server.objects.get(pk=live.pk).catalog["tools"]}
    assert "refused" in Server.objects.get(pk=dead.pk).health_detail
    # Two more passes find it still down: still the one alert, not folded into again.
    first = checked_at(dead)
    wait_for(lambda: checked_at(dead) > first, what="a second pass")
    second = checked_at(dead)
    wait_for(lambda: checked_at(dead) > second, what="a third pass")
    assert open_alerts() == [("gone", 1)]

    upstream.stop()
    wait_for(lambda: health(live) == "down", what="the stopped upstream to be found down")
    assert open_alerts() == [("gone", 1), ("notes", 1)]

    upstream = ThreadedServer(upstream_app.build().streamable_http_app(), port=port).start()
    try:
        wait_for(lambda: health(live) == "up", what="the upstream to be found back")
    finally:
        upstream.stop()
    assert open_alerts() == [("gone", 1)]
    cleared = Alert.objects.get(subject="notes")
    assert cleared.acknowledged_at is not None and cleared.acknowledged_by is None
    assert cleared.title.startswith("Server 'notes' is down")


def test_a_stopped_thread_checks_no_more(transactional_db, acme, alice, checks):
    dead = server_services.create_server(
        workspace=acme, name="gone", url=f"http://127.0.0.1:{free_port()}/mcp", actor=alice
    )
    running = checks(every=0.2, first_after=0)
    wait_for(lambda: health(dead) == "down", what="the first pass")
    assert running.stop(timeout=10)
    last = checked_at(dead)
    time.sleep(0.6)
    assert checked_at(dead) == last


def test_they_run_embedded_once_per_process_and_only_without_a_broker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.HEALTH_CHECK_SECONDS = 3600
    first = health_checks.start_embedded_checks()
    try:
        assert first is not None and first.every == 3600
        assert health_checks.start_embedded_checks() is first
    finally:
        assert health_checks.stop_embedded_checks(timeout=5)
    assert health_checks.stop_embedded_checks(timeout=5)  # nothing left to stop

    settings.HEALTH_CHECK_SECONDS = 0
    assert health_checks.start_embedded_checks() is None
    settings.HEALTH_CHECK_SECONDS = 60
    settings.CELERY_TASK_ALWAYS_EAGER = False  # beat runs them
    assert health_checks.start_embedded_checks() is None


def test_beat_checks_at_the_same_interval(settings):
    entry = celery_app.conf.beat_schedule["servers.refresh_catalogs"]
    assert entry["task"] == "servers.refresh_catalogs"
    assert entry["schedule"] == settings.HEALTH_CHECK_SECONDS > 0


def test_a_server_that_never_answers_holds_a_check_only_so_long(
    db, acme, alice, settings, monkeypatch
):
    # Its own handshake allowance is ten minutes; a scheduled check waits no more than the cap.
    settings.UPSTREAM_DISCOVERY_TIMEOUT_SECONDS = 1
    monkeypatch.setattr(health_checks, "HANDSHAKE_CAP_SECONDS", 1)
    # The kernel completes the connection; nothing ever reads the request or answers it.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/mcp"
        server = server_services.create_server(workspace=acme, name="tarpit", url=url, actor=alice)
        Server.objects.filter(pk=server.pk).update(handshake_timeout_seconds=600)
        started = time.monotonic()
        assert health_checks.check_server(server.pk) == "down"
    assert time.monotonic() - started < 10
