"""`manage.py serve`: run the ASGI application (console, API and MCP endpoints).

uvicorn by default; `--workers N` starts N worker processes sharing one socket. Daphne is kept
as an alternative for environments that standardise on it (one process; scale out with more
instances behind the load balancer).

Without a broker (tasks run inline, no Celery beat), the process also checks every server's
health on a thread of its own (`servers/health_checks.py`), stopped once the server has.
"""

import signal

import uvicorn
from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from servers import health_checks

APP = "config.asgi:application"


class Command(BaseCommand):
    help = "Serve Gatehouse over HTTP with an ASGI server."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1, help="worker processes (uvicorn)")
        parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")

    def handle(self, *args, host, port, workers, server, **options):
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535.")
        if server == "daphne" and workers > 1:
            raise CommandError("Daphne runs one process; use --server uvicorn for --workers.")
        shown = f"[{host}]" if ":" in host else host
        plural = "s" if workers > 1 else ""
        self.stdout.write(
            f"Gatehouse is serving on http://{shown}:{port}/ ({server}, {workers} worker{plural})."
            " Press Ctrl+C to stop."
        )
        self._checks = health_checks.start_embedded_checks()
        if self._checks is not None:
            self.stdout.write(f"Server health is checked every {self._checks.every:g} s.")
            self._stop_checks_on_signals()
        self.stdout.flush()
        try:
            self._serve(host=host, port=port, workers=workers, server=server)
        finally:
            self._stop_checks()

    def _stop_checks(self):
        if self._checks is None:
            return
        self._checks = None
        # A check still waiting on an upstream ends with the process (a daemon thread).
        stopped = health_checks.stop_embedded_checks(timeout=settings.SHUTDOWN_GRACE_SECONDS)
        self.stdout.write("Health checks stopped." if stopped else "A health check was cut short.")
        self.stdout.flush()

    def _stop_checks_on_signals(self):
        """uvicorn shuts down gracefully on SIGTERM or SIGINT, puts back the handlers it found
        and raises the signal again: found, these stop the checks before the process ends."""
        for number in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(number)

            def handler(signum, frame, previous=previous):
                self._stop_checks()
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
                signal.raise_signal(signum)

            signal.signal(number, handler)

    def _serve(self, *, host, port, workers, server):
        if server == "daphne":
            CommandLineInterface().run(["--bind", host, "--port", str(port), APP])
            return
        # The lifespan protocol is what flushes the audit log when a worker stops gracefully
        # (and freezes start-up objects out of the collector's way): always on.
        # Forwarded headers are trusted by TRUSTED_PROXIES (core/rate_limiting.py), not by
        # uvicorn's own default, which believes any X-Forwarded-For sent from loopback.
        uvicorn.run(
            APP,
            host=host,
            port=port,
            workers=workers,
            lifespan="on",
            log_level="warning",
            proxy_headers=False,
            # Without it an open event stream keeps a stopping worker alive for good.
            timeout_graceful_shutdown=settings.SHUTDOWN_GRACE_SECONDS,
        )
