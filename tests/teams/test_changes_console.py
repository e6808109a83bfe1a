"""Console page of the admin audit log of configuration changes."""

from teams.capabilities import LOGS_VIEW
from teams.models import ConfigChange
from tests.support.console import text


def test_auditors_read_the_log_with_detail(as_, acme_gateway, carol):
    page = as_(carol).get("/w/acme/changes/")
    assert page.status_code == 200
    body = text(page)
    assert "gateway.create" in body and "alice@acme.test" in body
    # carol has logs.view_payloads; the detail reads as fields, not as Python's repr
    assert "teams: <code>[&quot;eng&quot;]</code>" in body
    assert "&#x27;" not in body


def test_detail_needs_view_payloads(console_as_dave_with, acme_gateway):
    page = console_as_dave_with({LOGS_VIEW}).get("/w/acme/changes/")
    assert page.status_code == 200 and "gateway.create" in text(page)
    assert "Detail" not in text(page)


def test_it_needs_logs_view(as_, acme, bob):
    response = as_(bob).get("/w/acme/changes/")
    assert response.status_code == 403 and LOGS_VIEW in text(response)


def test_it_paginates(as_, acme, alice):
    ConfigChange.objects.bulk_create(
        ConfigChange(workspace=acme, actor=alice, action=f"bulk.{i}", target_type="t", target="t")
        for i in range(120)
    )
    client = as_(alice)
    first = client.get("/w/acme/changes/")
    assert len(first.context["page"].object_list) == 50
    assert "Page 1 of 3" in text(first)
    last = client.get("/w/acme/changes/?page=99")
    assert last.context["page"].number == 3


def test_other_workspaces_changes_stay_hidden(as_, acme, globex, alice, mallory):
    assert "globex" not in text(as_(alice).get("/w/acme/changes/"))
    assert as_(alice).get("/w/globex/changes/").status_code == 404
