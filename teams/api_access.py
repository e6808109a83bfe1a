"""What an API caller may do: the one check every API request goes through.

A console session (or a signed-in API client) acts with its role. An API token acts with the
smaller of its role and its scopes: a capability key lets it use that capability, `read` lets it
use safe methods wherever the role allows. Scopes are counted against the role on every request,
so a token loses a scope as soon as its owner's role does. Only tokens of kind `api` get this
far: identities/inbound/api_authentication.py refuses every other credential.
"""

from rest_framework.permissions import SAFE_METHODS

from core.errors import CapabilityRequired, ScopeRequired

READ = "read"  # the read-only scope: safe methods, wherever the role has the capability


def scopes_held(membership, token=None) -> frozenset[str]:
    """What a caller may put in a token it mints, or use: its role's capabilities and `read`;
    for a token, only those of its scopes."""
    role = membership.role.capability_set | {READ}
    if token is None:
        return role
    return role & frozenset(token.scopes)


def check(*, membership, token, method: str, capability=None, token_scope=None) -> None:
    """Raise unless the caller may do an action needing `capability` of the role (None: any
    member may). `token_scope` names the scope a token needs for such an action when it is not
    `capability` (minting a token, say); without one, a token that only reads may not write."""
    if capability is not None and not membership.has(capability):
        raise CapabilityRequired(capability)
    if token is None:
        return
    held = scopes_held(membership, token)
    safe = method in SAFE_METHODS
    needed = capability or token_scope
    if needed is None:
        if safe or held - {READ}:
            return
        raise ScopeRequired(
            "This token cannot make changes: it holds no scope but 'read' that its owner's "
            "role still has."
        )
    if needed in held or (safe and READ in held):
        return
    raise ScopeRequired(
        f"This token's scopes do not include '{needed}', which this action needs"
        + (" (or 'read', for reading)." if safe else "."),
        scope=needed,
    )


def allows(**kwargs) -> bool:
    """`check` as a yes or no, for what a view shows or does depending on the caller."""
    try:
        check(**kwargs)
    except (CapabilityRequired, ScopeRequired):
        return False
    return True
