"""The SCIM endpoint, `/scim/v2/<workspace>/...`: reads the request, authenticates the SCIM
token (identities/inbound/scim_access.py), calls the selectors and services, and answers in
`application/scim+json`, errors in the SCIM error format (RFC 7644 section 3.12)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial, wraps

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from scim2_models import Context, SearchRequest

from identities.inbound.scim_access import Refusal, scim_caller
from identities.scim import discovery, documents, selectors, services
from identities.scim.errors import ScimError, invalid_syntax, invalid_value, not_found

CONTENT_TYPE = "application/scim+json"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
MAX_BODY = 1024 * 1024
DEFAULT_COUNT = 100


def _answer(document, status=200, *, etag=None, location=None) -> HttpResponse:
    body = json.dumps(document) if document is not None else ""
    response = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
    if etag:
        response["ETag"] = etag
    if location:
        response["Location"] = location
    return response


def _error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    document = {"schemas": [ERROR_URN], "status": str(status), "detail": detail}
    if scim_type:
        document["scimType"] = scim_type
    return _answer(document, status)


def scim_view(methods):
    """Authenticates the workspace's SCIM client and maps every error to a SCIM error."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, workspace, **kwargs):
            caller = scim_caller(request, workspace)
            if isinstance(caller, Refusal):
                response = _error(caller.status, caller.detail)
                if caller.status == 401:
                    response["WWW-Authenticate"] = 'Bearer realm="scim"'
                if caller.retry_after:
                    response["Retry-After"] = str(caller.retry_after)
                return response
            if request.method not in methods:
                response = _error(405, f"{request.method} is not allowed here.")
                response["Allow"] = ", ".join(methods)
                return response
            workspace, token = caller
            request.scim_client = services.ScimClient(name=token.name)
            request.scim_base = request.build_absolute_uri(f"/scim/v2/{workspace.slug}/")
            try:
                return view(request, workspace, **kwargs)
            except ScimError as exc:
                return _error(exc.status, exc.message, exc.scim_type)

        return wrapper

    return decorate


def _body(request) -> dict:
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        raise ScimError(f"The body is larger than {MAX_BODY} bytes.", status=413)
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise ScimError(f"The body is larger than {MAX_BODY} bytes.", status=413) from exc
    if len(raw) > MAX_BODY:
        raise ScimError(f"The body is larger than {MAX_BODY} bytes.", status=413)
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_syntax("The body is not JSON.") from exc
    if not isinstance(body, dict):
        raise invalid_syntax("The body must be a JSON object.")
    return body


