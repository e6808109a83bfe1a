"""A tiny stdio MCP server the connector tests run as a workstation server.

Tools: whoami (the env var WHOAMI_LABEL), env (the sorted names of its environment), crash
(exits the process with code 7).
"""

import json
import os
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("echo-stdio")


@server.tool()
def whoami() -> str:
    """The value of WHOAMI_LABEL in this process's environment."""
    return os.environ.get("WHOAMI_LABEL", "(unset)")


@server.tool()
def env() -> str:
    """The sorted names of this process's environment variables, as a JSON list."""
    return json.dumps(sorted(os.environ))


@server.tool()
def crash() -> str:
    """Exit the process at once, as a server that crashes does."""
    os._exit(7)


if __name__ == "__main__":
    print("echo-stdio starting", file=sys.stderr, flush=True)
    server.run("stdio")
