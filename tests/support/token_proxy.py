"""A forwarding proxy that adds a bearer token, for clients that cannot send one.

The conformance suite sends no credentials; this proxy lets it reach a gateway without opening
the gateway up. Bodies stream both ways, so SSE replies pass through as they are produced.
"""

import httpx

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}


class TokenProxy:
    def __init__(self, target_base: str, token: str):
        self.target_base = target_base.rstrip("/")
        self.token = token
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            if self._client is not None:
                await self._client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(120, connect=10))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in _HOP_BY_HOP | {"authorization"}
        ]
        headers.append(("authorization", f"Bearer {self.token}"))
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"{self.target_base}{scope['path']}" + (f"?{query}" if query else "")
        request = self._client.build_request(scope["method"], url, headers=headers, content=body)
        response = await self._client.send(request, stream=True)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in response.headers.multi_items()
                        if k.lower() not in _HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
