"""The log viewer's API: list with filters, one entry, one call as a timeline."""

import uuid

import pytest

from audit.log.recorder import write_entries
from teams.capabilities import LOGS_VIEW
from tests.support.api import error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.audit.urls")]
W = "/api/v1/workspaces/acme/logs"


def test_it_lists_newest_first_with_payloads_for_an_auditor(api, acme, carol, write_calls):
    write_calls(acme, 2)
    body = api.as_(carol).get(f"{W}/").json()
    rows = body["results"]
    assert len(rows) == 8
    assert [r["at"] for r in rows] == sorted((r["at"] for r in rows), reverse=True)
    assert rows[0]["hop"] == "client.response"
    assert rows[0]["payload"] == {"content": [{"text": "noon"}]}


def test_payloads_need_the_view_payloads_capability(api_as_dave_with, acme, write_calls):
    hops = write_calls(acme, 1)
    client = api_as_dave_with({LOGS_VIEW})
    rows = client.get(f"{W}/").json()["results"]
    assert rows and all("payload" not in r for r in rows)
    one = client.get(f"{W}/{rows[0]['id']}/").json()
    assert "payload" not in one
    call = client.get(f"{W}/calls/{hops[0]['correlation_id']}/").json()
    assert all("payload" not in h for h in call["hops"])


def test_viewing_needs_the_view_capability(api, acme, bob, write_calls):
    hops = write_calls(acme, 1)
    assert api.as_(bob).get(f"{W}/").status_code == 403
    assert api.as_(bob).get(f"{W}/calls/{hops[0]['correlation_id']}/").status_code == 403


def test_it_hides_other_workspaces(api, acme, carol, globex, mallory, write_calls):
    write_calls(acme, 1)
    theirs = write_calls(globex, 1)
    assert api.as_(mallory).get(f"{W}/").status_code == 404
    globex_rows = api.as_(mallory).get("/api/v1/workspaces/globex/logs/").json()["results"]
    client = api.as_(carol)
    assert client.get(f"{W}/{globex_rows[0]['id']}/").status_code == 404
    assert client.get(f"{W}/calls/{theirs[0]['correlation_id']}/").status_code == 404
    assert {r["gateway_slug"] for r in client.get(f"{W}/").json()["results"]} == {"dev"}


def test_filters(api, acme, alice, carol, write_calls):
    write_calls(acme, 1, user=alice, gateway="dev", tool="time__now")
    write_calls(acme, 1, gateway="ops", tool="jira__search")
    write_entries(
        [
            {
                "hop": "client.response",
                "workspace_id": acme.pk,
                "gateway_slug": "ops",
                "method": "tools/call",
                "tool": "jira__search",
                "outcome": "error",
                "error_code": -32001,
                "error_message": "The server 'jira' did not answer within 60 seconds.",
            }
        ]
    )
    client = api.as_(carol)

    def count(query):
        response = client.get(f"{W}/?{query}")
        assert response.status_code == 200, response.json()
        return len(response.json()["results"])

    assert count("gateway=ops") == 5
    assert count("person=ALICE@acme.test") == 4
    assert count(f"person={alice.pk}") == 4
    assert count("server=time") == 8
    assert count("tool=search") == 4  # the upstream tool name
    assert count("tool=time__now") == 4
    assert count("hop=client.request,client.response") == 5
    assert count("outcome=error") == 1
    assert count("q=did not answer") == 1
    assert count("q=jira") == 5
    assert count("since=2000-01-01&until=2999-01-01") == 9
    assert count("until=2000-01-01") == 0
    assert count("limit=2") == 2


def test_bad_filters_are_400(api, acme, carol):
    client = api.as_(carol)
    response = client.get(f"{W}/?hop=client.sneeze")
    assert response.status_code == 400
    assert error(response)["attr"] == "hop"
    assert client.get(f"{W}/?since=2026-13-45").status_code == 400
    response = client.get(f"{W}/?since=2026-02-01&until=2026-01-01")
    assert error(response) == {
        "code": "invalid",
        "detail": "'since' is after 'until'.",
        "attr": "since",
    }


def test_one_call_as_a_timeline(api, acme, carol):
    correlation = str(uuid.uuid4())
    base = {"workspace_id": acme.pk, "correlation_id": correlation, "tool": "db__query"}
    t = 1_790_000_000.0
    write_entries(
        [
            {**base, "hop": "client.request", "at": t},
            {
                **base,
                "hop": "policy.action",
                "at": t + 0.001,
                "detail": {
                    "rule": "no-secrets",
                    "detector": "secrets",
                    "kind": "redact",
                    "count": 2,
                },
            },
            {**base, "hop": "upstream.request", "at": t + 0.002},
            {**base, "hop": "upstream.response", "at": t + 0.010, "latency_ms": 8.0},
            {**base, "hop": "client.response", "at": t + 0.0125, "latency_ms": 12.5},
        ]
    )
    body = api.as_(carol).get(f"{W}/calls/{correlation}/").json()
    assert body["correlation_id"] == correlation
    assert body["outcome"] == "ok"
    assert body["duration_ms"] == pytest.approx(12.5, abs=0.01)
    assert [h["hop"] for h in body["hops"]] == [
        "client.request",
        "policy.action",
        "upstream.request",
        "upstream.response",
        "client.response",
    ]
    assert [round(h["offset_ms"], 1) for h in body["hops"]] == [0.0, 1.0, 2.0, 10.0, 12.5]
    assert body["rules"] == [
        {
            "rule": "no-secrets",
            "detector": "secrets",
            "kind": "redact",
            "count": 2,
            "hop": "policy.action",
        }
    ]


def test_an_unknown_call_is_404(api, acme, carol):
    client = api.as_(carol)
    assert client.get(f"{W}/calls/{uuid.uuid4()}/").status_code == 404
    assert client.get(f"{W}/calls/not-a-uuid/").status_code == 404
    assert client.get(f"{W}/999999/").status_code == 404
