"""A tool's `structuredContent` keeps the types its `outputSchema` declares after the response
rules ran (part of step 7, called from `dataplane/policy.py`).

A rule that rewrites a number (a card number stored as a number) leaves a string in its place.
The string stays where the tool's output schema allows a string at that place, or where the
tool declares no schema; elsewhere a client that validates the result against the schema would
refuse the whole result, so the field is removed instead, and the rule's `policy.action` entry
says which field and why (`removed`).

Only what the engine rewrote is judged: the rest of the result is the upstream's, as it sent it.
"""

from __future__ import annotations

import re

from rules.engine import format_path

REMOVED_REASON = "a number was rewritten and the tool's outputSchema allows no string there"
# How deep `$ref`s and combinators are followed; a schema deeper than this allows the string.
_MAX_DEPTH = 32


def fit(result: dict, retyped: dict[tuple, int], schema, events: list[dict]) -> dict:
    """`result` with every rewritten number of its `structuredContent` that the schema does
    not let be a string removed (in place: the engine copied those containers already), each
    removal noted in the event of the rule that rewrote it."""
    if not isinstance(schema, dict):
        return result
    doomed = [
        (path, event)
        for path, event in retyped.items()
        if path[:1] == ("structuredContent",) and not allows_string(schema, path[1:])
    ]
    # Last first, so removing an item from a list does not shift the ones still to remove.
    for path, event in sorted(doomed, key=lambda d: d[0], reverse=True):
        parent = result
        for step in path[:-1]:
            parent = parent[step]
        del parent[path[-1]]
        events[event].setdefault("removed", []).append(
            {"path": format_path(path), "reason": REMOVED_REASON}
        )
    return result


def allows_string(schema: dict, steps: tuple) -> bool:
    """Whether a string may stand at `steps` (keys and list indexes) in a document `schema`
    describes. What the schema does not describe, it allows."""
    return any(_string_ok(s, schema, 0) for s in _at(schema, schema, steps, 0))


def _resolve(schema, root: dict, depth: int):
    """`schema` with a local `$ref` (`#/$defs/Name`) followed."""
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < _MAX_DEPTH:
        ref = schema["$ref"]
        if not ref.startswith("#"):
            return True  # a remote schema is not fetched: nothing known, so allowed
        target = root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        schema, depth = (target if target is not None else True), depth + 1
    return schema


def _branches(schema, root: dict, depth: int) -> list:
    """The alternatives a value may satisfy: `anyOf`/`oneOf` branches, `allOf` parts kept
    together with the schema itself."""
    schema = _resolve(schema, root, depth)
    if not isinstance(schema, dict) or depth >= _MAX_DEPTH:
        return [schema]
    choices = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(choices, list) and choices:
        return [b for c in choices for b in _branches(c, root, depth + 1)]
    return [schema]


def _at(schema, root: dict, steps: tuple, depth: int) -> list:
    """The (sub)schemas that may describe the value at `steps`."""
    out = []
    for branch in _branches(schema, root, depth):
        if not steps:
            out.append(branch)
            continue
        if not isinstance(branch, dict):
            if branch is not False:
                out.append(True)
            continue
        parts = [branch, *(p for p in branch.get("allOf") or () if isinstance(p, dict))]
        for part in parts:
            child = _child(_resolve(part, root, depth), steps[0])
            if child is not None:
                out.extend(_at(child, root, steps[1:], depth + 1))
    return out


def _child(schema, step):
    """The schema of one member (`step` a key) or item (`step` an index); None when `schema`
    says nothing of it (another part of an `allOf` may)."""
    if not isinstance(schema, dict):
        return schema
    if isinstance(step, int):
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and step < len(prefix):
            return prefix[step]
        items = schema.get("items")
        return items if items is not None else True
    properties = schema.get("properties")
    if isinstance(properties, dict) and step in properties:
        return properties[step]
    patterns = schema.get("patternProperties")
    if isinstance(patterns, dict):
        for pattern, sub in patterns.items():
            try:
                if re.search(pattern, step):
                    return sub
            except re.error:
                continue
    additional = schema.get("additionalProperties")
    return additional if additional is not None else True


def _string_ok(schema, root: dict, depth: int) -> bool:
    schema = _resolve(schema, root, depth)
    if schema is True or schema is None:
        return True
    if schema is False or not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if "string" not in kinds:
            return False
    for key in ("enum", "const"):
        if key in schema:
            values = schema[key] if key == "enum" else [schema[key]]
            # The rewritten text is not one of the listed values.
            if not isinstance(values, list) or not any(isinstance(v, str) for v in values):
                return False
    parts = schema.get("allOf")
    if isinstance(parts, list) and not all(_string_ok(p, root, depth + 1) for p in parts):
        return False
    choices = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(choices, list) and choices:
        return any(_string_ok(c, root, depth + 1) for c in choices)
    return True
