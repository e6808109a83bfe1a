"""`manage.py serve`: the ASGI application on a real socket, with the demo admin signing in."""

import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import global_settings
from django.core.management.base import CommandError

from audit.models import Alert
from servers import services as server_services
from servers.models import Server
from tests.support.database import database_url
from tests.support.processes import free_port, start_process

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(120)


def test_it_serves_the_console_and_the_demo_admin_signs_in(
    transactional_db, settings, tmp_path, monkeypatch, run
):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a long demo passphrase")
    settings.VAR_DIR = tmp_path
    # The served process verifies the password with the default hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    run("load_demo")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "GATEHOUSE_VAR_DIR": str(tmp_path)}
    argv = [sys.executable, "manage.py", "serve", "--port", str(port)]
    process = start_process(argv, port=port, env=env, cwd=REPO, timeout=60)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            page = client.get("/accounts/login/")
            assert page.status_code == 200
            assert "Sign in to Gatehouse" in page.text
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
            response = client.post(
                "/accounts/login/",
                data={
                    "login": "admin@gatehouse.local",
                    "password": "a long demo passphrase",
                    "csrfmiddlewaretoken": csrf,
                },
                headers={"Referer": f"{base}/accounts/login/"},
            )
            assert response.status_code == 302
            home = client.get("/")
            assert home.status_code == 200
            assert "admin@gatehouse.local" in home.text
        assert f"serving on {base}/" in process.output()
    finally:
        process.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "at least 1"),
        (["--port", "70000"], "between 1 and 65535"),
        (["--server", "daphne", "--workers", "2"], "Daphne runs one process"),
    ],
)
def test_it_refuses_bad_options(args, message, run):
    with pytest.raises(CommandError, match=message):
        run("serve", *args)


def test_a_graceful_stop_writes_the_audit_entries_still_queued(
    transactional_db, settings, tmp_path, run
):
    """The lifespan shutdown flushes the writer: with a one-minute batch window, the entry of a
    refused call is only in the database because stopping the server wrote it."""
    from audit.models import LogEntry

    settings.VAR_DIR = tmp_path
    run("load_demo")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "GATEHOUSE_VAR_DIR": str(tmp_path),
        "AUDIT_WRITER": "thread",
        "AUDIT_FLUSH_MS": "60000",
    }
    argv = [sys.executable, "manage.py", "serve", "--port", str(port)]
    process = start_process(argv, port=port, env=env, cwd=REPO, timeout=60)
    try:
        reply = httpx.post(
            f"http://127.0.0.1:{port}/mcp/demo/dev",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": "Bearer gh_not_a_real_token"},
            timeout=10,
        )
        assert reply.status_code == 401
        assert not LogEntry.objects.filter(hop="auth.denied").exists()
    finally:
        # uvicorn ends with the signal it was stopped by, after its graceful shutdown.
        process.stop()
    denied = LogEntry.objects.get(hop="auth.denied")
    assert denied.detail == {"reason": "invalid token", "source": "127.0.0.1", "window_seconds": 60}


def test_it_checks_server_health_on_its_own_and_stops_the_checks_with_it(
    transactional_db, tmp_path, acme, alice, upstream_url
):
    """Without a broker nothing else would: `serve` checks every server shortly after start,
    marks them and opens the alert of the one down, and stops its checks when it stops."""
    live = server_services.create_server(
        workspace=acme, name="notes", url=upstream_url, actor=alice
    )
    dead = server_services.create_server(
        workspace=acme, name="gone", url=f"http://127.0.0.1:{free_port()}/mcp", actor=alice
    )
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "GATEHOUSE_VAR_DIR": str(tmp_path),
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "HEALTH_CHECK_SECONDS": "3600",
    }
    argv = [sys.executable, "manage.py", "serve", "--port", str(port)]
    process = start_process(argv, port=port, env=env, cwd=REPO, timeout=60)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = dict(Server.objects.values_list("name", "health"))
            if health == {"notes": "up", "gone": "down"}:
                break
            time.sleep(0.2)
        assert health == {"notes": "up", "gone": "down"}
        assert Server.objects.get(pk=live.pk).catalog["tools"]
        assert list(Alert.objects.values_list("kind", "subject")) == [("server_down", "gone")]
        process.popen.send_signal(signal.SIGTERM)
        # uvicorn ends with the signal it was stopped by, once the checks have stopped.
        assert process.popen.wait(timeout=30) == -signal.SIGTERM
        output = process.output()
        assert "Server health is checked every 3600 s." in output
        assert output.rstrip().endswith("Health checks stopped."), output
    finally:
        process.stop()
    assert Server.objects.get(pk=dead.pk).health_detail
