"""Upstream MCP servers: definitions, discovered catalogs, health, and the upstream client pool."""
