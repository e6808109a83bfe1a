"""The `requestState` a 2026-07-28 client echoes in its retry, sealed by the gateway.

AES-GCM under a key derived from SECRET_KEY, so the client can neither read nor change it, and
bound to the gateway, the caller, the method and the tool, so it works for nobody else and for no
other call. It expires with the wait for the client (MCP_UPSTREAM_TIMEOUT_SECONDS). What it
carries is `dataplane/era_translation.py`'s: the pending call's channel, or an upstream's own
state.
"""

import base64
import json
import os
import time
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from dataplane import protocol
from dataplane.context import CallContext
from dataplane.protocol import RpcError

STATE_PREFIX = "gh1."


@cache
def _cipher() -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"gatehouse", info=b"mcp-request-state"
    ).derive(settings.SECRET_KEY.encode())
    return AESGCM(key)


def _binding(ctx: CallContext, method: str, params: dict) -> list:
    target = params.get(protocol.NAME_BEARING_METHODS.get(method, "name"))
    return [ctx.snapshot.id, ctx.principal.key, method, target if isinstance(target, str) else ""]


def issued(state) -> bool:
    """Whether `state` is one of the gateway's (not an approval's own, or a forgery's shape)."""
    return isinstance(state, str) and state.startswith(STATE_PREFIX)


def seal(ctx: CallContext, method: str, params: dict, claims: dict) -> str:
    """The `requestState` the client echoes: `claims` bound to this gateway, caller and call,
    with the approval the call was given, if it needed one (`dataplane/approval.py`)."""
    if ctx.approved:
        claims = {**claims, "approved": ctx.approved}
    expires = time.time() + settings.MCP_UPSTREAM_TIMEOUT_SECONDS
    payload = json.dumps([_binding(ctx, method, params), expires, claims]).encode()
    nonce = os.urandom(12)
    sealed = nonce + _cipher().encrypt(nonce, payload, STATE_PREFIX.encode())
    return STATE_PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def unseal(ctx: CallContext, method: str, params: dict) -> dict | None:
    """The claims of the client's `requestState`, or None when it sent none.

    A state the gateway did not seal, or sealed for another caller, gateway or tool, or one past
    its time, is refused with its reason: each is a client error, never an upstream's."""
    state = params.get("requestState")
    if state is None:
        return None
    if not issued(state):
        raise invalid("The requestState was not issued by this gateway.")
    raw = state[len(STATE_PREFIX) :]
    try:
        sealed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        payload = _cipher().decrypt(sealed[:12], sealed[12:], STATE_PREFIX.encode())
        binding, expires, claims = json.loads(payload)
    except (ValueError, InvalidTag, TypeError):
        raise invalid("The requestState was not issued by this gateway.") from None
    if binding != _binding(ctx, method, params):
        raise invalid("The requestState belongs to another caller, gateway or call.")
    if time.time() > expires:
        raise invalid("The requestState has expired; call the tool again.")
    return claims


def invalid(message: str) -> RpcError:
    return RpcError(protocol.INVALID_PARAMS, message, {"reason": "invalid_request_state"})
