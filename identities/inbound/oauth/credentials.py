"""OAuth token formats: the API token layout with their own prefixes.

`gto_` marks an access token and `gtr_` a refresh token, so secret scanners and the data plane
tell them from gateway API tokens (`gth_`) without a lookup, and a mistyped one is refused by its
checksum. Only SHA-256 digests are stored (django-oauth-toolkit's hashed token storage), the
same digest the data plane caches lookups under.
"""

from identities.inbound import tokens

ACCESS_PREFIX = "gto_"
REFRESH_PREFIX = "gtr_"


def new_access_token(request=None) -> str:
    return tokens.generate(ACCESS_PREFIX)


def new_refresh_token(request=None) -> str:
    return tokens.generate(REFRESH_PREFIX)


def is_access_token(secret: str) -> bool:
    return tokens.is_well_formed(secret, ACCESS_PREFIX)
