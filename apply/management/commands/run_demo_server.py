"""`manage.py run_demo_server`: the demo's remote MCP server (`apply/demo_server.py`)."""

import uvicorn
from django.core.management.base import BaseCommand, CommandError

from apply.demo_server import build_app
from core.listeners import AddressUnavailable, bind_tcp


class Command(BaseCommand):
    help = "Serve the demo's remote MCP server (world time) over Streamable HTTP at /mcp."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9001)

    def handle(self, *args, host, port, **options):
        try:
            listener = bind_tcp(host, port)
        except AddressUnavailable as exc:
            raise CommandError(f"The demo server cannot listen: {exc}.") from exc
        self.stdout.write(f"Demo MCP server (world time) on http://{host}:{port}/mcp")
        self.stdout.flush()
        config = uvicorn.Config(build_app(host=host), log_level="warning", lifespan="on")
        uvicorn.Server(config).run(sockets=[listener])
