"""Names clients see: `<namespace>__<name>` for tools and prompts, a prefix for resource URIs.

A resource URI becomes `mcpgw://<namespace>/<upstream URI>`, except an MCP App's `ui://` URI,
which stays a `ui://` URI (hosts render only that scheme): `ui://<namespace>/<host and path>`.

Tool and prompt names match what clients accept, `^[a-zA-Z0-9_-]{1,64}$` (Claude's and OpenAI's
pattern; the specification also allows '.', and one such name makes those clients refuse the
whole list), within MCP_TOOL_NAME_MAX_LENGTH (Cursor allows 60 for server plus tool). Any other
character becomes '_', and a name that was mapped or cut is given a digest of the full name, so
two names never meet and each stays stable across restarts and workers.
"""

import hashlib
import re

from django.conf import settings

SEPARATOR = "__"
_INVALID = re.compile(r"[^A-Za-z0-9_-]")
CLIENT_LIMIT = 64
RESOURCE_SCHEME = "mcpgw"
UI_SCHEME = "ui://"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def client_name(namespace: str, name: str, *, prefixed: bool, max_length: int | None = None) -> str:
    max_length = min(max_length or settings.MCP_TOOL_NAME_MAX_LENGTH, CLIENT_LIMIT)
    full = f"{namespace}{SEPARATOR}{name}" if prefixed and namespace else name
    safe = _INVALID.sub("_", full)
    if safe == full and 0 < len(full) <= max_length:
        return full
    # Replaced characters or a cut could make two names equal: the digest keeps them apart.
    suffix = _digest(full)
    return f"{safe[: max_length - len(suffix) - 1]}_{suffix}"


def resource_uri(namespace: str, uri: str, *, prefixed: bool) -> str:
    """A client-facing URI; reversible and unambiguous because namespaces never contain '/'."""
    if not prefixed or not namespace:
        return uri
    if uri.startswith(UI_SCHEME):
        return f"{UI_SCHEME}{namespace}/{uri[len(UI_SCHEME) :]}"
    return f"{RESOURCE_SCHEME}://{namespace}/{uri}"


def split_resource_uri(uri: str) -> tuple[str, str] | None:
    """(namespace, upstream uri) for a URI that may be prefixed, or None when it cannot be.

    A `ui://` URI splits whether or not it was prefixed (an unprefixed assignment passes the
    upstream's own through): the caller keeps the split only when the namespace is one of its
    assignments'."""
    if uri.startswith(UI_SCHEME):
        namespace, sep, rest = uri[len(UI_SCHEME) :].partition("/")
        return (namespace, UI_SCHEME + rest) if sep and namespace else None
    head = f"{RESOURCE_SCHEME}://"
    if not uri.startswith(head):
        return None
    namespace, sep, rest = uri[len(head) :].partition("/")
    if not sep or not namespace:
        return None
    return namespace, rest
