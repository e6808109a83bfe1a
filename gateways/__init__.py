"""Gateways: one governed MCP URL, the servers assigned to it, and the data plane behind it."""
