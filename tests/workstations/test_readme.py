"""The README's "Servers on your own machine", run as it is written: its YAML applied to the
demo, its five commands run in order against the live platform, the call answered through the
connector.

One substitution, because the filesystem server is not installed here: the YAML's server runs
the suite's whoami stdio server, and the Inspector calls its `whoami` instead of
`list_allowed_directories`. Everything else (every command and flag, the URLs with the live
port, the tokens the commands print) is the README's.
"""

import re
import shlex
import subprocess
import sys

import pytest
import yaml

from tests.support import node
from tests.support.deploy_files import ROOT
from tests.workstations.conftest import settle
from tests.workstations.workstation import WHOAMI_SERVER, Workstation

README_BASE = "http://127.0.0.1:8000"
README_TOOL = "files__list_allowed_directories"


def _section() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"^## Servers on your own machine\n(.*?)^## ", readme, re.M | re.S)
    assert found, "the README has no section 'Servers on your own machine'"
    return found[1]


def _block(section: str, language: str) -> str:
    found = re.search(rf"^```{language}\n(.*?)^```", section, re.M | re.S)
    assert found, f"the section has no {language} block"
    return found[1]


def readme_commands() -> list[list[str]]:
    """The shell block's commands, each as argv (continuation lines joined)."""
    text = _block(_section(), "sh").replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip()]


def test_the_section_has_five_commands_and_one_file():
    commands = readme_commands()
    assert len(commands) == 5
    assert [argv[:3] for argv in commands] == [
        [".venv/bin/python", "manage.py", "apply"],
        [".venv/bin/python", "manage.py", "issue_token"],
        [".venv/bin/gatehouse-connect", "--platform", README_BASE],
        [".venv/bin/python", "manage.py", "issue_token"],
        ["npx", "@modelcontextprotocol/inspector", "--cli"],
    ]
    plan = yaml.safe_load(_block(_section(), "yaml"))
    assert [s["kind"] for s in plan["servers"]] == ["workstation"]


@pytest.fixture
def demo(transactional_db, run, settings, monkeypatch, gateway_base):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "servers on your own machine")
    settings.MANAGED_ALLOWED_COMMANDS = ["npx"]
    run("load_demo", "--url", gateway_base)


def test_the_five_commands_give_a_governed_call(demo, run, gateway_base, tmp_path):
    from teams.models import User

    plan = yaml.safe_load(_block(_section(), "yaml"))
    plan["servers"][0].update(command=sys.executable, args=[str(WHOAMI_SERVER)])
    (tmp_path / "laptop.yaml").write_text(yaml.safe_dump(plan))
    apply, connector_token, connect, gateway_token, inspect = readme_commands()

    def manage(argv):
        """`.venv/bin/python manage.py NAME ARGS...`, run in the test's database."""
        assert argv[:2] == [".venv/bin/python", "manage.py"], argv
        return run(*[tmp_path / arg if arg.endswith(".yaml") else arg for arg in argv[2:]])

    manage(apply)
    tokens = {
        "gth_CONNECTOR": _last_line(manage(connector_token)),
        "gth_GATEWAY": _last_line(manage(gateway_token)),
    }

    def live(argv):
        swapped = [arg.replace(README_BASE, gateway_base) for arg in argv]
        for placeholder, token in tokens.items():
            swapped = [arg.replace(placeholder, token) for arg in swapped]
        return swapped

    # The connector as the README starts it; its home (where it keeps what was allowed) is
    # the test's, and its standard input is no terminal, so it asks nothing.
    laptop = Workstation(
        tmp_path / "laptop",
        platform=gateway_base,
        token=tokens["gth_CONNECTOR"],
        user=User.objects.get(email="admin@gatehouse.local"),
        allow=[],
    )
    try:
        laptop.start(
            serving="files", argv=[sys.executable, "-m", "gatehouse_connect", *live(connect[1:])]
        )
        inspector = node.inspector_cli_command(
            *[arg.replace(README_TOOL, "files__whoami") for arg in live(inspect[3:])]
        )
        # A person runs the Inspector again if the tool is not listed yet: on a loaded machine
        # the workstation's Python server may still be starting when the gateway first asks.
        for _ in range(3):
            done = subprocess.run(
                inspector,
                capture_output=True,
                text=True,
                timeout=90,
                env=node.isolated_env(tmp_path),
            )
            if "tool_not_found" not in done.stderr:
                break
    finally:
        laptop.stop()
        settle()
    assert done.returncode == 0, done.stderr or done.stdout
    assert "(unlabelled)" in done.stdout  # the whoami server answered, through the connector
    assert (tmp_path / "laptop" / ".config" / "gatehouse" / "connect.json").exists()


def _last_line(output: str) -> str:
    return output.strip().splitlines()[-1].strip()