def _int(value, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise invalid_value(f"{name} must be an integer.") from exc


def _names(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value]


class _Query:
    """A list's parameters, from the query string (GET) or a SearchRequest (POST .search)."""

    def __init__(self, params: dict):
        self.filter = params.get("filter") or None
        self.start = max(_int(params.get("startIndex"), "startIndex", 1), 1)
        self.count = min(max(_int(params.get("count"), "count", DEFAULT_COUNT), 0), 200)
        self.attributes = _names(params.get("attributes"))
        self.excluded = _names(params.get("excludedAttributes"))


def _search_params(request) -> dict:
    body = _body(request)
    documents.read(SearchRequest, body, context=Context.SEARCH_REQUEST)
    return body


def _list(query: _Query, *sources) -> HttpResponse:
    """One page of the rows of `sources`, each a (queryset, render) pair, listed in turn."""
    total, resources = 0, []
    skip, room = query.start - 1, query.count
    for queryset, render in sources:
        count = queryset.count()
        total += count
        if room > 0 and skip < count:
            rows = list(queryset[skip : skip + room])
            resources += [
                documents.shaped(render(row), attributes=query.attributes, excluded=query.excluded)
                for row in rows
            ]
            room -= len(rows)
        skip = max(skip - count, 0)
    return _answer(
        {
            "schemas": [LIST_URN],
            "totalResults": total,
            "startIndex": query.start,
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
    )


def _check_if_match(request, document: dict) -> None:
    wanted = request.headers.get("If-Match")
    if wanted and wanted.strip() != "*" and document["meta"]["version"] not in wanted:
        raise ScimError("The resource changed since that version (If-Match).", status=412)


def _one(request, document: dict, status=200, location=None) -> HttpResponse:
    etag = document["meta"]["version"]
    if request.method == "GET" and etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
        response["ETag"] = etag
        return response
    shaped = documents.shaped(
        document,
        attributes=_names(request.GET.get("attributes")),
        excluded=_names(request.GET.get("excludedAttributes")),
    )
    return _answer(shaped, status, etag=etag, location=location)


# -- discovery ---------------------------------------------------------------------------------


@scim_view({"GET"})
def service_provider_config(request, workspace):
    document = discovery.service_provider_config(request.scim_base)
    return _answer(document)


def _catalogue(found: dict, key, resource_type: str) -> HttpResponse:
    """All of a discovery resource as a list, or the one named `key`."""
    if key is None:
        items = list(found.values())
        return _answer(
            {
                "schemas": [LIST_URN],
                "totalResults": len(items),
                "startIndex": 1,
                "itemsPerPage": len(items),
                "Resources": items,
            }
        )
    if key not in found:
        raise not_found(resource_type, key)
    return _answer(found[key])


@scim_view({"GET"})
def resource_types(request, workspace, name=None):
    return _catalogue(discovery.resource_types(request.scim_base), name, "ResourceType")


@scim_view({"GET"})
def schemas(request, workspace, urn=None):
    return _catalogue(discovery.schemas(request.scim_base), urn, "Schema")


@scim_view({"POST"})
def search(request, workspace):
    """`/.search` over Users and Groups at once; a filter naming an attribute only one of them
    has matches none of the other."""
    query = _Query(_search_params(request))
    sources, refused = [], None
    for kind in KINDS:
        try:
            sources.append(
                (kind.rows(workspace, filter_text=query.filter), partial(_document, request, kind))
            )
        except ScimError as exc:
            refused = exc
    if not sources:
        raise refused
    return _list(query, *sources)


@scim_view({"GET", "POST", "PUT", "PATCH", "DELETE"})
def unknown(request, workspace, rest=""):
    raise ScimError(f"There is no SCIM endpoint at '{rest}'.", status=404)


# -- Users and Groups --------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceKind:
    """A resource type the endpoint serves: the model it reads bodies with, the selectors that
    list and find its rows, how a row becomes a document, and the services that write it (each
    takes the row by the keyword `row_arg`)."""

    name: str
    endpoint: str
    model: type
    rows: Callable
    access: Callable
    document: Callable
    row_arg: str
    create: Callable
    replace: Callable
    patch: Callable
    delete: Callable


USERS = ResourceKind(
    name="User",
    endpoint="Users",
    model=documents.USER_MODEL,
    rows=selectors.users_of,
    access=selectors.access_user,
    document=lambda membership, base: documents.user_document(membership, base=base),
    row_arg="membership",
    create=services.create_user,
    replace=services.replace_user,
    patch=services.patch_user,
    delete=services.delete_user,
)
GROUPS = ResourceKind(
    name="Group",
    endpoint="Groups",
    model=documents.GROUP_MODEL,
    rows=selectors.groups_of,
    access=selectors.access_group,
    document=lambda team, base: documents.group_document(
        team, base=base, members=team.memberships.all()
    ),
    row_arg="team",
    create=services.create_group,
    replace=services.replace_group,
    patch=services.patch_group,
    delete=services.delete_group,
)
KINDS = (USERS, GROUPS)


def _document(request, kind: ResourceKind, row) -> dict:
    return kind.document(row, request.scim_base)


def _page(request, workspace, kind: ResourceKind, query: _Query) -> HttpResponse:
    rows = kind.rows(workspace, filter_text=query.filter)
    return _list(query, (rows, partial(_document, request, kind)))


def collection_view(kind: ResourceKind):
    """`/Users`, `/Groups`: GET lists (with a filter), POST creates."""

    @scim_view({"GET", "POST"})
    def collection(request, workspace):
        if request.method == "POST":
            resource = documents.read(
                kind.model, _body(request), context=Context.RESOURCE_CREATION_REQUEST
            )
            created = kind.create(
                workspace=workspace, resource=resource, client=request.scim_client
            )
            document = _document(request, kind, kind.access(workspace, created.scim_id))
            return _one(request, document, 201, document["meta"]["location"])
        return _page(request, workspace, kind, _Query(request.GET))

    return collection


def search_view(kind: ResourceKind):
    """`/Users/.search`, `/Groups/.search`: the list, its parameters in a SearchRequest."""

    @scim_view({"POST"})
    def kind_search(request, workspace):
        return _page(request, workspace, kind, _Query(_search_params(request)))

    return kind_search


def resource_view(kind: ResourceKind):
    """`/Users/<id>`, `/Groups/<id>`: GET, and PUT, PATCH, DELETE under If-Match."""

    @scim_view({"GET", "PUT", "PATCH", "DELETE"})
    def item(request, workspace, scim_id):
        row = kind.access(workspace, scim_id)
        if request.method == "GET":
            return _one(request, _document(request, kind, row))
        _check_if_match(request, _document(request, kind, row))
        target = {kind.row_arg: row, "client": request.scim_client}
        if request.method == "DELETE":
            kind.delete(**target)
            return HttpResponse(status=204)
        if request.method == "PUT":
            resource = documents.read(
                kind.model, _body(request), context=Context.RESOURCE_REPLACEMENT_REQUEST
            )
            kind.replace(**target, resource=resource)
        else:
            kind.patch(**target, body=_body(request), base=request.scim_base)
        return _one(request, _document(request, kind, kind.access(workspace, scim_id)))

    return item
