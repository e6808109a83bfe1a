"""The rules API: CRUD, capability, isolation, preview, reorder, defaults; and that each write
is audited and tells the data plane."""

from django.core.cache import cache

from core import config_events
from rules.models import Rule
from rules.selectors import definitions_for_gateway
from teams.models import ConfigChange
from tests.support.api import error, refused_capability

W = "/api/v1/workspaces/acme/rules/"
TOKEN = "ghp_" + "Zy9" * 12


def create(client, **body):
    body.setdefault("name", "redact-secrets")
    body.setdefault("detector", "secrets")
    body.setdefault("action", "redact")
    return client.post(W, body, format="json")


def test_rules_can_be_created_listed_changed_and_deleted(
    api, acme, alice, acme_gateway, django_capture_on_commit_callbacks
):
    client = api.as_(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = create(client, direction="response", detector_config={"kinds": ["github"]})
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["scope"], created["detector_config"]) == (
        "workspace",
        {"kinds": ["github"], "exclude": []},
    )
    epoch = cache.get(config_events.epoch_key(acme.pk))
    assert epoch is not None

    listed = client.get(W).json()["results"]
    assert [r["name"] for r in listed] == ["redact-secrets"]
    url = f"{W}{created['id']}/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(url, {"mode": "monitor", "order": 5}, format="json")
    assert response.status_code == 200
    assert (response.json()["mode"], response.json()["order"]) == ("monitor", 5)
    assert cache.get(config_events.epoch_key(acme.pk)) != epoch
    assert client.get(url).json()["mode"] == "monitor"

    assert client.delete(url).status_code == 204
    assert not Rule.objects.for_workspace(acme).exists()
    actions = list(
        ConfigChange.objects.for_workspace(acme)
        .filter(action__startswith="rule.")
        .values_list("action", flat=True)
    )
    assert sorted(actions) == ["rule.create", "rule.delete", "rule.update"]


def test_gateway_and_assignment_scopes(api, acme, alice, acme_gateway):
    client = api.as_(alice)
    assignment = acme_gateway.assignments.get()
    response = create(client, name="gw", gateway="dev")
    assert response.json()["scope"] == "gateway" and response.json()["gateway"] == "dev"
    response = create(client, name="as", assignment=assignment.pk)
    assert response.json()["scope"] == "assignment" and response.json()["gateway"] == "dev"
    create(client, name="ws")
    assert [r["name"] for r in client.get(f"{W}?gateway=dev").json()["results"]] == ["gw", "as"]
    assert [r["name"] for r in client.get(f"{W}?scope=workspace").json()["results"]] == ["ws"]
    # The snapshot's view: every enabled rule that can apply on the gateway.
    names = {
        d.name for d in definitions_for_gateway(workspace_id=acme.pk, gateway_id=acme_gateway.pk)
    }
    assert names == {"gw", "as", "ws"}
    assert error(create(client, name="x", gateway="nope")) == {
        "code": "invalid",
        "detail": "Unknown gateway 'nope'.",
        "attr": "gateway",
    }


def test_bad_rules_are_refused_with_the_field_named(api, acme, alice):
    client = api.as_(alice)
    response = create(client, detector="regex", detector_config={"pattern": "(open"})
    assert response.status_code == 400
    assert error(response)["attr"] == "detector_config"
    assert "not a valid regular expression" in error(response)["detail"]
    response = create(client, detector="telepathy")
    assert (response.status_code, error(response)["attr"]) == (400, "detector")
    response = create(client, action="mask", action_config={"keep": 99})
    assert (response.status_code, error(response)["attr"]) == (400, "action_config")
    response = create(client, detector="size", action="redact", detector_config={"max_bytes": 10})
    assert "supports these actions: block, flag" in error(response)["detail"]
    assert create(client).status_code == 201
    assert create(client).status_code == 409  # same name in the same scope


