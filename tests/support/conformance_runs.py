"""Running the MCP conformance suite's server scenarios and reading what each scenario got.

Both pinned versions write one ``server-<scenario>-<timestamp>/checks.json`` per scenario. A
scenario passes when none of its checks is a FAILURE or a WARNING (the suite's own
``--expected-failures`` baseline counts warnings as failures too), and is skipped when every
check it made was SKIPPED or INFO: the suite could not exercise it, so it proves nothing either
way.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support import node

# Result folders are named server-<scenario>-<ISO timestamp with dashes>.
RESULT_DIR = re.compile(r"server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z")
PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
# Where each run leaves its results, under the home folder it is given.
RESULTS, RESULTS_2026 = "results", "results-2026"


def scenario_outcomes(results: Path) -> dict[str, str]:
    """Each scenario's outcome (``pass``, ``fail`` or ``skipped``) from a results folder."""
    outcomes = {}
    for checks_file in results.glob("server-*/checks.json"):
        scenario = RESULT_DIR.fullmatch(checks_file.parent.name).group(1)
        statuses = {check["status"] for check in json.loads(checks_file.read_text())}
        if statuses & {"FAILURE", "WARNING"}:
            outcomes[scenario] = FAIL
        elif "SUCCESS" in statuses:
            outcomes[scenario] = PASS
        else:
            outcomes[scenario] = SKIPPED
    return outcomes


def failing_checks(results: Path) -> dict[str, list[str]]:
    """For each scenario that failed, its failed or warned checks with their messages."""
    failures: dict[str, list[str]] = {}
    for checks_file in results.glob("server-*/checks.json"):
        scenario = RESULT_DIR.fullmatch(checks_file.parent.name).group(1)
        for check in json.loads(checks_file.read_text()):
            if check["status"] in {"FAILURE", "WARNING"}:
                message = f"{check['id']}: {check.get('errorMessage', '')}"
                failures.setdefault(scenario, []).append(message)
    return failures


def run_server_suite(url: str, home: Path, *, timeout: int = 300) -> dict[str, str]:
    """Conformance 0.1.16, ``--suite all``: the handshake-era server scenarios."""
    results = home / RESULTS
    command = node.conformance_command(
        "server", "--url", url, "--suite", "all", "--output-dir", str(results)
    )
    subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=node.isolated_env(home)
    )
    return scenario_outcomes(results)


def run_2026_suite(url: str, home: Path, *, timeout: int = 300) -> dict[str, str]:
    """Conformance 0.2 alpha, ``--requirements 2026-07-28``.

    That runs the scenarios a 2026-07-28 server must pass, and reports (without scoring them)
    the tasks extension's scenarios and the pending ones; all of them are read here.
    """
    results = home / RESULTS_2026
    command = node.conformance_next_command(
        "server", "--url", url, "--requirements", "2026-07-28", "--output-dir", str(results)
    )
    subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=node.isolated_env(home)
    )
    return scenario_outcomes(results)


def _run(command: list[str], results: Path, home: Path, timeout: int) -> dict[str, str]:
    # The exit status only says whether some scenario failed; the results folder says which.
    subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=node.isolated_env(home)
    )
    return scenario_outcomes(results)


def with_outcome(outcomes: dict[str, str], outcome: str) -> set[str]:
    return {scenario for scenario, got in outcomes.items() if got == outcome}
