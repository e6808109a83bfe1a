"""The benchmark's floor: the least a forwarding proxy does, as a raw ASGI app.

It parses the POST body, renames the tool as a gateway would (`a__echo` -> `echo`), forwards it
to `BENCH_UPSTREAM_URL` over one shared aiohttp session with keep-alive, and returns the reply.
No authentication, routing, policy or audit: the gateway's overhead is measured against this.
"""

import json
import os

import aiohttp

UPSTREAM_URL = os.environ.get("BENCH_UPSTREAM_URL", "http://127.0.0.1:9100/mcp")
_http: aiohttp.ClientSession | None = None


async def app(scope, receive, send):
    global _http
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        if _http is not None:
            await _http.close()
        await send({"type": "lifespan.shutdown.complete"})
        return
    if _http is None:
        _http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    request = json.loads(b"".join(chunks))
    params = request.get("params") or {}
    if isinstance(params.get("name"), str):
        params["name"] = params["name"].partition("__")[2] or params["name"]
    headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.startswith(b"mcp-")}
    headers["content-type"] = "application/json"
    if "mcp-name" in headers:
        headers["mcp-name"] = params["name"]
    async with _http.post(UPSTREAM_URL, data=json.dumps(request), headers=headers) as reply:
        body = await reply.read()
        content_type = reply.headers.get("content-type", "application/json").encode()
        status = reply.status
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }
    )
    await send({"type": "http.response.body", "body": body})