def test_patterns_are_checked_for_re2_naming_what_it_cannot_run(api, acme, alice):
    client = api.as_(alice)
    evil = create(client, name="linear", detector="regex", detector_config={"pattern": "^(a+)+$"})
    assert evil.status_code == 201, evil.content
    for pattern, construct in ((r"(a)\1", "a backreference (\\1)"), ("(?=x)", "a lookahead")):
        response = create(
            client, name="refused", detector="regex", detector_config={"pattern": pattern}
        )
        assert response.status_code == 400
        assert error(response)["attr"] == "detector_config"
        assert construct in error(response)["detail"]
    response = create(client, name="refused", conditions={"tools": ["a?" * 101]})
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "detail": "conditions.tools holds a glob longer than 200 characters.",
        "attr": "conditions",
    }
    assert [r["name"] for r in client.get(W).json()["results"]][:1] == ["linear"]


def test_writes_and_preview_need_rules_manage(api, acme, alice, bob, api_as_dave_with):
    rule_id = create(api.as_(alice)).json()["id"]
    member = api.as_(bob)
    assert member.get(W).status_code == 200  # reading needs only membership
    assert create(member, name="x").status_code == 403
    assert member.patch(f"{W}{rule_id}/", {"enabled": False}, format="json").status_code == 403
    assert member.delete(f"{W}{rule_id}/").status_code == 403
    body = {"rule": {"name": "t", "detector": "secrets", "action": "redact"}, "sample": {}}
    assert refused_capability(member.post(f"{W}preview/", body, format="json")) == "rules.manage"
    manager = api_as_dave_with({"rules.manage"})
    assert create(manager, name="by-dave").status_code == 201


def test_it_hides_other_workspaces(api, acme, alice, globex, mallory):
    rule_id = create(api.as_(alice)).json()["id"]
    intruder = api.as_(mallory)
    assert intruder.get(W).status_code == 404
    assert intruder.get(f"/api/v1/workspaces/globex/rules/{rule_id}/").status_code == 404
    assert intruder.delete(f"/api/v1/workspaces/globex/rules/{rule_id}/").status_code == 404
    assert Rule.objects.filter(pk=rule_id).exists()


def test_preview_shows_what_a_rule_would_do(api, acme, alice):
    body = {
        "rule": {"name": "try", "detector": "secrets", "action": "redact", "mode": "monitor"},
        "sample": {"content": [{"type": "text", "text": f"token {TOKEN}"}]},
        "direction": "response",
    }
    response = api.as_(alice).post(f"{W}preview/", body, format="json")
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["payload"]["content"][0]["text"] == "token [REDACTED:GITHUB_PAT]"
    assert result["events"][0]["kinds"] == {"github_pat": 1} and not result["blocked"]
    body["rule"] = {
        "name": "try",
        "detector": "tool",
        "action": "block",
        "detector_config": {"match": "fs__delete_*"},
    }
    body.update(direction="request", sample={"name": "fs__delete_all", "arguments": {}})
    result = api.as_(alice).post(f"{W}preview/", body, format="json").json()
    assert result["blocked"] and result["message"] == "Blocked by rule 'try'."
    body["rule"]["detector_config"] = {"match": 3}
    assert api.as_(alice).post(f"{W}preview/", body, format="json").status_code == 400
    assert not Rule.objects.exists()  # nothing was saved


def test_reorder_and_defaults(api, acme, alice):
    client = api.as_(alice)
    response = client.post(f"{W}defaults/", format="json")
    assert response.status_code == 201
    names = [r["name"] for r in response.json()]
    assert names == ["redact-secrets", "flag-pii", "flag-prompt-injection"]
    assert client.post(f"{W}defaults/", format="json").json() == []  # kept, not duplicated
    ids = {r["name"]: r["id"] for r in client.get(W).json()["results"]}
    order = [ids["flag-pii"], ids["redact-secrets"], ids["flag-prompt-injection"]]
    response = client.post(f"{W}reorder/", {"ids": order}, format="json")
    assert [r["order"] for r in response.json()] == [10, 20, 30]
    assert [r["name"] for r in client.get(W).json()["results"]][:2] == [
        "flag-pii",
        "redact-secrets",
    ]
    response = client.post(f"{W}reorder/", {"ids": [999999]}, format="json")
    assert error(response) == {"code": "invalid", "detail": "Unknown rules: 999999.", "attr": "ids"}


def test_the_detector_catalogue(api, acme, bob):
    body = api.as_(bob).get(f"{W}detectors/").json()
    assert {d["key"] for d in body["detectors"]} >= {"secrets", "pii", "webhook", "tool"}
    assert len(body["secret_kinds"]) >= 88
