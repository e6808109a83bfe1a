"""How the upstream client reaches the managed-server supervisor: over its unix socket or its
loopback port (MANAGED_SUPERVISOR_URL), each request signed for itself and each answer's proof
checked before it is trusted (the scheme is in `servers.supervisor.auth`)."""

import asyncio
import weakref

import aiohttp
from yarl import URL

from servers.supervisor import address, auth

# aiohttp sessions on the socket, one per event loop, as for the upstreams' TCP sessions.
_sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]" = (
    weakref.WeakKeyDictionary()
)


class SupervisorLink:
    """The supervisor as the configuration names it, with the signing of requests to it."""

    def __init__(self, where: address.SupervisorAddress):
        self.socket_path = where.socket_path

    def sign(self, method: str, url: str, body: bytes) -> tuple[dict[str, str], str]:
        """(the header that proves this one request, its nonce for `proves`)."""
        header, nonce = auth.sign_request(method, URL(url).raw_path_qs, body)
        return {auth.REQUEST_HEADER: header}, nonce

    def proves(self, nonce: str, headers) -> bool:
        """Whether an answer's headers hold the supervisor's proof for the request's nonce."""
        return auth.proof_is_valid(nonce, headers.get(auth.PROOF_HEADER))

    def socket_session(self) -> aiohttp.ClientSession:
        """The running loop's aiohttp session on the socket (only with `socket_path`)."""
        loop = asyncio.get_running_loop()
        session = _sessions.get(loop)
        if session is None or session.closed or session.connector.path != self.socket_path:
            session = _sessions[loop] = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=self.socket_path, limit=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return session


def current() -> SupervisorLink:
    return SupervisorLink(address.configured())


async def close_socket_session() -> None:
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None and not session.closed:
        await session.close()
