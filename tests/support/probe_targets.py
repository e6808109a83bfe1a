"""Live servers for the identity probe, one per answer a remote server can give, each on a real
loopback socket for the whole test session:

* ``oauth_dynamic_upstream``: tests/identities/oauth_upstream.py, an MCP server behind its own
  authorization server that registers clients dynamically;
* ``oauth_preregistered_upstream``: the same without a registration endpoint;
* ``oauth_document_upstream``: no registration endpoint, but client ID metadata documents taken;
* ``token_upstream``: tests/identities/identity_upstream.py, 401 without any OAuth metadata
  (Streamable HTTP at ``.url``, HTTP+SSE at ``.sse_url``);
* ``legacy_sse_url``: an open SDK server over the HTTP+SSE transport;
* ``web_page_url``: a web server that answers every request with an HTML page;
* ``silent_url``: a socket that accepts connections and never answers;
* ``closed_url``: a port nothing listens on.

The OAuth upstreams are on loopback, so tests that follow their metadata set
``UPSTREAM_OAUTH_ALLOW_PRIVATE`` (the ``private_oauth`` fixture).
"""

import socket

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.dataplane import upstream_app
from tests.identities.identity_upstream import IdentityUpstream
from tests.identities.oauth_upstream import OAuthUpstream
from tests.support.live import ThreadedServer, free_port


def _oauth(registration: bool, metadata_documents: bool = False):
    port = free_port()
    upstream = OAuthUpstream(port, metadata_documents=metadata_documents, registration=registration)
    server = ThreadedServer(upstream, port=port).start()
    return upstream, server


@pytest.fixture(scope="session")
def oauth_dynamic_upstream():
    upstream, server = _oauth(registration=True)
    yield upstream
    server.stop()


@pytest.fixture(scope="session")
def oauth_preregistered_upstream():
    upstream, server = _oauth(registration=False)
    yield upstream
    server.stop()


@pytest.fixture(scope="session")
def oauth_document_upstream():
    upstream, server = _oauth(registration=False, metadata_documents=True)
    yield upstream
    server.stop()


@pytest.fixture(scope="session")
def token_upstream():
    app = IdentityUpstream()
    server = ThreadedServer(app).start()
    app.url, app.sse_url = f"{server.url}/mcp", f"{server.url}/sse"
    yield app
    server.stop()


@pytest.fixture(scope="session")
def legacy_sse_url():
    server = ThreadedServer(upstream_app.build().sse_app()).start()
    yield f"{server.url}/sse"
    server.stop()


async def _web_page(request):
    return HTMLResponse("<h1>Welcome</h1>")


@pytest.fixture(scope="session")
def web_page_url():
    app = Starlette(routes=[Route("/{path:path}", _web_page, methods=["GET", "POST", "DELETE"])])
    server = ThreadedServer(app).start()
    yield f"{server.url}/mcp"
    server.stop()


@pytest.fixture(scope="session")
def silent_url():
    # Listening without ever accepting: the kernel completes connections, nobody answers.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    sock.close()


@pytest.fixture
def closed_url():
    return f"http://127.0.0.1:{free_port()}/mcp"


@pytest.fixture
def private_oauth(settings):
    settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = True
