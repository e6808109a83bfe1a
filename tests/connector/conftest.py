"""Fixtures of the connector tests: the platform's side, the connector process, server specs."""

import json
import sys
from pathlib import Path

import pytest

from tests.connector.connector_process import ConnectorProcess
from tests.connector.platform_side import Platform

HERE = Path(__file__).resolve().parent
ECHO_SERVER = str(HERE / "echo_stdio_server.py")
MARKER_SERVER = str(HERE / "marker_server.py")


def echo_spec(**changes):
    spec = {
        "name": "echo",
        "command": sys.executable,
        "args": [ECHO_SERVER],
        "env_keys": ["WHOAMI_LABEL"],
        "url": None,
        "scope": "personal",
    }
    return {**spec, **changes}


def echo_approval(**changes):
    """The config file's entry that approves `echo_spec()` as it is."""
    return {
        "command": sys.executable,
        "args": [ECHO_SERVER],
        "env_keys": ["WHOAMI_LABEL"],
        **changes,
    }


def write_config(path: Path, allowed: dict) -> Path:
    path.write_text(json.dumps({"allowed": allowed}))
    return path


@pytest.fixture
def config(tmp_path):
    return tmp_path / "connect.json"


@pytest.fixture
def platforms():
    started: list[Platform] = []

    def start(**kwargs) -> Platform:
        platform = Platform(**kwargs).start()
        started.append(platform)
        return platform

    yield start
    for platform in started:
        platform.stop()


@pytest.fixture
def connectors():
    """Start connector processes; any still running at the end is stopped."""
    started: list[ConnectorProcess] = []

    def start(*args, **kwargs) -> ConnectorProcess:
        process = ConnectorProcess(*args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.popen.poll() is None:
            process.stop()
