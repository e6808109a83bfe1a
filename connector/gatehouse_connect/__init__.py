"""gatehouse-connect: serves a workstation's MCP servers to a Gatehouse platform."""

__version__ = "0.1.0"
