"""A per-workspace configuration epoch in the shared cache.

Changes to memberships, roles, teams and servers change who reaches which gateway and what it
serves; bumping the epoch (after commit) tells every data-plane worker to recompile its gateway
snapshots of that workspace on its next request.
"""

import secrets

from django.core.cache import cache
from django.db import transaction


def key(workspace_id: int) -> str:
    return f"ws:epoch:{workspace_id}"


def bump(workspace_id: int) -> None:
    transaction.on_commit(lambda: cache.set(key(workspace_id), secrets.token_hex(8), None))
