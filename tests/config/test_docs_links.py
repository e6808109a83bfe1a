"""Every relative link of the README and docs/ names a file that exists, and every page of docs/
is reachable from the README: moving a section must move its links with it."""

import re

from tests.support.deploy_files import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)")


def _pages():
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_relative_link_names_a_file():
    broken = [
        f"{page.relative_to(ROOT)} -> {target}"
        for page in _pages()
        for target in LINK.findall(page.read_text())
        if "://" not in target and not target.startswith("mailto:")
        if not (page.parent / target).exists()
    ]
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme():
    linked = {
        (ROOT / target).resolve() for target in LINK.findall((ROOT / "README.md").read_text())
    }
    unlinked = [page.name for page in _pages()[1:] if page.resolve() not in linked]
    assert not unlinked, f"the README links to none of {unlinked}"
