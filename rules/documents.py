"""How the engine walks a payload and writes a rewritten value back into it.

The text rules see every string of a payload. Inside the data of a call (the `arguments` of a
request, the `structuredContent` of a result) they also see numbers, as their decimal text (a
card number stored as a number is still a card number), and object keys (an email address used
as a key is still an email address). The protocol's own envelope (`content[].type`,
`isError`, `_meta`...) is not data: its keys and numbers are left alone, so no rule can break
the shape of a result.

A rewritten number becomes a string; a rewritten key renames its entry, keeping the entry's
place and the object's keys unique (`[REDACTED:EMAIL]`, `[REDACTED:EMAIL]#2`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.json_text import scannable

STRING, NUMBER, KEY = 0, 1, 2
# The members of a payload that hold a call's data rather than the protocol's envelope.
DATA_ROOTS = frozenset({"arguments", "structuredContent"})
# Binary content (base64) is not text a person wrote; scanning it costs time and finds noise.
BINARY_KEYS = frozenset({"blob"})
_SCANNED = (str, dict, list)
_NUMBERS = (int, float)  # `type(True)` is bool, so booleans are not numbers here


@dataclass(frozen=True, slots=True)
class KeyName:
    """The last step of the path of a rename: the key `name` of the object the path leads to
    (collected keys carry their value's path; the engine makes this step when it renames)."""

    name: str


def collect(payload) -> tuple[list[str], list, list[tuple], list[int], dict[int, str]]:
    """Every scanned value of `payload` in document order (an object's key before its value):
    the values as the detectors see them, the key each sits under, their paths, their roles,
    and, by index, the strings whose text differs from what the detectors see (JSON text with
    escapes, `json_text.scannable`)."""
    into: tuple[list, list, list, list, dict] = ([], [], [], [], {})
    _collect(payload, None, (), into, False)
    return into


def _collect(node, key, path: tuple, into, data: bool) -> None:
    values, keys, paths, roles, raw = into
    kind = type(node)
    if kind is str:
        if node:
            if "\\" in node:
                seen = scannable(node)
                if seen is not node:
                    raw[len(values)] = node
                    node = seen
            values.append(node)
            keys.append(key)
            paths.append(path)
            roles.append(STRING)
    elif kind is dict:
        top = not path
        for k, v in node.items():
            t = type(v)
            if data:
                # A key's path is its value's: the role tells the engine to rename, not replace.
                sub = (*path, k)
                if type(k) is str and k:
                    values.append(k)
                    keys.append(None)
                    paths.append(sub)
                    roles.append(KEY)
                if t in _NUMBERS:
                    values.append(str(v))
                    keys.append(k)
                    paths.append(sub)
                    roles.append(NUMBER)
                    continue
            elif t in _NUMBERS:
                continue
            if t not in _SCANNED or k in BINARY_KEYS:
                continue
            if k == "data" and "mimeType" in node:
                continue
            _collect(v, k, (*path, k), into, data or (top and k in DATA_ROOTS))
    elif kind is list:
        for i, v in enumerate(node):
            t = type(v)
            if t in _SCANNED:
                _collect(v, key, (*path, i), into, data)
            elif data and t in _NUMBERS:
                values.append(str(v))
                keys.append(key)
                paths.append((*path, i))
                roles.append(NUMBER)


def replaced(node, updates: list[tuple[tuple, str]], depth: int, renames: list):
    """A copy of `node` with the values at these paths (each passing through `node` at
    `depth`) replaced and the keys at `KeyName` paths renamed; containers no path goes through
    are shared, not copied. Each rename is noted in `renames` as `(path of the old key, new
    name)`."""
    if len(updates) == 1 and len(updates[0][0]) == depth:
        return updates[0][1]
    groups: dict = {}
    names: dict[str, str] = {}
    for update in updates:
        step = update[0][depth]
        if type(step) is KeyName:
            names[step.name] = update[1]
        else:
            groups.setdefault(step, []).append(update)
    copy = dict(node) if type(node) is dict else list(node)
    for step, group in groups.items():
        copy[step] = replaced(node[step], group, depth + 1, renames)
    if names:
        prefix = updates[0][0][:depth]
        copy = _renamed(copy, names, prefix, renames)
    return copy


def _renamed(node: dict, names: dict[str, str], prefix: tuple, renames: list) -> dict:
    taken = {k for k in node if k not in names}
    out = {}
    for k, v in node.items():
        if k in names:
            new, n = names[k], 1
            while new in taken:
                n += 1
                new = f"{names[k]}#{n}"
            taken.add(new)
            renames.append(((*prefix, k), new))
            k = new
        out[k] = v
    return out


def renamed_paths(path: tuple, renames: list[tuple[tuple, str]]) -> tuple:
    """`path` after these key renames."""
    for old, new in renames:
        if path[: len(old)] == old:
            path = (*old[:-1], new, *path[len(old) :])
    return path
