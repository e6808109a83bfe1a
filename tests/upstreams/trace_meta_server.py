"""The catalog upstream with one more tool, ``trace_meta``, that answers with the ``_meta`` its
request arrived with (the protocol's own envelope left out), so a test sees the trace context
(SEP-414) that reached the upstream.

Run it as the catalog server: ``python tests/upstreams/trace_meta_server.py --port N
[--era handshake|modern|both] [--json]``.
"""

import json

import catalog_server
from mcp.server.mcpserver import Context


@catalog_server.server.tool(annotations=catalog_server.READ_ONLY)
def trace_meta(ctx: Context) -> str:
    """Report the `_meta` this request arrived with."""
    meta = ctx.request_context.meta or {}
    return json.dumps(
        {
            key: value
            for key, value in meta.items()
            if not key.startswith("io.modelcontextprotocol/")
        }
    )


if __name__ == "__main__":
    catalog_server.main()
