"""The connector as a real process against the platform's side of the tunnel on a real socket."""

import json
import os
import pty
import stat
import sys
import time

from tests.connector.conftest import MARKER_SERVER, echo_approval, echo_spec, write_config
from tests.connector.connector_process import SECRET
from tests.support.processes import children_of, is_alive

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "gatehouse", "version": "test"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def call_tool(request_id, name, arguments=None):
    params = {"name": name, "arguments": arguments or {}}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def open_session(connection, sid, spec):
    server = {key: spec.get(key) for key in ("name", "command", "args", "env_keys", "url")}
    connection.send({"type": "open", "session": sid, "server": server})


def initialize(connection, sid):
    connection.send({"type": "message", "session": sid, "message": INITIALIZE, "deadline": None})
    answer = connection.reply(sid, 1)
    connection.send({"type": "message", "session": sid, "message": INITIALIZED, "deadline": None})
    return answer


def tool_text(connection, sid, request_id, name):
    message = call_tool(request_id, name)
    connection.send({"type": "message", "session": sid, "message": message, "deadline": None})
    answer = connection.reply(sid, request_id)
    return answer["result"]


def serving_echo(platforms, connectors, config, *, args=(), **platform_options):
    write_config(config, {"echo": echo_approval()})
    platform = platforms(offered=[echo_spec()], **platform_options)
    connector = connectors(platform.url, config=config, args=["--no-prompt", *args])
    connection = platform.next_connection()
    return platform, connector, connection


def test_hello_names_only_the_allowed_servers(platforms, connectors, config):
    write_config(config, {"echo": echo_approval()})
    other = echo_spec(name="other", args=["other.py"])
    platform = platforms(offered=[echo_spec(), other])
    connector = connectors(platform.url, config=config, args=["--no-prompt"])
    connection = platform.next_connection()

    hello = connection.next("hello")
    assert hello["servers"] == ["echo"]
    assert set(hello) == {"type", "version", "host", "servers"}
    assert platform.authorizations == ["Bearer gth_connector_test_token"]
    connector.wait_for_output("serving echo")
    line = connector.wait_for_output("other offered")
    assert "--allow other" in line and "other.py" in line
    assert connector.stop() == 0


def test_an_allowed_server_is_run_and_relayed_both_ways(platforms, connectors, config):
    platform, connector, connection = serving_echo(platforms, connectors, config)
    connection.next("hello")

    open_session(connection, "s1", echo_spec())
    connection.next("opened", session="s1")
    answer = initialize(connection, "s1")
    assert answer["result"]["serverInfo"]["name"] == "echo-stdio"
    result = tool_text(connection, "s1", 2, "whoami")
    assert result["content"][0]["text"] == "workstation-of-alice"
    # The child's stderr reaches the connector's stderr under the server's name.
    connector.wait_for_output("[echo] echo-stdio starting")
    assert connector.stop() == 0


def test_a_server_not_allowed_never_runs(platforms, connectors, config, tmp_path):
    marker = tmp_path / "ran"
    spec = echo_spec(name="marker", args=[MARKER_SERVER, str(marker)], env_keys=[])
    platform = platforms(offered=[spec])
    connector = connectors(platform.url, config=config, args=["--no-prompt"])
    connection = platform.next_connection()
    assert connection.next("hello")["servers"] == []

    open_session(connection, "s1", spec)
    closed = connection.next("closed", session="s1")
    assert "'marker' is not allowed on this workstation" in closed["reason"]
    assert "--allow marker" in closed["reason"]
    line = connector.wait_for_output("refused marker: not allowed")
    assert f"{MARKER_SERVER} {marker}" in line  # the full command, so the person sees it
    time.sleep(0.5)
    assert not marker.exists()
    assert connector.stop() == 0


def test_an_approved_name_whose_command_changed_is_refused(platforms, connectors, config, tmp_path):
    approved, changed = tmp_path / "approved", tmp_path / "changed"
    write_config(
        config, {"marker": {"command": sys.executable, "args": [MARKER_SERVER, str(approved)]}}
    )
    spec = echo_spec(name="marker", args=[MARKER_SERVER, str(changed)], env_keys=[])
    platform = platforms(offered=[spec])
    connector = connectors(platform.url, config=config, args=["--no-prompt"])
    connection = platform.next_connection()
    connection.next("hello")
    connector.wait_for_output("marker changed on the platform")

    open_session(connection, "s1", spec)
    closed = connection.next("closed", session="s1")
    assert "its command changed since it was allowed" in closed["reason"]
    other_command = echo_spec(name="marker", command="/bin/sh", args=[MARKER_SERVER, str(approved)])
    open_session(connection, "s2", other_command)
    assert "changed" in connection.next("closed", session="s2")["reason"]
    time.sleep(0.5)
    assert not changed.exists() and not approved.exists()
    # The approval on file is unchanged.
    assert json.loads(config.read_text())["allowed"]["marker"]["args"][1] == str(approved)
    assert connector.stop() == 0


