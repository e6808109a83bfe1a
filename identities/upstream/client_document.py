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

from identities.upstream import oauth
from servers import oauth_discovery, platform_addresses


def document() -> dict:
    return {
        "client_id": platform_addresses.document_url(),
        "client_name": "Gatehouse",
        "client_uri": platform_addresses.origin(),
        "redirect_uris": [platform_addresses.redirect_uri()],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }


def client_at(metadata: oauth_discovery.ServerMetadata, url: str | None = None):
    """The platform as the client its document at `url` (by default its own) describes, when
    the authorization server takes such documents and could fetch that URL; else None."""
    url = platform_addresses.document_url() if url is None else url
    if not metadata.metadata_documents or not url:
        return None
    try:
        oauth_discovery.checked_url(url, "client metadata document")
    except oauth_discovery.OAuthFailed:
        return None
    return oauth.Client(url, "", "none")
