"""`manage.py run_managed`: the supervisor of managed (stdio) servers, on loopback."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.listeners import AddressUnavailable, bind_tcp
from servers.supervisor.app import serve
from servers.supervisor.auth import is_loopback


class Command(BaseCommand):
    help = (
        "Run managed MCP servers and bridge them to gateway workers as Streamable HTTP "
        "at /managed/<server_id>/mcp."
    )

    def add_arguments(self, parser):
        default = urlsplit(settings.MANAGED_SUPERVISOR_URL)
        parser.add_argument("--host", default=default.hostname or "127.0.0.1")
        parser.add_argument("--port", type=int, default=default.port or 8765)

    def handle(self, *args, host, port, **options):
        if not is_loopback(host) and host != "localhost":
            raise CommandError(f"The supervisor listens on loopback only; '{host}' is not.")
        try:
            listener = bind_tcp(host, port)
        except AddressUnavailable as exc:
            raise CommandError(
                f"The supervisor cannot listen: {exc}. Set MANAGED_SUPERVISOR_URL (SUPERVISOR_PORT "
                "for make run) to a free loopback port."
            ) from exc
        self.stdout.write(f"Supervising managed servers on http://{host}:{port}/managed/<id>/mcp")
        self.stdout.flush()
        serve(listener=listener)
