"""Static files come whole from a real ASGI worker, and its log stays clean."""

import os
from pathlib import Path

import drf_spectacular_sidecar
import httpx
import pytest
from django.conf import settings

from core.streaming import BYTES_PER_READ
from tests.support.processes import start_asgi_worker

SIDECAR = Path(drf_spectacular_sidecar.__file__).parent / "static"
HTMX = next((settings.BASE_DIR / "static" / "vendor").glob("htmx-*.min.js"))


@pytest.fixture
def worker(tmp_path):
    # Static files need nothing shared: an embedded worker of its own.
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'static.sqlite3'}",
        "GATEHOUSE_VAR_DIR": str(tmp_path / "var"),
    }
    process, base = start_asgi_worker(env)
    try:
        yield process, base
    finally:
        process.stop()


def test_static_files_are_served_whole_without_a_warning_in_the_log(worker):
    process, base = worker
    bundle = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    large = (SIDECAR / bundle).read_bytes()
    assert len(large) > 4 * BYTES_PER_READ  # read in several blocks
    with httpx.Client(base_url=base) as client:
        served = client.get(f"/static/{bundle}")
        small = client.get(f"/static/vendor/{HTMX.name}")
        head = client.head(f"/static/vendor/{HTMX.name}")
        again = client.get(
            f"/static/vendor/{HTMX.name}", headers={"If-None-Match": small.headers["etag"]}
        )
    assert served.status_code == 200 and served.content == large
    assert served.headers["content-length"] == str(len(large))
    assert small.status_code == 200 and small.content == HTMX.read_bytes()
    assert small.headers["content-type"].startswith("text/javascript")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(HTMX.read_bytes()))
    assert again.status_code == 304 and again.content == b""

    # Stopped, with its whole log still there to read.
    process.popen.terminate()
    process.popen.wait(timeout=30)
    log = process.output(tail=100_000)
    assert "Warning" not in log and "Traceback" not in log, log
