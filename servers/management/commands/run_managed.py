"""`manage.py run_managed`: the supervisor of managed (stdio) servers, on a unix socket or
loopback TCP (MANAGED_SUPERVISOR_URL, or `--listen`)."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.listeners import AddressUnavailable, bind_tcp, bind_unix, remove_unix
from servers.supervisor.address import InvalidAddress, parse
from servers.supervisor.app import serve
from servers.supervisor.auth import is_loopback


class Command(BaseCommand):
    help = (
        "Run managed MCP servers and bridge them to gateway workers as Streamable HTTP "
        "at /managed/<server_id>/mcp."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--listen",
            default=None,
            help="unix:///path/to.sock or http://127.0.0.1:<port>; MANAGED_SUPERVISOR_URL if unset",
        )

    def handle(self, *args, listen, **options):
        try:
            address = parse(listen or settings.MANAGED_SUPERVISOR_URL)
        except InvalidAddress as exc:
            raise CommandError(f"The supervisor cannot listen: {exc}.") from exc
        if address.socket_path is None and not (
            is_loopback(address.host) or address.host == "localhost"
        ):
            raise CommandError(f"The supervisor listens on loopback only; '{address.host}' is not.")
        try:
            if address.socket_path:
                listener = bind_unix(address.socket_path)
            else:
                listener = bind_tcp(address.host, address.port)
        except AddressUnavailable as exc:
            raise CommandError(
                f"The supervisor cannot listen: {exc}. Set MANAGED_SUPERVISOR_URL (SUPERVISOR_URL "
                "for make run) to a free socket path or loopback port."
            ) from exc
        self.stdout.write(f"Supervising managed servers on {address}, at /managed/<id>/mcp")
        self.stdout.flush()
        if address.socket_path is None:
            serve(listener=listener)
            return
        inode = os.stat(address.socket_path).st_ino
        try:
            serve(listener=listener)
        finally:
            remove_unix(address.socket_path, inode)
