"""An SDK upstream that offers an MCP App (`io.modelcontextprotocol/ui`), served in-process for
the gateway tests: `get_weather` renders `ui://weather/view.html`, whose HTML calls the app-only
`refresh_forecast` and `reset_station` by their own names; `forecast_text` is for the model only;
`declared_extensions` tells which extensions the caller (the gateway) declared.
"""

from mcp.server.mcpserver import Context, MCPServer

VIEW_URI = "ui://weather/view.html"
MIME_TYPE = "text/html;profile=mcp-app"
VIEW_META = {
    "ui": {
        "csp": {"connectDomains": ["https://api.weather.test"]},
        "domain": "weather.apps.test",
        "prefersBorder": True,
    }
}
VIEW_HTML = (
    "<!DOCTYPE html><html><body><div id='forecast'></div><script>"
    "window.parent.postMessage({jsonrpc: '2.0', id: 1, method: 'tools/call',"
    " params: {name: 'refresh_forecast', arguments: {city: 'Oslo'}}}, '*');"
    "</script></body></html>"
)


def build(name: str = "weather") -> MCPServer:
    server = MCPServer(name)

    @server.tool(meta={"ui": {"resourceUri": VIEW_URI}})
    def get_weather(city: str) -> str:
        """The weather in a city, shown in the weather view."""
        return f"{city}: 12C, light rain"

    @server.tool(meta={"ui": {"resourceUri": VIEW_URI, "visibility": ["app"]}})
    def refresh_forecast(city: str) -> str:
        """Fresh forecast data for the view."""
        return f"{city}: forecast refreshed"

    @server.tool(meta={"ui": {"resourceUri": VIEW_URI, "visibility": ["app"]}})
    def reset_station(station: str) -> str:
        """Reset a weather station (the view's admin button)."""
        return f"{station} reset"

    @server.tool(meta={"ui": {"visibility": ["model"]}})
    def forecast_text(city: str) -> str:
        """The forecast as text, for the model only."""
        return f"{city}: rain all week"

    @server.tool()
    def declared_extensions(ctx: Context) -> str:
        """The extensions the calling client declared, comma-separated."""
        capabilities = ctx.client_capabilities
        return ",".join(sorted((capabilities.extensions or {}) if capabilities else {}))

    @server.resource(VIEW_URI, mime_type=MIME_TYPE, meta=VIEW_META)
    def view() -> str:
        return VIEW_HTML

    return server
