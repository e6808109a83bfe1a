"""Gateways: one governed MCP URL, the servers assigned to it, and the teams it is provisioned
to. The data plane that serves it is the `dataplane` package."""
