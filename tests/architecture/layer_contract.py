"""The import-linter contract of docs/architecture.md: layers, with edges on top of their app.

A module may import modules of its own layer and of the layers below it. Edge modules (API
views, console pages, the admin, URL confs, management commands, template tags) are the one
exception: they parse input, call any app's services and selectors and render, so they may import
upward; in exchange nothing imports an edge, except the URL confs that route to it. Imports listed
in `ignore_imports` are allowed upward calls, each a named decision.
"""

from __future__ import annotations

import re

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

EDGE = re.compile(
    r"""(^|\.)(api|views|admin|urls|console|console_(?!base$)[a-z_]+|[a-z_]+_api|[a-z_]+_console|
    [a-z_]+_views|[a-z_]+_urls)$|\.management\.commands\.|\.templatetags\.""",
    re.VERBOSE,
)


def is_edge(module: str) -> bool:
    return bool(EDGE.search(module))


def may_import_edges(module: str) -> bool:
    """URL confs route to edges; nothing else may import one."""
    return module.startswith("config.") or module.endswith(".urls") or module.endswith("_urls")


class EdgeAwareLayersContract(Contract):
    """Layers, highest first; edge modules exempt from the layers and never imported."""

    type_name = "edge_aware_layers"

    layers = fields.ListField(subfield=fields.StringField())
    ignore_imports = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        rank = {name: len(self.layers) - i for i, name in enumerate(self.layers)}
        allowed = {tuple(part.strip() for part in line.split("->")) for line in self.ignore_imports}
        upward, into_edges, unused = [], [], set(allowed)
        for importer in sorted(graph.modules):
            top = importer.split(".")[0]
            if top not in rank:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                imported_top = imported.split(".")[0]
                if imported_top not in rank:
                    continue
                lines = [
                    d["line_number"]
                    for d in graph.get_import_details(importer=importer, imported=imported)
                ]
                record = {"importer": importer, "imported": imported, "lines": lines}
                if is_edge(imported) and not may_import_edges(importer):
                    into_edges.append(record)
                if rank[imported_top] > rank[top] and not is_edge(importer):
                    if (importer, imported) in allowed:
                        unused.discard((importer, imported))
                    else:
                        upward.append(record)
        kept = not upward and not into_edges and not unused
        return ContractCheck(
            kept=kept,
            metadata={"upward": upward, "into_edges": into_edges, "unused": sorted(unused)},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for record in check.metadata["upward"]:
            output.print_error(
                f"{record['importer']} imports {record['imported']} of a higher layer "
                f"(l.{', '.join(map(str, record['lines']))})",
                bold=False,
            )
        for record in check.metadata["into_edges"]:
            output.print_error(
                f"{record['importer']} imports the edge module {record['imported']} "
                f"(l.{', '.join(map(str, record['lines']))})",
                bold=False,
            )
        for importer, imported in check.metadata["unused"]:
            output.print_error(
                f"ignore_imports names an import that is gone: {importer} -> {imported}"
            )
        output.new_line()
