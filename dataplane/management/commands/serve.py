"""`manage.py serve`: run the ASGI application (console, API and MCP endpoints).

uvicorn by default; `--workers N` starts N worker processes sharing one socket. Daphne is kept
as an alternative for environments that standardise on it (one process; scale out with more
instances behind the load balancer).
"""

import uvicorn
from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

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
        self.stdout.flush()
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
