"""The OAuth 2.1 authorization server that clients use to reach a gateway.

Built on django-oauth-toolkit: this package adds what the MCP authorization specification asks
for on top of it (one gateway per token through resource indicators, or a workspace URL whose
gateway the person picks at consent; protected resource metadata per gateway and per workspace;
a consent page that names the client and the gateway and lets the person connect the upstream
accounts it needs; client ID metadata documents fetched with SSRF protection).
"""
