"""The OAuth 2.1 authorization server that clients use to reach a gateway.

Built on django-oauth-toolkit: this package adds what the MCP authorization specification asks
for on top of it (one gateway per token through resource indicators, per-gateway protected
resource metadata, a consent page that names the client and the gateway, client ID metadata
documents fetched with SSRF protection).
"""
