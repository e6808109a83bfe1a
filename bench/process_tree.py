"""Resident memory of a process and its descendants, read from /proc (Linux; no psutil needed).

A served platform is a tree: the server process and the audit writer it starts (and anything
either spawns). `tree_rss` finds the descendants afresh on every call, so a child started or
restarted during a run is counted from its first sample.
"""

import os
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces; the fields after it are fixed.
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            parent = _parent(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> dict:
    """RSS in bytes of `root`, of its descendants together, and how many descendants."""
    others = descendants(root)
    return {
        "server": rss_bytes(root),
        "children": sum(rss_bytes(pid) for pid in others),
        "processes": 1 + len(others),
    }
