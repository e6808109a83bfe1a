"""The small declarative language the configuration schema is written in.

Each spec checks one composed YAML node (which still knows its line and column) and returns the
plain Python value, or `INVALID` after recording a problem at the node's position. `Map` refuses
unknown keys and fills defaults, `ListOf` refuses duplicates of the keys it names, `Ref` records a
reference that `apply_schema` resolves once the whole document is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import ValidationError

from gateways.errors import ConfigProblem, Position

Path = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_TYPE_NAMES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "null": "null",
    "seq": "a list",
    "map": "a mapping",
}


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(document)"


def position_of(node: yaml.Node) -> Position:
    # PyYAML marks count from zero; editors count from one.
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def kind_of(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "map"
    if isinstance(node, yaml.SequenceNode):
        return "seq"
    return node.tag.removeprefix(_TAG) if node.tag.startswith(_TAG) else node.tag


class Walk:
    """State of one validation pass: the problems found and where every value sits."""

    def __init__(self, loader: yaml.SafeLoader):
        self.loader = loader
        self.problems: list[ConfigProblem] = []
        self.positions: dict[Path, Position] = {}
        self.refs: list[tuple[Ref, Path, str]] = []

    def problem(self, node_or_pos, path: Path, message: str) -> None:
        pos = node_or_pos if isinstance(node_or_pos, Position) else position_of(node_or_pos)
        self.problems.append(ConfigProblem(pos, format_path(path), message))

    def scalar(self, node: yaml.Node):
        return self.loader.construct_object(node)


# -- The value specs the schema table is made of ----------------------------------------------


class Spec:
    """Checks one node and returns its Python value, or `INVALID` after recording a problem."""

    def check(self, node: yaml.Node, path: Path, walk: Walk) -> Any:
        raise NotImplementedError

    def expect(self, node, path, walk, *kinds: str) -> bool:
        if kind_of(node) in kinds:
            return True
        shown = [k for k in kinds if not (k == "int" and "float" in kinds)]
        wanted = " or ".join(_TYPE_NAMES[k] for k in shown)
        got = _TYPE_NAMES.get(kind_of(node), kind_of(node))
        walk.problem(node, path, f"expected {wanted}, got {got}")
        return False


INVALID = object()


@dataclass(frozen=True)
class Text(Spec):
    """A string, optionally checked by a Django validator or against a fixed set of choices."""

    validator: Any = None
    choices: tuple[str, ...] = ()
    label: str = "value"
    max_length: int = 500
    allow_blank: bool = False
    lower: bool = False

    def check(self, node, path, walk):
        if not self.expect(node, path, walk, "str"):
            return INVALID
        value = walk.scalar(node)
        value = value.strip().lower() if self.lower else value
        if not value and not self.allow_blank:
            walk.problem(node, path, f"the {self.label} must not be empty")
            return INVALID
        if len(value) > self.max_length:
            walk.problem(node, path, f"the {self.label} is longer than {self.max_length}")
            return INVALID
        if self.choices and value not in self.choices:
            walk.problem(
                node,
                path,
                f"unknown {self.label} '{value}' (expected one of: {', '.join(self.choices)})",
            )
            return INVALID
        if self.validator is not None and value:
            try:
                self.validator(value)
            except ValidationError as exc:
                walk.problem(node, path, f"bad {self.label} '{value}': {' '.join(exc.messages)}")
                return INVALID
        return value


@dataclass(frozen=True)
class Ref(Text):
    """A string naming an entry of another top-level list (`collection`, matched on `key`)."""

    collection: str = ""
    key: str = ""
    builtin: tuple[str, ...] = ()

    def check(self, node, path, walk):
        value = super().check(node, path, walk)
        if value is not INVALID:
            walk.refs.append((self, path, value))
        return value


@dataclass(frozen=True)
class Number(Spec):
    minimum: float | None = None
    allow_null: bool = False

    def check(self, node, path, walk):
        kinds = ("int", "float", "null") if self.allow_null else ("int", "float")
        if not self.expect(node, path, walk, *kinds):
            return INVALID
        value = walk.scalar(node)
        if value is not None and self.minimum is not None and value <= self.minimum:
            walk.problem(node, path, f"must be greater than {self.minimum:g}")
            return INVALID
        return value


@dataclass(frozen=True)
class Boolean(Spec):
    def check(self, node, path, walk):
        return walk.scalar(node) if self.expect(node, path, walk, "bool") else INVALID


@dataclass(frozen=True)
class ListOf(Spec):
    """A list; `unique` names the keys of its mapping items that may not repeat."""

    item: Spec
    unique: tuple[str, ...] = ()

    def check(self, node, path, walk):
        if not self.expect(node, path, walk, "seq"):
            return INVALID
        values, seen, ok = [], {}, True
        for index, child in enumerate(node.value):
            walk.positions[(*path, index)] = position_of(child)
            value = self.item.check(child, (*path, index), walk)
            if value is INVALID:
                ok = False
                continue
            for key in self.unique:
                marker = value.get(key)
                if marker in (None, ""):
                    continue
                where = (*path, index, key)
                if (key, marker) in seen:
                    walk.problem(
                        walk.positions[where],
                        where,
                        f"duplicate {key} '{marker}' (first at {seen[(key, marker)]})",
                    )
                else:
                    seen[(key, marker)] = walk.positions[where]
            values.append(value)
        # One bad item spoils the list, so cross-reference checks never see a partial one.
        return values if ok else INVALID


@dataclass(frozen=True)
class MapOf(Spec):
    """A mapping with free-form string keys and values of one spec (environment, overrides)."""

    value: Spec
    key_label: str = "name"

    def check(self, node, path, walk):
        if not self.expect(node, path, walk, "map"):
            return INVALID
        out = {}
        for key_node, value_node in node.value:
            if kind_of(key_node) != "str":
                walk.problem(key_node, path, f"every {self.key_label} must be a string")
                continue
            key = walk.scalar(key_node)
            if key in out:
                walk.problem(key_node, (*path, key), f"duplicate {self.key_label} '{key}'")
                continue
            walk.positions[(*path, key)] = position_of(value_node)
            value = self.value.check(value_node, (*path, key), walk)
            if value is not INVALID:
                out[key] = value
        return out


@dataclass(frozen=True)
class Typed(Spec):
    """A name, or a mapping with a `type` name and free-form settings: `redact` or
    `{type: mask, keep: 4}`. Returns `{"type": ..., **settings}`; the settings are checked by
    whoever owns them (a rule's detector or action)."""

    label: str = "type"

    def check(self, node, path, walk):
        if not self.expect(node, path, walk, "str", "map"):
            return INVALID
        if kind_of(node) == "str":
            name = Text(label=self.label).check(node, path, walk)
            return INVALID if name is INVALID else {"type": name}
        for key_node, _value_node in node.value:
            if kind_of(key_node) != "str":
                walk.problem(
                    key_node, path, f"every {self.label} setting must be named by a string"
                )
                return INVALID
        value = walk.loader.construct_object(node, deep=True)
        kind = value.get("type")
        if not isinstance(kind, str) or not kind:
            walk.problem(node, path, f"missing required key 'type' (the {self.label})")
            return INVALID
        for key_node, value_node in node.value:
            walk.positions[(*path, walk.scalar(key_node))] = position_of(value_node)
        return value


@dataclass(frozen=True)
class Key:
    spec: Spec
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Map(Spec):
    """A mapping with a fixed set of keys; unknown keys are errors, missing ones get defaults."""

    keys: dict[str, Key] = field(default_factory=dict)

    def check(self, node, path, walk):
        if not self.expect(node, path, walk, "map"):
            return INVALID
        out, ok = {}, True
        for key_node, value_node in node.value:
            key = walk.scalar(key_node) if kind_of(key_node) == "str" else None
            if key not in self.keys:
                label = key if key is not None else key_node.value
                walk.problem(
                    key_node,
                    (*path, str(label)),
                    f"unknown key '{label}' (allowed: {', '.join(self.keys)})",
                )
                ok = False
                continue
            if key in out:
                walk.problem(key_node, (*path, key), f"duplicate key '{key}'")
                ok = False
                continue
            walk.positions[(*path, key)] = position_of(value_node)
            value = self.keys[key].spec.check(value_node, (*path, key), walk)
            ok = ok and value is not INVALID
            out[key] = value
        for key, spec in self.keys.items():
            if key in out:
                continue
            if spec.required:
                walk.problem(node, path, f"missing required key '{key}'")
                ok = False
            else:
                out[key] = spec.default() if callable(spec.default) else spec.default
        return out if ok else INVALID
