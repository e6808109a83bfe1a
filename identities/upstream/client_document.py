"""The platform's client ID metadata document, as the OAuth client of upstream authorization
servers (`user_oauth`).

An authorization server whose metadata says `client_id_metadata_document_supported` takes an
https URL as `client_id` and fetches the client's description from it, so the platform need not
register at every server. Ours is published at `<OAUTH_ISSUER>/oauth/upstream-client`, a
public client (`token_endpoint_auth_method: none`, PKCE protects its codes) whose one redirect
URI, `<OAUTH_ISSUER>/oauth/upstream-client/callback`, is the same for every workspace: the
person's pending connection (in their session) says which workspace's callback it continues at.
Without OAUTH_ISSUER there is no stable URL to publish, and the platform registers instead.
"""

from django.conf import settings

from identities.upstream import oauth

PATH = "/oauth/upstream-client"
CALLBACK_PATH = "/oauth/upstream-client/callback"


def _origin() -> str:
    return (settings.OAUTH_ISSUER or "").rstrip("/")


def document_url() -> str:
    """The document's URL, which is also the `client_id`; empty when OAUTH_ISSUER is not set."""
    return f"{_origin()}{PATH}" if _origin() else ""


def redirect_uri() -> str:
    return f"{_origin()}{CALLBACK_PATH}" if _origin() else ""


def document() -> dict:
    return {
        "client_id": document_url(),
        "client_name": "Gatehouse",
        "client_uri": _origin(),
        "redirect_uris": [redirect_uri()],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }


def client_at(metadata: oauth.ServerMetadata, url: str | None = None):
    """The platform as the client its document at `url` (by default its own) describes, when
    the authorization server takes such documents and could fetch that URL; else None."""
    url = document_url() if url is None else url
    if not metadata.metadata_documents or not url:
        return None
    try:
        oauth.checked_url(url, "client metadata document")
    except oauth.OAuthFailed:
        return None
    return oauth.Client(url, "", "none")
