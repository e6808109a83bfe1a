"""The console's "Export configuration" download, `/w/<ws>/export/`."""

import pytest
from django.urls import reverse

from apply.plan import UNCHANGED, apply_plan
from apply.schema import parse
from gateways import services as gateway_services
from identities import services as identity_services
from teams.capabilities import WORKSPACE_MANAGE
from teams.models import ConfigChange

pytestmark = pytest.mark.django_db

TOKEN = "console-export-token-0123456789"


def export_url(slug="acme"):
    return reverse("workspace-export", kwargs={"ws": slug})


@pytest.fixture
def with_secret(acme_gateway):
    assignment = acme_gateway.assignments.get()
    gateway_services.update_assignment(
        assignment=assignment, identity_scheme="service_account", actor=None
    )
    identity_services.set_credential(
        assignment=assignment, owner=None, data={"kind": "bearer", "token": TOKEN}, actor=None
    )
    return acme_gateway


def test_it_downloads_the_workspace_as_yaml(as_, alice, with_secret, monkeypatch):
    response = as_(alice).get(export_url())

    assert response.status_code == 200
    assert response["Content-Type"] == "application/yaml; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="acme.yaml"'
    text = response.content.decode()
    assert TOKEN not in text
    assert "#   SECRET_DEV_TIME_TOKEN: the bearer token of dev/time\n" in text
    monkeypatch.setenv("SECRET_DEV_TIME_TOKEN", TOKEN)
    report = apply_plan(parse(text))
    assert {o.verb for o in report.outcomes} == {UNCHANGED}
    change = ConfigChange.objects.for_workspace(with_secret.workspace).get(action="config.export")
    assert change.actor == alice and change.detail["via"] == "console"


def test_the_settings_menu_links_to_it(as_, alice, acme):
    page = as_(alice).get(reverse("scim-settings", kwargs={"ws": "acme"})).content.decode()

    assert f'href="{export_url()}" download>Export configuration</a>' in page


def test_it_requires_workspace_manage(as_, bob, console_as_dave_with, acme_gateway):
    refused = as_(bob).get(export_url())
    admin_like = console_as_dave_with({"people.manage", "gateways.manage"}).get(export_url())
    allowed = console_as_dave_with({WORKSPACE_MANAGE}).get(export_url())

    assert refused.status_code == 403
    assert "workspace.manage" in refused.content.decode()
    assert admin_like.status_code == 403
    assert allowed.status_code == 200
    assert not ConfigChange.objects.filter(action="config.export", actor=bob).exists()


def test_it_hides_other_workspaces(as_, mallory, globex, acme_gateway):
    response = as_(mallory).get(export_url("acme"))

    assert response.status_code == 404
    assert not ConfigChange.objects.filter(action="config.export").exists()


def test_a_workspace_no_file_can_say_is_explained(as_, alice, acme_gateway, acme_server):
    gateway_services.assign_server(
        gateway=acme_gateway, server=acme_server, namespace="again", actor=None
    )

    response = as_(alice).get(export_url())

    assert response.status_code == 409
    assert "assigns server" in response.content.decode()
    assert "attachment" not in response.get("Content-Disposition", "")
