"""Discovery for clients and registries: the MCP catalog at `/.well-known/mcp/catalog.json`, and
a read-only MCP registry (API v0.1) of each workspace at `/registry/<workspace>/v0.1/...`.

Both list gateways, each the one approved URL of the servers behind it, and only the gateways
the caller's token opens (identities/inbound/discovery_access.py). The catalog is public by
design: without a token it lists nothing. The registry takes a token of its workspace: without
one it answers 401, and a token of another workspace gets the same 404 as a workspace that does
not exist. Answers and errors take the registry API's shapes (`{"error": ...}`), and no answer
lists tools. The Server Cards the catalog points at are served by the data plane
(dataplane/server_card.py).
"""

import base64
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from gateways import server_cards
from gateways.server_cards import GATEWAY_VERSION, GatewayFacts
from identities.inbound.discovery_access import Reader, Refusal, gateways_seen_by, reader_of
from teams.models import slug_validator

DEFAULT_LIMIT = 30
MAX_LIMIT = 100
_METHODS = ("GET", "HEAD", "OPTIONS")
# Read-only documents, readable from any page (the catalog spec asks for these headers).
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
}


class BadRequest(Exception):
    pass


def _answer(document: dict, status: int = 200, **headers) -> JsonResponse:
    response = JsonResponse(document, status=status)
    for name, value in {**_CORS, **headers}.items():
        response[name] = value
    # The answer depends on the token: a shared cache may keep an anonymous one only.
    response["Vary"] = "Authorization"
    return response


def _error(status: int, message: str, **headers) -> JsonResponse:
    return _answer({"error": message}, status, **headers)


def _refused(refusal: Refusal) -> JsonResponse:
    headers = {}
    if refusal.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="gatehouse", error="invalid_token"'
    if refusal.retry_after:
        headers["Retry-After"] = str(refusal.retry_after)
    return _error(refusal.status, refusal.detail, **headers)


def _read_only(view):
    """Answers a CORS preflight and refuses every method but a read."""

    @csrf_exempt
    def wrapper(request, *args, **kwargs):
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            for name, value in {**_CORS, "Access-Control-Max-Age": "3600"}.items():
                response[name] = value
            return response
        if request.method not in _METHODS:
            return _error(405, "Use GET.", Allow=", ".join(_METHODS))
        return view(request, *args, **kwargs)

    return wrapper


