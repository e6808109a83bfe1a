"""Makes the upstream fixtures available to the tests in this folder."""

from tests.support.upstreams import (  # noqa: F401
    catalog_handshake_url,
    catalog_json_url,
    catalog_modern_url,
    catalog_server_url,
    conformance_server_url,
    server_everything_argv,
    upstream_servers,
)
