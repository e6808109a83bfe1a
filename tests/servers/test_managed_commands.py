"""Which commands a managed server may run (MANAGED_ALLOWED_COMMANDS), and its network switch,
through the service, the API, the console and `apply`."""

import html
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from core.errors import ValidationFailed
from servers import services
from servers.models import Server
from tests.support.api import error
from tests.support.config_files import ACME_YAML, row_counts
from tests.support.console import text

W = "/api/v1/workspaces/acme"
REPO = Path(__file__).resolve().parents[2]
REFUSED = "'/bin/sh' is not a command managed servers may run here; allowed: "


def test_the_service_refuses_a_command_the_operator_did_not_allow(acme, alice, settings):
    with pytest.raises(ValidationFailed) as refused:
        services.create_server(
            workspace=acme, name="shell", kind="managed", command="/bin/sh", actor=alice
        )
    assert refused.value.message.startswith(REFUSED)
    assert "(MANAGED_ALLOWED_COMMANDS)" in refused.value.message
    assert refused.value.field == "command"

    settings.MANAGED_ALLOWED_COMMANDS = []
    with pytest.raises(ValidationFailed, match="the operator has allowed no command"):
        services.create_server(
            workspace=acme, name="fs", kind="managed", command="npx", actor=alice
        )
    assert not Server.objects.for_workspace(acme).exists()


def test_a_command_taken_off_the_list_cannot_be_kept_on_update(acme, alice, settings):
    server = services.create_server(
        workspace=acme, name="fs", kind="managed", command="npx", actor=alice
    )
    settings.MANAGED_ALLOWED_COMMANDS = ["uvx"]
    with pytest.raises(ValidationFailed, match="'npx' is not a command"):
        services.update_server(server=server, description="still npx", actor=alice)


def test_the_api_refuses_it_with_400(api, acme, alice):
    body = {"name": "shell", "kind": "managed", "command": "/bin/sh", "args": ["-c", "id"]}
    response = api.as_(alice).post(f"{W}/servers/", body, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "command"
    assert error(response)["detail"].startswith(REFUSED)


def test_the_console_form_shows_the_allowed_commands_and_refuses_others(as_, acme, alice, settings):
    settings.MANAGED_ALLOWED_COMMANDS = ["npx", "uvx"]
    page = as_(alice).get("/w/acme/servers/new/?kind=managed")
    assert "One of: npx, uvx." in text(page) and "Network access" in text(page)
    data = {"kind": "managed", "name": "shell", "command": "/bin/sh", "network": "on"}
    response = as_(alice).post("/w/acme/servers/new/", data)
    assert response.status_code == 400
    assert html.escape(REFUSED) in text(response)
    assert not Server.objects.for_workspace(acme).exists()


def test_apply_refuses_it_at_its_line(db, config_file, run):
    before = row_counts()
    path = config_file(ACME_YAML.replace("command: npx", "command: /bin/sh"))
    with pytest.raises(CommandError) as refused:
        run("apply", path)
    assert "servers[1].command" in str(refused.value)
    assert REFUSED in str(refused.value)
    assert row_counts() == before


def test_network_can_be_turned_off_in_the_api_console_and_apply(
    api, as_, acme, alice, db, config_file, run
):
    body = {"name": "offline", "kind": "managed", "command": "npx", "network": False}
    created = api.as_(alice).post(f"{W}/servers/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["network"] is False
    updated = api.as_(alice).patch(f"{W}/servers/offline/", {"network": True}, format="json")
    assert updated.json()["network"] is True

    form = {"kind": "managed", "name": "console-offline", "command": "npx"}  # Box unticked.
    assert as_(alice).post("/w/acme/servers/new/", form).status_code == 302
    assert Server.objects.get(name="console-offline").network is False
    assert "Off: the server runs with no network" in text(
        as_(alice).get("/w/acme/servers/console-offline/")
    )

    offline = ACME_YAML.replace("    command: npx\n", "    command: npx\n    network: false\n")
    run("apply", config_file(offline))
    assert Server.objects.get(workspace__slug="acme", name="everything").network is False


def test_only_a_managed_server_has_its_network_turned_off(api, acme, alice):
    body = {"name": "wiki", "url": "https://wiki.test/mcp", "network": False}
    response = api.as_(alice).post(f"{W}/servers/", body, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "network"


@pytest.mark.parametrize(
    ("database_url", "allowed"),
    [(None, ["npx"]), ("postgres://db.invalid/gatehouse", [])],
)
def test_only_the_embedded_set_up_allows_the_demos_command_by_default(
    database_url, allowed, tmp_path
):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MANAGED_", "DATABASE_"))}
    env["GATEHOUSE_VAR_DIR"] = str(tmp_path)
    if database_url:
        env["DATABASE_URL"] = database_url
    code = "from django.conf import settings; print(settings.MANAGED_ALLOWED_COMMANDS)"
    argv = [sys.executable, "-c", f"import django; django.setup(); {code}"]
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    output = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == repr(allowed)
