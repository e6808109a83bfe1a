"""The platform's own addresses that upstream authorization servers see: where people come back
after connecting an upstream account, and the platform's client ID metadata document
(identities/upstream/client_document.py), whose URL is its `client_id`."""

from django.conf import settings
from django.urls import reverse

PATH = "/oauth/upstream-client"
CALLBACK_PATH = "/oauth/upstream-client/callback"


def origin() -> str:
    return (settings.OAUTH_ISSUER or "").rstrip("/")


def document_url() -> str:
    """The document's URL, which is also the `client_id`; empty when OAUTH_ISSUER is not set."""
    return f"{origin()}{PATH}" if origin() else ""


def redirect_uri() -> str:
    return f"{origin()}{CALLBACK_PATH}" if origin() else ""


def callback_uri(*, workspace, request) -> str:
    """Where upstream authorization servers send people back to the platform: the redirect URI
    the platform registers, and the one a pre-registered client must be registered with."""
    path = reverse("connection-callback", kwargs={"ws": workspace.slug})
    issuer = (settings.OAUTH_ISSUER or "").rstrip("/")
    return f"{issuer}{path}" if issuer else request.build_absolute_uri(path)


def platform_url(request) -> str:
    """The address people and connectors reach the platform at: OAUTH_ISSUER, else the host the
    request came to."""
    return origin() or request.build_absolute_uri("/").rstrip("/")
