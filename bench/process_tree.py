"""Resident memory and CPU time of a process and its descendants, read from /proc (Linux; no
psutil needed).

A served platform is a tree: the server process and the audit writer it starts (and anything
either spawns). `tree_rss` and `tree_cpu_seconds` find the descendants afresh on every call, so
a child started or restarted during a run is counted from its first sample. `named_cpu_seconds`
sums the processes of a shared service (PostgreSQL's backends, Redis) by command name.
"""

import os
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


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


def _stat_fields(pid: int) -> tuple[str, list[str]] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    return name, stat.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 once it has gone)."""
    found = _stat_fields(pid)
    if found is None:
        return 0.0
    fields = found[1]
    # utime and stime are the 14th and 15th fields of stat; `fields` starts at the 3rd.
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu_seconds(root: int) -> float:
    return cpu_seconds(root) + sum(cpu_seconds(pid) for pid in descendants(root))


def named_cpu_seconds(names: tuple[str, ...]) -> float:
    """CPU time of every process whose command name is one of `names` (e.g. `postgres`), with
    that of their children which have exited (a closed PostgreSQL connection's backend)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            found = _stat_fields(int(entry.name))
            if found is not None and found[0] in names:
                # utime, stime, cutime, cstime
                total += sum(int(field) for field in found[1][11:15]) / TICKS
    return total
