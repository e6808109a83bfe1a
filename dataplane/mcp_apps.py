"""MCP Apps (`io.modelcontextprotocol/ui`) through the gateway: the `ui://` resource a tool names,
in the gateway's form of that URI, and the names an app's HTML calls tools by.

A tool declares its app in `_meta.ui` (`resourceUri`, `visibility`); the HTML is a `ui://`
resource of the same upstream, read like any resource (`dataplane/namespacing.py` keeps the
scheme). An app calls tools "on the server that owns it", by the upstream's own names; behind a
gateway the host sends those calls to the gateway, where the names are namespaced. Such a name
is resolved to the gateway's only when exactly one assignment that offers an app offers a tool
by that name, callable by apps; curation and pinning still decide whether it may be called.
"""

from dataclasses import dataclass, field

from dataplane import namespacing, protocol
from dataplane.protocol import RpcError

# `_meta` keys naming a tool's `ui://` template: the extension's own, its deprecated flat form,
# and the OpenAI Apps SDK's.
_FLAT_KEYS = ("ui/resourceUri", "openai/outputTemplate")


def _ui(item: dict) -> dict:
    meta = item.get("_meta")
    ui = meta.get("ui") if isinstance(meta, dict) else None
    return ui if isinstance(ui, dict) else {}


def names_app(item: dict) -> bool:
    """Whether a tool names an app to render its results."""
    meta = item.get("_meta")
    if not isinstance(meta, dict):
        return False
    uris = [_ui(item).get("resourceUri"), *(meta.get(k) for k in _FLAT_KEYS)]
    return any(isinstance(u, str) and u.startswith(namespacing.UI_SCHEME) for u in uris)


def app_callable(item: dict) -> bool:
    """Whether an app may call the tool: `visibility` includes "app" (the default)."""
    visibility = _ui(item).get("visibility")
    return not isinstance(visibility, list) or "app" in visibility


def _gateway_uri(uri, namespace: str, prefixed: bool):
    if isinstance(uri, str) and uri.startswith(namespacing.UI_SCHEME):
        return namespacing.resource_uri(namespace, uri, prefixed=prefixed)
    return uri


def with_gateway_uris(item: dict, *, namespace: str, prefixed: bool, readable: bool) -> dict:
    """The tool with the `ui://` URIs of its `_meta` in the form a host reads through the
    gateway; without them when the assignment offers no resources (the host could not read
    the app, and falls back to the text result)."""
    meta = item.get("_meta")
    if not isinstance(meta, dict) or not names_app(item):
        return item
    meta = dict(meta)
    ui = _ui(item)
    if ui:
        ui = dict(ui)
        if readable:
            ui["resourceUri"] = _gateway_uri(ui.get("resourceUri"), namespace, prefixed)
        else:
            ui.pop("resourceUri", None)
        meta["ui"] = ui
    for key in _FLAT_KEYS:
        if key in meta:
            if readable:
                meta[key] = _gateway_uri(meta[key], namespace, prefixed)
            else:
                meta.pop(key)
    return dict(item, _meta=meta)


@dataclass
class AppTools:
    """Upstream tool name -> the gateway's name of that tool in each assignment that offers an
    app; None where curation filtered it out or pinning withholds it."""

    by_name: dict[str, list[str | None]] = field(default_factory=dict)

    def add(self, upstream_name: str, client_name: str | None) -> None:
        self.by_name.setdefault(upstream_name, []).append(client_name)

    def resolve(self, name: str) -> str | None:
        """The gateway's name for an app's call of `name`: None when `name` is not an app's,
        several servers offer it, or curation or pinning keeps it out (routing then answers
        for it as for any name it does not list)."""
        choices = self.by_name.get(name)
        return choices[0] if choices and len(choices) == 1 else None

    def refuse_ambiguous(self, name: str) -> None:
        """Refuse an app's call of a name several servers offer, naming the gateway's names."""
        choices = self.by_name.get(name) or []
        if len(choices) > 1:
            named = sorted(c for c in choices if c)
            raise RpcError(
                protocol.INVALID_PARAMS,
                f"Unknown tool: {name}. Several servers of this gateway offer a tool by that "
                f"name; call it by its name on the gateway: {', '.join(named)}.",
                {"candidates": named},
            )
