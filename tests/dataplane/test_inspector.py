"""The MCP Inspector CLI (Node) lists and calls namespaced tools through a gateway."""

import json
import subprocess

import pytest

from tests.support import node


def inspector(tmp_path, *args) -> dict:
    command = node.inspector_cli_command(*args, "--format", "json", "--quiet")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=90, env=node.isolated_env(tmp_path)
    )
    assert done.returncode == 0, done.stderr or done.stdout
    return json.loads(done.stdout)["result"]


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_the_inspector_cli_lists_and_calls_through_the_gateway(deployment, bob, tmp_path, era):
    common = (
        deployment.url,
        "--transport",
        "http",
        "--protocol-era",
        era,
        "--header",
        f"Authorization: Bearer {deployment.token_for(bob)}",
    )
    listed = inspector(tmp_path, *common, "--method", "tools/list")
    called = inspector(
        tmp_path,
        *common,
        "--method",
        "tools/call",
        "--tool-name",
        "notes__add",
        "--tool-arg",
        "a=20",
        "--tool-arg",
        "b=22",
    )
    names = {tool["name"] for tool in listed["tools"]}
    assert {"notes__echo", "notes__add", "ro__echo"} <= names
    assert "ro__add" not in names
    assert called["content"][0]["text"] == "42"
