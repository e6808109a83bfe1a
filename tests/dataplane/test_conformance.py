"""The official MCP conformance suite, run directly and through a transparent gateway.

The 2026-07-28 scenarios (conformance 0.2 alpha) run through the gateway twice: in front of the
conformance server as it is (both eras: the gateway holds a handshake session with it and calls
it statelessly for a 2026-07-28 caller) and in front of the same server speaking only
2026-07-28. Every scenario that passes directly must pass through the gateway, except those
listed below with what the gateway answered.
"""

import pytest

from gateways import services as gateway_services
from servers import services as server_services
from tests.support import conformance_runs
from tests.support.conformance_runs import PASS, with_outcome
from tests.support.live import ThreadedServer
from tests.support.token_proxy import TokenProxy
from tests.upstreams.test_upstreams_direct import EXPECTED_PASSING, EXPECTED_PASSING_2026

# Scenarios that cannot pass through a gateway, with the reason (also in docs/conformance.md).
GATEWAY_EXCEPTIONS: dict[str, str] = {}

# In front of the dual-era server the gateway holds a handshake session for callers of the
# earlier revisions and calls it statelessly for 2026-07-28 callers; in front of the
# 2026-07-28-only server, statelessly.
GATEWAY_EXCEPTIONS_2026: dict[str, str] = {}
GATEWAY_EXCEPTIONS_2026_MODERN_UPSTREAM: dict[str, str] = {}
# Each list was read from a run; a scenario the gateway later passes must leave its list.
UPSTREAMS = {
    "dual-era upstream": ("conformance_server_url", GATEWAY_EXCEPTIONS_2026),
    "2026-07-28 upstream": ("conformance_modern_url", GATEWAY_EXCEPTIONS_2026_MODERN_UPSTREAM),
}


def _transparent_gateway(deployment, alice, upstream_url):
    server = server_services.create_server(
        workspace=deployment.acme, name="conformance", url=upstream_url, actor=alice
    )
    gateway = gateway_services.create_gateway(
        workspace=deployment.acme, slug="conf", name="Conformance", actor=alice
    )
    gateway_services.provision_teams(gateway=gateway, team_slugs=["eng"], actor=alice)
    gateway_services.assign_server(
        gateway=gateway, server=server, namespace="", prefix_mode="never", actor=alice
    )
    return gateway


@pytest.fixture
def gateway_url(request, deployment, alice, bob, settings):
    """A transparent gateway in front of the conformance server (both eras unless parametrized)."""
    # Every request waits for the upstream's first lists, however loaded the machine: the suite
    # checks what the gateway relays, not what it answers before the upstream has.
    settings.UPSTREAM_LIST_DEADLINE_SECONDS = 60
    upstream_fixture = getattr(request, "param", "conformance_server_url")
    _transparent_gateway(deployment, alice, request.getfixturevalue(upstream_fixture))
    # The suite sends no credentials: the proxy adds bob's gateway token to every request.
    proxy = ThreadedServer(TokenProxy(deployment.base, deployment.token_for(bob))).start()
    try:
        yield f"{proxy.url}/mcp/acme/conf"
    finally:
        proxy.stop()


def test_every_scenario_the_upstream_passes_passes_through_the_gateway(gateway_url, tmp_path):
    outcomes = conformance_runs.run_server_suite(gateway_url, tmp_path)

    missing = EXPECTED_PASSING - with_outcome(outcomes, PASS) - set(GATEWAY_EXCEPTIONS)
    assert not missing, f"fail through the gateway: {sorted(missing)}"


@pytest.mark.parametrize(
    ("gateway_url", "exceptions"),
    list(UPSTREAMS.values()),
    ids=list(UPSTREAMS),
    indirect=["gateway_url"],
)
def test_every_2026_scenario_the_upstream_passes_passes_through_the_gateway(
    gateway_url, exceptions, tmp_path
):
    outcomes = conformance_runs.run_2026_suite(gateway_url, tmp_path)

    passed = with_outcome(outcomes, PASS)
    missing = EXPECTED_PASSING_2026 - passed - set(exceptions)
    failures = conformance_runs.failing_checks(tmp_path / conformance_runs.RESULTS_2026)
    assert not missing, {scenario: failures.get(scenario) for scenario in sorted(missing)}
    now_passing = sorted(set(exceptions) & passed)
    assert not now_passing, f"passes through the gateway now, drop the exception: {now_passing}"