def _origin(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _facts(gateway, origin: str, workspace_slug: str) -> GatewayFacts:
    return GatewayFacts(
        origin=origin,
        workspace_slug=workspace_slug,
        slug=gateway.slug,
        name=gateway.name,
        description=gateway.description,
    )


# -- the catalog ---------------------------------------------------------------------------------


@_read_only
def catalog(request):
    reader = reader_of(request)
    if isinstance(reader, Refusal):
        return _refused(reader)
    if reader is None:
        return _answer(server_cards.catalog([]), **{"Cache-Control": "public, max-age=3600"})
    origin, workspace_slug = _origin(request), reader.membership.workspace.slug
    entries = [
        server_cards.catalog_entry(_facts(gateway, origin, workspace_slug))
        for gateway in gateways_seen_by(reader).only("slug", "name", "description")
    ]
    return _answer(server_cards.catalog(entries), **{"Cache-Control": "private, no-store"})


# -- the registry --------------------------------------------------------------------------------


def _registry_reader(request, workspace: str) -> Reader | JsonResponse:
    reader = reader_of(request)
    if reader is None:
        return _error(
            401,
            "Send a bearer token of this workspace: a gateway token, an OAuth access token or "
            "an api token.",
            **{"WWW-Authenticate": 'Bearer realm="gatehouse"'},
        )
    if isinstance(reader, Refusal):
        return _refused(reader)
    if reader.membership.workspace.slug != workspace:
        return _error(404, "Not found.")
    return reader


def _entry(gateway, facts: GatewayFacts) -> dict:
    return server_cards.registry_entry(
        facts,
        published_at=gateway.created_at.isoformat(),
        updated_at=gateway.updated_at.isoformat(),
    )


@dataclass(frozen=True)
class ListQuery:
    limit: int
    after: str | None
    search: str
    version: str | None
    updated_since: datetime | None


def _list_query(params) -> ListQuery:
    try:
        limit = int(params.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise BadRequest("limit must be a whole number.") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}.")
    updated_since = None
    if raw := params.get("updated_since"):
        try:
            updated_since = parse_datetime(raw)
        except ValueError:  # well formed but impossible, e.g. month 13
            updated_since = None
        if updated_since is None or updated_since.tzinfo is None:
            raise BadRequest("updated_since must be an RFC 3339 date-time with a time zone.")
    if params.get("include_deleted", "false").lower() not in ("true", "false"):
        raise BadRequest("include_deleted must be true or false.")
    return ListQuery(
        limit=limit,
        after=_cursor_slug(params["cursor"]) if params.get("cursor") else None,
        search=params.get("search", "").strip().lower(),
        version=params.get("version") or None,
        updated_since=updated_since,
    )


def _cursor(slug: str) -> str:
    return base64.urlsafe_b64encode(slug.encode()).decode().rstrip("=")


def _cursor_slug(cursor: str) -> str:
    """The slug a cursor of ours continues after; anything else is refused."""
    try:
        slug = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        slug_validator(slug)
    # ValueError covers binascii.Error, UnicodeDecodeError and non-ASCII input to the decoder.
    except (ValueError, ValidationError) as exc:
        raise BadRequest("cursor is not one this registry returned.") from exc
    return slug


def _is_ours(version: str | None) -> bool:
    return version in (None, "latest", GATEWAY_VERSION)


@_read_only
def servers(request, workspace):
    """`GET /v0.1/servers`: the gateways the caller may use, by name, `limit` at a time."""
    reader = _registry_reader(request, workspace)
    if isinstance(reader, JsonResponse):
        return reader
    try:
        query = _list_query(request.GET)
    except BadRequest as exc:
        return _error(400, str(exc))
    gateways = gateways_seen_by(reader)
    if query.after is not None:
        gateways = gateways.filter(slug__gt=query.after)
    if query.updated_since is not None:
        gateways = gateways.filter(updated_at__gt=query.updated_since)
    if not _is_ours(query.version):
        gateways = gateways.none()
    origin = _origin(request)
    page, more = [], False
    for gateway in gateways.iterator():
        facts = _facts(gateway, origin, workspace)
        # A substring of the name, as the registry's search is; the namespace is the same for all.
        if query.search and query.search not in facts.server_name.lower():
            continue
        if len(page) == query.limit:
            more = True
            break
        page.append((gateway, facts))
    metadata = {"count": len(page)}
    if more:
        metadata["nextCursor"] = _cursor(page[-1][0].slug)
    return _answer({"servers": [_entry(g, f) for g, f in page], "metadata": metadata})


def _named(request, reader: Reader, workspace: str, server_name: str):
    """The gateway the caller may see under this server name, and its facts; else None."""
    namespace, _, slug = server_name.partition("/")
    origin = _origin(request)
    if namespace != server_cards.namespace(origin, workspace) or not slug:
        return None
    gateway = gateways_seen_by(reader).filter(slug=slug).first()
    return (gateway, _facts(gateway, origin, workspace)) if gateway else None


def _named_or_refusal(request, workspace: str, server_name: str):
    """The named gateway and its facts, or the answer refusing the reader or the name."""
    reader = _registry_reader(request, workspace)
    if isinstance(reader, JsonResponse):
        return reader
    return _named(request, reader, workspace, server_name) or _error(404, "Server not found.")


@_read_only
def server_versions(request, workspace, server_name):
    """`GET /v0.1/servers/{serverName}/versions`: a gateway has one version, the live one."""
    named = _named_or_refusal(request, workspace, server_name)
    if isinstance(named, JsonResponse):
        return named
    return _answer({"servers": [_entry(*named)], "metadata": {"count": 1}})


@_read_only
def server_version(request, workspace, server_name, version):
    """`GET /v0.1/servers/{serverName}/versions/{version}`; `latest` names the live one."""
    named = _named_or_refusal(request, workspace, server_name)
    if isinstance(named, JsonResponse):
        return named
    if not _is_ours(version):
        return _error(404, "Server version not found.")
    return _answer(_entry(*named))
