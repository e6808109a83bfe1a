"""What an approval pins, and how the connector shows what it is asked to run."""

import json
import os
import pty
import sys
import time

from tests.connector.conftest import MARKER_SERVER, echo_approval, echo_spec, write_config
from tests.connector.connector_process import SECRET
from tests.connector.test_connector import initialize, open_session, tool_text
from tests.support.processes import children_of


def marker_spec(marker, **changes):
    spec = {"name": "marker", "args": [MARKER_SERVER, str(marker)], "env_keys": [], **changes}
    return echo_spec(**spec)


def test_allow_does_not_approve_a_changed_command(platforms, connectors, config, tmp_path):
    approved, changed = tmp_path / "approved", tmp_path / "changed"
    write_config(
        config, {"marker": {"command": sys.executable, "args": [MARKER_SERVER, str(approved)]}}
    )
    before = config.read_text()
    spec = marker_spec(changed)
    platform = platforms(offered=[spec])
    # As a service manager restarts it, with the flag that approved the first command.
    connector = connectors(platform.url, config=config, args=["--allow", "marker", "--no-prompt"])
    connection = platform.next_connection()
    assert connection.next("hello")["servers"] == ["marker"]

    line = connector.wait_for_output("marker changed on the platform")
    assert f"allowed: {sys.executable} {MARKER_SERVER} {approved}" in line
    assert f"now offered: {sys.executable} {MARKER_SERVER} {changed}" in line
    assert "answer y at a terminal" in line
    open_session(connection, "s1", spec)
    closed = connection.next("closed", session="s1")
    assert "its command changed since it was allowed" in closed["reason"]
    assert "--allow" not in closed["reason"]  # --allow cannot approve a change
    time.sleep(0.5)
    assert not changed.exists() and not approved.exists()
    assert config.read_text() == before
    assert [frame["type"] for frame in connection.received].count("hello") == 1
    assert connector.stop() == 0


def test_on_a_terminal_a_changed_command_is_asked_about(platforms, connectors, config, tmp_path):
    approved, changed = tmp_path / "approved", tmp_path / "changed"
    write_config(
        config, {"marker": {"command": sys.executable, "args": [MARKER_SERVER, str(approved)]}}
    )
    spec = marker_spec(changed)
    platform = platforms(offered=[spec])
    controller, terminal = pty.openpty()
    try:
        connector = connectors(
            platform.url, config=config, args=["--allow", "marker"], stdin=terminal
        )
        connection = platform.next_connection()
        connection.next("hello")
        os.write(controller, b"y\n")
        # The question has no line end; the next line printed completes it.
        question = connector.wait_for_output("Serve 'marker'")
        assert (
            f"changed since you allowed it: {sys.executable} {MARKER_SERVER} {approved}" in question
        )
        assert f"{sys.executable} {MARKER_SERVER} {changed}? [y/N] " in question
        connector.wait_for_output("allowed marker")
        connection.next("hello")
        assert json.loads(config.read_text())["allowed"]["marker"]["args"][1] == str(changed)
        open_session(connection, "s1", spec)
        connection.next("closed", session="s1")  # the marker server exits once it wrote
        assert changed.exists()
        assert connector.stop() == 0
    finally:
        os.close(controller)
        os.close(terminal)


def test_env_keys_beyond_the_approved_ones_are_refused(platforms, connectors, config):
    write_config(config, {"echo": echo_approval()})
    wider = echo_spec(env_keys=["WHOAMI_LABEL", "SECRET_NOT_EXPORTED"])
    platform = platforms(offered=[wider])
    connector = connectors(platform.url, config=config, args=["--allow", "echo", "--no-prompt"])
    connection = platform.next_connection()
    connection.next("hello")
    line = connector.wait_for_output("echo changed on the platform: its env keys changed")
    assert "(env: SECRET_NOT_EXPORTED, WHOAMI_LABEL)" in line

    open_session(connection, "s1", wider)
    closed = connection.next("closed", session="s1")
    assert "its env keys changed since it was allowed" in closed["reason"]
    assert children_of(connector.popen.pid) == []
    assert json.loads(config.read_text())["allowed"]["echo"] == echo_approval()

    # Asked for with the approved keys, it runs, and reads only those.
    open_session(connection, "s2", echo_spec())
    connection.next("opened", session="s2")
    initialize(connection, "s2")
    names = json.loads(tool_text(connection, "s2", 2, "env")["content"][0]["text"])
    assert "WHOAMI_LABEL" in names and "SECRET_NOT_EXPORTED" not in names
    assert connector.stop() == 0
    assert not any(SECRET in text for text in platform.raw)


def test_control_characters_from_the_platform_are_shown_escaped(
    platforms, connectors, config, tmp_path
):
    disguise = "\r\x1b[2Kharmless"
    spec = marker_spec(f"{tmp_path / 'x'}{disguise}", name="mark\x07er")
    platform = platforms(offered=[spec])
    connector = connectors(platform.url, config=config, args=["--no-prompt"])
    connection = platform.next_connection()
    connection.next("hello")
    offered = connector.wait_for_output("offered")
    assert offered.startswith("gatehouse-connect: mark\\x07er offered: ")
    assert "\\r\\x1b[2Kharmless" in offered

    open_session(connection, "s1", spec)
    connection.next("closed", session="s1")
    refused = connector.wait_for_output("refused mark")
    assert "\\r\\x1b[2Kharmless" in refused
    assert connector.stop() == 0
    assert "\x1b" not in connector.output and "\x07" not in connector.output


def test_the_question_on_a_terminal_is_shown_escaped(platforms, connectors, config, tmp_path):
    spec = marker_spec(f"{tmp_path / 'x'}\r\x1b[2Kharmless")
    platform = platforms(offered=[spec])
    controller, terminal = pty.openpty()
    try:
        connector = connectors(platform.url, config=config, stdin=terminal)
        platform.next_connection().next("hello")
        os.write(controller, b"\n")
        question = connector.wait_for_output("Serve 'marker'")
        assert "\\r\\x1b[2Kharmless'? [y/N] " in question  # quoted, as a shell would take it
        assert connector.stop() == 0
        assert "\x1b" not in connector.output
    finally:
        os.close(controller)
        os.close(terminal)