def test_allow_records_the_approval_for_later_runs(platforms, connectors, config):
    platform = platforms(offered=[echo_spec()])
    first = connectors(platform.url, config=config, args=["--allow", "echo", "--no-prompt"])
    connection = platform.next_connection()
    assert connection.next("hello")["servers"] == []
    assert connection.next("hello")["servers"] == ["echo"]  # again, once allowed
    first.wait_for_output("serving echo")
    assert json.loads(config.read_text()) == {"allowed": {"echo": echo_approval()}}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert first.stop() == 0

    second = connectors(platform.url, config=config, args=["--no-prompt"])
    connection = platform.next_connection()
    assert connection.next("hello")["servers"] == ["echo"]
    open_session(connection, "s1", echo_spec())
    connection.next("opened", session="s1")
    assert second.stop() == 0


def test_the_child_sees_only_the_base_and_exported_environment(platforms, connectors, config):
    platform, connector, connection = serving_echo(platforms, connectors, config)
    connection.next("hello")
    open_session(connection, "s1", echo_spec())
    connection.next("opened", session="s1")
    initialize(connection, "s1")

    names = json.loads(tool_text(connection, "s1", 2, "env")["content"][0]["text"])
    assert "WHOAMI_LABEL" in names and "PATH" in names and "HOME" in names
    assert "SECRET_NOT_EXPORTED" not in names
    assert "GATEHOUSE_CONNECTOR_TOKEN" not in names and "PYTHONPATH" not in names
    # Python itself may add LC_CTYPE (locale coercion); nothing else may appear.
    base = {"PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "LC_CTYPE"}
    assert set(names) <= base | {"WHOAMI_LABEL"}
    assert connector.stop() == 0
    assert platform.raw and not any(SECRET in text for text in platform.raw)
    assert not any("gth_connector_test_token" in text for text in platform.raw)


def test_a_crashed_server_is_reported_with_its_exit_code(platforms, connectors, config):
    platform, connector, connection = serving_echo(platforms, connectors, config)
    connection.next("hello")
    open_session(connection, "s1", echo_spec())
    connection.next("opened", session="s1")
    initialize(connection, "s1")
    connection.send({"type": "message", "session": "s1", "message": call_tool(2, "crash")})

    closed = connection.next("closed", session="s1")
    assert closed["exit_code"] == 7
    assert closed["reason"] == "'echo' exited with code 7"
    # A new session starts a new child: that is the restart.
    open_session(connection, "s2", echo_spec())
    connection.next("opened", session="s2")
    assert initialize(connection, "s2")["result"]["serverInfo"]["name"] == "echo-stdio"
    assert connector.stop() == 0


def test_close_stops_the_child(platforms, connectors, config):
    platform, connector, connection = serving_echo(platforms, connectors, config)
    connection.next("hello")
    open_session(connection, "s1", echo_spec())
    connection.next("opened", session="s1")
    (child,) = children_of(connector.popen.pid)

    connection.send({"type": "close", "session": "s1"})
    deadline = time.monotonic() + 5
    while is_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_alive(child)
    assert connector.stop() == 0


def test_heartbeats_both_ways(platforms, connectors, config):
    platform, connector, connection = serving_echo(
        platforms, connectors, config, args=["--heartbeat", "0.3"]
    )
    connection.next("hello")
    started = time.monotonic()
    for _ in range(3):
        connection.next("ping", timeout=1.0)
    assert time.monotonic() - started < 1.6  # every 0.3 s, not the platform's 15 s

    connection.send({"type": "ping"})
    connection.next("pong", timeout=2.0)
    assert connector.stop() == 0


def test_a_dropped_socket_reconnects_and_stops_the_children(platforms, connectors, config):
    platform, connector, connection = serving_echo(
        platforms, connectors, config, args=["--heartbeat", "0.5"]
    )
    connection.next("hello")
    open_session(connection, "s1", echo_spec())
    connection.next("opened", session="s1")
    (child,) = children_of(connector.popen.pid)

    connection.drop()
    again = platform.next_connection(timeout=10)
    assert again.next("hello")["servers"] == ["echo"]
    line = connector.wait_for_output("reconnecting in")
    assert "Traceback" not in connector.output
    assert float(line.split("reconnecting in ")[1].split(" s")[0]) <= 0.2  # full jitter, 1st try
    assert not is_alive(child)
    # The new connection serves as the first did.
    open_session(again, "s2", echo_spec())
    again.next("opened", session="s2")
    assert connector.stop() == 0


def test_a_refused_token_exits_3_without_retrying(platforms, connectors, config):
    platform = platforms(offered=[echo_spec()])
    connector = connectors(platform.url, config=config, token="gth_revoked", args=["--no-prompt"])
    assert connector.wait() == 3
    assert "token refused" in connector.output and "Traceback" not in connector.output
    time.sleep(0.5)
    assert len(platform.authorizations) == 1


def test_bye_and_close_codes_end_the_connector(platforms, connectors, config):
    expected = {4403: 3, 4410: 3, 4409: 4}
    for code, exit_code in expected.items():
        platform = platforms(offered=[echo_spec()])
        platform.close_after_hello = (code, "replaced" if code == 4409 else "revoked")
        connector = connectors(platform.url, config=config, args=["--no-prompt"])
        assert connector.wait() == exit_code, connector.output
        assert len(platform.authorizations) == 1


def test_a_handshake_refused_with_403_exits_3(platforms, connectors, config):
    platform = platforms(offered=[echo_spec()])
    platform.refuse_handshake = 403
    connector = connectors(platform.url, config=config, args=["--no-prompt"])
    assert connector.wait() == 3
    assert "token refused (HTTP 403)" in connector.output
    assert len(platform.authorizations) == 1


def test_another_refused_handshake_is_retried(platforms, connectors, config):
    platform = platforms(offered=[echo_spec()])
    platform.refuse_handshake = 503
    connector = connectors(platform.url, config=config, args=["--no-prompt"])
    connector.wait_for_output("the platform answered HTTP 503; reconnecting in")
    deadline = time.monotonic() + 10
    while len(platform.authorizations) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(platform.authorizations) >= 2
    assert connector.stop() == 0


def test_bad_usage_exits_2(platforms, connectors, config):
    assert connectors("ftp://example.com", config=config).wait() == 2
    config.write_text("not json")
    process = connectors("http://127.0.0.1:9", config=config)
    assert process.wait() == 2
    assert "cannot read" in process.output and "Traceback" not in process.output
    assert connectors("http://127.0.0.1:9", config=config.with_name("x"), token="").wait() == 2


def test_plain_http_is_refused_unless_loopback_or_insecure(platforms, connectors, config):
    refused = connectors("http://example.com", config=config, args=["--no-prompt"])
    assert refused.wait() == 2
    line = refused.wait_for_output("unencrypted")
    assert "use https://example.com, or add --insecure" in line
    assert "Traceback" not in refused.output

    platform = platforms(offered=[echo_spec()])
    port = platform.url.rsplit(":", 1)[1]
    # 0.0.0.0 reaches this machine's listeners but is not a loopback address: it stands for a
    # host on the network.
    assert connectors(f"http://0.0.0.0:{port}", config=config).wait() == 2
    insecure = connectors(f"http://0.0.0.0:{port}", config=config, args=["--insecure"])
    assert platform.next_connection().next("hello")
    assert insecure.stop() == 0
    loopback = connectors(f"http://localhost:{port}", config=config, args=["--no-prompt"])
    assert platform.next_connection().next("hello")
    assert loopback.stop() == 0
    assert platform.authorizations == ["Bearer gth_connector_test_token"] * 2


def test_on_a_terminal_the_person_is_asked(platforms, connectors, config):
    platform = platforms(offered=[echo_spec(), echo_spec(name="other", args=["other.py"])])
    controller, terminal = pty.openpty()
    try:
        connector = connectors(platform.url, config=config, stdin=terminal)
        connection = platform.next_connection()
        assert connection.next("hello")["servers"] == []
        os.write(controller, b"y\n")  # echo, asked first
        os.write(controller, b"\n")  # other: the default is no
        assert connection.next("hello")["servers"] == ["echo"]
        question = connector.wait_for_output("Serve 'echo'")
        assert f"{sys.executable} {echo_spec()['args'][0]} (env: WHOAMI_LABEL)" in question
        assert list(json.loads(config.read_text())["allowed"]) == ["echo"]
        assert connector.stop() == 0
    finally:
        os.close(controller)
        os.close(terminal)
