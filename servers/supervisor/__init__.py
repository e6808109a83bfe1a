"""The managed-server supervisor: runs stdio MCP servers and bridges them to Streamable HTTP.

Gateway workers never spawn processes. One `manage.py run_managed` process owns every managed
server's children, pools them with a cap, and serves each server on loopback at
`/managed/<server_id>/mcp`, so the gateway reaches it like any remote MCP server.
"""
