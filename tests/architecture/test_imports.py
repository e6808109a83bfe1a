"""The import graph of docs/architecture.md: no module-level import cycle anywhere, and the
layer contract holds (the same check `make lint` runs with import-linter)."""

import subprocess
import sys
from pathlib import Path

import grimp

from tests.architecture.layer_contract import is_edge

PACKAGES = (
    "core",
    "teams",
    "servers",
    "gateways",
    "identities",
    "audit",
    "rules",
    "dataplane",
    "apply",
    "config",
)
ROOT = Path(__file__).resolve().parents[2]


def cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    successors = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(successors):
        if root in index:
            continue
        work = [(root, iter(successors[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_there_is_no_import_cycle():
    # TYPE_CHECKING imports count: a cycle hidden behind one is still a cycle of the design.
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("a", "a.one", "a.two", "a.three"):
        graph.add_module(name)
    graph.add_import(importer="a.one", imported="a.two")
    graph.add_import(importer="a.two", imported="a.one")
    graph.add_import(importer="a.three", imported="a.one")
    assert cycles(graph) == [["a.one", "a.two"]]


def test_the_layer_contract_is_kept():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 kept, 0 broken" in result.stdout


def test_edges_are_told_apart_by_name():
    assert is_edge("gateways.api")
    assert is_edge("audit.alerts.webhook_console")
    assert is_edge("identities.management.commands.issue_token")
    assert is_edge("teams.sso.views")
    assert not is_edge("teams.console_base")
    assert not is_edge("teams.api_base")
    assert not is_edge("gateways.services")
