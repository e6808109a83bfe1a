"""The live application leaves no database connection open behind the requests Django answers,
though connections are persistent (CONN_MAX_AGE) on PostgreSQL."""

import gc
import time

import httpx2
import pytest
from django.db import connection

from identities.models import ApiToken
from identities.services import issue_token
from teams.models import Membership

REQUESTS = 40


def _open_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _settled(bound: int) -> int:
    """The count of connections once it is within `bound`, or as it stands after 10 s: a
    backend leaves pg_stat_activity a moment after its client closed it."""
    deadline = time.monotonic() + 10
    while (count := _open_connections()) > bound and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def test_requests_leave_no_connection_open(gateway_base, transactional_db, acme, alice):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite connections are not persistent")
    owner = Membership.objects.for_workspace(acme).get(user=alice)
    secret = issue_token(
        membership=owner, name="ci", kind=ApiToken.Kind.API, scopes=("read",), actor=alice
    ).secret
    headers = {"Authorization": f"Bearer {secret}"}
    url = f"{gateway_base}/api/v1/workspaces/acme/members/"
    # A leaked connection is closed only when garbage collection reaches it: none runs here,
    # so a leak shows as one connection more per request.
    collecting = gc.isenabled()
    gc.disable()
    try:
        before = _open_connections()
        with httpx2.Client(headers=headers, timeout=30, trust_env=False) as client:
            for _ in range(REQUESTS):
                assert client.get(url).status_code == 200
        # Room for the threads that keep one connection for good (the audit writer, ...).
        assert _settled(before + 3) <= before + 3
    finally:
        if collecting:
            gc.enable()
