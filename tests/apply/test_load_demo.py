"""`manage.py load_demo`: the demo workspace and an admin who can sign in, idempotently."""

import re

import pytest
from django.test import Client

from gateways.models import Gateway
from servers.models import Server
from teams.models import Membership, User, Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def var_dir(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    settings.VAR_DIR = tmp_path
    return tmp_path


def sign_in(email, password):
    """Sign in through the real login form, CSRF token included."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    response = client.post(
        "/accounts/login/", {"login": email, "password": password, "csrfmiddlewaretoken": csrf}
    )
    return client, response


def test_it_loads_the_demo_and_its_admin_signs_in(var_dir, run):
    out = run("load_demo")

    password = (var_dir / "demo_admin_password").read_text().strip()
    assert f"admin@gatehouse.local / {password}" in out
    assert "http://127.0.0.1:8000/mcp/demo/dev" in out
    demo = Workspace.objects.get(slug="demo")
    admin = User.objects.get(email="admin@gatehouse.local")
    assert admin.is_superuser and admin.is_staff
    assert Membership.objects.for_workspace(demo).get(user=admin).role.key == "owner"
    everything = Server.objects.for_workspace(demo).get(name="everything")
    assert (everything.kind, everything.command) == ("managed", "npx")
    assert everything.args == ["-y", "@modelcontextprotocol/server-everything"]
    assert Server.objects.for_workspace(demo).get(name="time").kind == "remote"
    assert Gateway.objects.for_workspace(demo).filter(slug="dev").exists()

    client, response = sign_in("admin@gatehouse.local", password)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(admin.pk)
    assert "Demo" in client.get("/").content.decode()
    assert sign_in("admin@gatehouse.local", "wrong password")[1].status_code == 200


def test_it_is_idempotent(var_dir, run):
    run("load_demo")
    versions = dict(Gateway.objects.values_list("slug", "config_version"))
    password = (var_dir / "demo_admin_password").read_text()

    out = run("load_demo")

    assert "0 created, 0 changed, 13 unchanged, 0 deleted" in out
    assert (var_dir / "demo_admin_password").read_text() == password
    assert dict(Gateway.objects.values_list("slug", "config_version")) == versions
    assert User.objects.filter(email="admin@gatehouse.local").count() == 1


def test_the_password_can_come_from_the_environment(var_dir, monkeypatch, run):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a long demo passphrase")

    out = run("load_demo")

    assert "admin@gatehouse.local / a long demo passphrase" in out
    assert not (var_dir / "demo_admin_password").exists()
    assert sign_in("admin@gatehouse.local", "a long demo passphrase")[1].status_code == 302


def test_it_prints_the_urls_of_the_address_served(var_dir, run):
    out = run("load_demo", "--url", "http://127.0.0.1:8100/")

    assert "Console:  http://127.0.0.1:8100/\n" in out
    assert "Gateway:  http://127.0.0.1:8100/mcp/demo/dev\n" in out
    assert ":8000" not in out
