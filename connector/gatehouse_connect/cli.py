"""`gatehouse-connect`: the command line."""

import argparse
import asyncio
import ipaddress
import os
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gatehouse_connect import __version__
from gatehouse_connect.allowlist import DEFAULT_PATH, Allowlist, ConfigError
from gatehouse_connect.display import printable, say
from gatehouse_connect.tunnel import EXIT_STOPPED, Connector

EXIT_USAGE = 2
TOKEN_ENV = "GATEHOUSE_CONNECTOR_TOKEN"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tunnel_url(platform: str, *, insecure: bool = False) -> str:
    """`https://host[/prefix]` -> `wss://host[/prefix]/connect/ws` (http -> ws).

    Plain `ws://` carries the token in clear, so it is refused unless the host is loopback or
    `insecure` says the network is trusted.
    """
    parts = urlsplit(platform.strip())
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}.get(parts.scheme.lower())
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        scheme = None
    if scheme is None or not parts.hostname:
        raise ValueError(
            "--platform must be an http(s) URL such as https://gatehouse.example.com, "
            f"not {platform!r}"
        )
    if scheme == "ws" and not insecure and not is_loopback(parts.hostname):
        raise ValueError(
            f"--platform {platform}: plain http would send the connector token unencrypted; "
            f"use https://{parts.netloc}, or add --insecure if this network is trusted "
            "(http to localhost or a loopback address is always allowed)"
        )
    path = parts.path.rstrip("/") + "/connect/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatehouse-connect",
        description="Serve this workstation's MCP servers to a Gatehouse platform.",
        epilog=f"The token may come from ${TOKEN_ENV} instead of --token (so it is not in ps).",
    )
    parser.add_argument("--platform", required=True, help="the platform's URL, https://HOST")
    parser.add_argument("--token", help=f"a connector token (gth_...); default ${TOKEN_ENV}")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="NAME",
        help="approve the server the platform offers under NAME and remember it (repeatable)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_PATH,
        help=f"the file of approved servers (default {DEFAULT_PATH})",
    )
    parser.add_argument(
        "--no-prompt",
        action="store_true",
        help="never ask at the terminal; serve only what the config file or --allow approves",
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        metavar="SECONDS",
        help="ping at least this often (default: what the platform asks, 15 s)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a plain http:// platform that is not loopback (the token goes unencrypted)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"gatehouse-connect: a token is required: --token or ${TOKEN_ENV}", file=sys.stderr)
        return EXIT_USAGE
    if args.heartbeat is not None and args.heartbeat <= 0:
        print(
            "gatehouse-connect: --heartbeat must be a positive number of seconds", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        url = tunnel_url(args.platform, insecure=args.insecure)
        allowlist = Allowlist.load(args.config)
    except (ValueError, ConfigError) as error:
        print(f"gatehouse-connect: {printable(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    connector = Connector(
        url=url,
        token=token,
        allowlist=allowlist,
        allow=args.allow,
        prompt=sys.stdin.isatty() and not args.no_prompt,
        heartbeat=args.heartbeat,
    )
    return asyncio.run(_serve(connector))


async def _serve(connector: Connector) -> int:
    """Run until the connector ends or SIGINT/SIGTERM; either way the children are stopped."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = asyncio.create_task(connector.run())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        stopping.cancel()
        await connector.shutdown()
        return running.result()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await connector.shutdown()
    say("stopped")
    return EXIT_STOPPED
