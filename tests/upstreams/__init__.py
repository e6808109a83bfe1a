"""MCP servers the test suite runs as real upstreams."""
