"""Programs on the official MCP SDKs, which present a gateway token read from the environment.

The SDKs' OAuth providers need the program to store tokens and handle the browser redirect, which
no short snippet can do well, so the SDKs are shown with a token only.
"""

import json

from gateways.client_setup.model import TOKEN_ENV, ClientSetup, Variant

GROUP = "Code"

PYTHON = """\
import asyncio
import os

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

URL = {url}


async def main():
    headers = {{"Authorization": f"Bearer {{os.environ['{env}']}}"}}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with Client(streamable_http_client(URL, http_client=http)) as client:
            result = await client.list_tools()
            print([tool.name for tool in result.tools])


asyncio.run(main())
"""

TYPESCRIPT = """\
import {{ Client }} from "@modelcontextprotocol/sdk/client/index.js";
import {{
  StreamableHTTPClientTransport,
}} from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const transport = new StreamableHTTPClientTransport(new URL({url}), {{
  requestInit: {{ headers: {{ Authorization: `Bearer ${{process.env.{env}}}` }} }},
}});
const client = new Client({{ name: {name}, version: "1.0.0" }});
await client.connect(transport);
const {{ tools }} = await client.listTools();
console.log(tools.map((tool) => tool.name));
await client.close();
"""


def python(*, name: str, url: str) -> ClientSetup:
    return ClientSetup(
        key="python",
        client="Python SDK",
        group=GROUP,
        oauth=None,
        token=Variant(
            "a Python file (pip install mcp)",
            PYTHON.format(url=json.dumps(url), env=TOKEN_ENV),
            "python",
        ),
    )


def typescript(*, name: str, url: str) -> ClientSetup:
    text = TYPESCRIPT.format(url=json.dumps(url), name=json.dumps(name), env=TOKEN_ENV)
    return ClientSetup(
        key="typescript",
        client="TypeScript SDK",
        group=GROUP,
        oauth=None,
        token=Variant("an ES module (npm install @modelcontextprotocol/sdk)", text, "typescript"),
    )


def setups(*, name: str, url: str) -> list[ClientSetup]:
    return [python(name=name, url=url), typescript(name=name, url=url)]
