"""API exports under a real ASGI server: streamed, not read whole into memory first.

Django's ASGI handler buffers a streaming response built from a plain iterator, and says so
with a warning; the exports hand it an async iterator instead.
"""

import json
import warnings

import httpx
import pytest

from identities import services as identity_services
from teams.models import Membership
from tests.support.audit_entries import call_hops
from tests.support.live import ThreadedServer

W = "/api/v1/workspaces/acme"
CALLS = 300  # 1,200 entries: more than one batch read per chunk


@pytest.fixture(scope="module")
def live_base(django_db_setup, django_db_blocker):
    from config.asgi import application

    server = ThreadedServer(application).start()
    yield server.url
    server.stop()


@pytest.fixture
def carols_token(transactional_db, acme, carol):
    membership = Membership.objects.get(workspace=acme, user=carol)
    return identity_services.issue_token(
        membership=membership, name="audit", actor=carol, kind="api", scopes=["read"]
    ).secret


def _download(url: str, token: str) -> tuple[httpx.Response, list[bytes], list[str]]:
    """The response, its body as the chunks that arrived, and the warnings raised meanwhile."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with httpx.stream(
            "GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as response:
            chunks = list(response.iter_raw())
    return response, chunks, [str(w.message) for w in caught]


def _buffered(messages: list[str]) -> bool:
    return any("synchronous iterators" in message for message in messages)


def test_the_log_export_streams_under_asgi(live_base, acme, carols_token):
    from audit.log.recorder import write_entries

    write_entries([hop for _ in range(CALLS) for hop in call_hops(acme)])
    response, chunks, messages = _download(
        f"{live_base}{W}/logs/export/?format=jsonl", carols_token
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="acme-logs.jsonl"'
    assert not _buffered(messages), messages
    rows = [json.loads(line) for line in b"".join(chunks).splitlines()]
    assert [row["seq"] for row in rows] == list(range(1, 4 * CALLS + 1))


def test_the_change_export_streams_under_asgi(live_base, acme, carols_token):
    response, chunks, messages = _download(
        f"{live_base}{W}/changes/export/?format=csv", carols_token
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="acme-changes.csv"'
    assert not _buffered(messages), messages
    lines = b"".join(chunks).decode().splitlines()
    assert lines[0].startswith("id,created_at,actor,action")
    assert any(",token.issue," in line for line in lines[1:])
