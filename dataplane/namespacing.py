"""Names clients see: `<namespace>__<name>` for tools and prompts, a prefix for resource URIs.

Tool names follow the specification's rules (1-128 of A-Z a-z 0-9 _ - .) and the shorter limits
clients impose (Claude 64 characters, Cursor 60 for server plus tool): a name over
MCP_TOOL_NAME_MAX_LENGTH is cut and given a digest of the full name, so it is deterministic and
stays stable across restarts and workers.
"""

import hashlib
import re

from django.conf import settings

SEPARATOR = "__"
_INVALID = re.compile(r"[^A-Za-z0-9_.-]")
RESOURCE_SCHEME = "mcpgw"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def client_name(namespace: str, name: str, *, prefixed: bool, max_length: int | None = None) -> str:
    max_length = max_length or settings.MCP_TOOL_NAME_MAX_LENGTH
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
    return f"{RESOURCE_SCHEME}://{namespace}/{uri}"


def split_resource_uri(uri: str) -> tuple[str, str] | None:
    """(namespace, upstream uri) for a prefixed URI, or None when it is not one of ours."""
    head = f"{RESOURCE_SCHEME}://"
    if not uri.startswith(head):
        return None
    namespace, sep, rest = uri[len(head) :].partition("/")
    if not sep or not namespace:
        return None
    return namespace, rest
