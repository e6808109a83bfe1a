"""The periodic health checks: every server's catalog and health, one server at a time.

With a broker, Celery beat runs `servers.refresh_catalogs` every `HEALTH_CHECK_SECONDS`.
Embedded (tasks run inline, no beat process) nothing else would, so `manage.py serve` starts
`EmbeddedChecks`: one thread per process, off the request path, a first pass shortly after
start and then one pass per interval. Each check is bounded by the discovery timeout (or the
server's own longer handshake), and each write is one short statement, so SQLite is never
held for the length of a check.
"""

import logging
import threading

from django.conf import settings
from django.db import connection

from servers.discovery import refresh_catalog
from servers.models import Server

logger = logging.getLogger(__name__)

# Long enough for the servers started beside `serve` (the demo's) to be listening.
FIRST_PASS_AFTER_SECONDS = 3.0
# The longest handshake a scheduled check waits for (the demo's first `npx` start needs 90 s).
HANDSHAKE_CAP_SECONDS = 120


def check_server(server_id: int) -> str | None:
    """Check one server now; its health, or None when it is gone."""
    server = Server.objects.filter(pk=server_id).first()
    if server is None:
        return None
    # A server given a longer handshake (a managed one whose first start downloads it) gets it,
    # up to a cap; the whole check, lists included, ends within that and one discovery timeout,
    # so a slow server holds the checks of the others for a bounded time.
    discovery = settings.UPSTREAM_DISCOVERY_TIMEOUT_SECONDS
    handshake = min(server.handshake_timeout_seconds or 0, HANDSHAKE_CAP_SECONDS)
    timeout = max(discovery, handshake)
    return refresh_catalog(server=server, timeout=timeout, deadline=timeout + discovery).health


def check_all_servers(*, stop: threading.Event | None = None) -> int:
    """Check every server in turn until done or `stop` is set; returns how many were checked."""
    checked = 0
    for server_id in Server.objects.order_by("pk").values_list("pk", flat=True):
        if stop is not None and stop.is_set():
            break
        try:
            check_server(server_id)
        except Exception:  # noqa: BLE001 - one server's failure must not end the others' checks
            logger.exception("health check of server %s failed", server_id)
        checked += 1
    return checked


class EmbeddedChecks:
    """The checks on a daemon thread of the serving process, stopped with it."""

    def __init__(self, *, every: float, first_after: float = FIRST_PASS_AFTER_SECONDS):
        self.every = every
        self.first_after = first_after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-checks", daemon=True)

    def start(self) -> "EmbeddedChecks":
        self._thread.start()
        return self

    def stop(self, *, timeout: float) -> bool:
        """Ask the thread to stop and wait for a check in progress; False if it did not end."""
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        wait = self.first_after
        while not self._stop.wait(wait):
            try:
                check_all_servers(stop=self._stop)
            except Exception:  # noqa: BLE001 - the next pass may find the database again
                logger.exception("health checks could not run")
            finally:
                # The thread holds no connection (nor SQLite lock) between passes.
                connection.close()
            wait = self.every


_lock = threading.Lock()
_running: EmbeddedChecks | None = None


def start_embedded_checks() -> EmbeddedChecks | None:
    """Start the checks in this process when nothing else runs them: tasks run inline (no
    broker, so no beat) and an interval is set. One per process; None when not started."""
    global _running
    if not settings.CELERY_TASK_ALWAYS_EAGER or settings.HEALTH_CHECK_SECONDS <= 0:
        return None
    with _lock:
        if _running is None:
            _running = EmbeddedChecks(every=settings.HEALTH_CHECK_SECONDS).start()
        return _running


def stop_embedded_checks(*, timeout: float) -> bool:
    """Stop this process's checks, if started; False if a check was still running at `timeout`."""
    global _running
    with _lock:
        running, _running = _running, None
    return running is None or running.stop(timeout=timeout)
