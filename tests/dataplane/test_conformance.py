"""The official MCP conformance suite, run directly and through a transparent gateway."""

import json
import re
import subprocess

import pytest

from gateways import services as gateway_services
from servers import services as server_services
from tests.support import node
from tests.support.live import ThreadedServer
from tests.support.token_proxy import TokenProxy
from tests.upstreams.test_upstreams_direct import EXPECTED_PASSING

RESULT_DIR = re.compile(r"server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z")
# Scenarios that cannot pass through a gateway, with the reason (also in docs/conformance.md).
GATEWAY_EXCEPTIONS: dict[str, str] = {}


def run_suite(url: str, tmp_path) -> dict[str, bool]:
    out = tmp_path / "results"
    command = node.conformance_command(
        "server", "--url", url, "--suite", "all", "--output-dir", str(out)
    )
    subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=node.isolated_env(tmp_path)
    )
    outcomes = {}
    for checks_file in out.glob("server-*/checks.json"):
        scenario = RESULT_DIR.fullmatch(checks_file.parent.name).group(1)
        statuses = {check["status"] for check in json.loads(checks_file.read_text())}
        outcomes[scenario] = not statuses & {"FAILURE", "WARNING"}
    return outcomes


@pytest.fixture
def transparent_gateway(deployment, alice, conformance_server_url):
    server = server_services.create_server(
        workspace=deployment.acme, name="conformance", url=conformance_server_url, actor=alice
    )
    gateway = gateway_services.create_gateway(
        workspace=deployment.acme, slug="conf", name="Conformance", actor=alice
    )
    gateway_services.provision_teams(gateway=gateway, team_slugs=["eng"], actor=alice)
    gateway_services.assign_server(
        gateway=gateway, server=server, namespace="", prefix_mode="never", actor=alice
    )
    return gateway


def test_every_scenario_the_upstream_passes_passes_through_the_gateway(
    deployment, transparent_gateway, bob, tmp_path
):
    proxy = ThreadedServer(TokenProxy(deployment.base, deployment.token_for(bob))).start()
    try:
        outcomes = run_suite(f"{proxy.url}/mcp/acme/conf", tmp_path)
    finally:
        proxy.stop()
    passed = {s for s, ok in outcomes.items() if ok}
    missing = EXPECTED_PASSING - passed - set(GATEWAY_EXCEPTIONS)
    assert not missing, f"fail through the gateway: {sorted(missing)}"
