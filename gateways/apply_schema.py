"""Configuration as code, part one: read a YAML file into a validated plan, without the database.

The YAML is composed into nodes (not loaded straight into Python values) so every value keeps its
line and column; every problem is reported as `FILE:LINE:COL: path: message`. The schema is a
declarative table (`SCHEMA`): a new top-level key such as `identity:` or `rules:` is one `Key(...)`
line here plus the code in `apply_plan` that acts on it. Cross-references (a gateway naming a
server, a user naming a team or role) are declared with `Ref` and resolved against the file
itself, because the file describes the whole workspace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from gateways.errors import ConfigInvalid, ConfigProblem, Position
from gateways.models import Assignment, namespace_validator
from servers.models import Server, server_name_validator
from servers.validation import normalise_server_fields
from teams.capabilities import ALL_KEYS, BUILTIN_ROLES, DEFAULT_ROLE_KEY
from teams.errors import ValidationFailed
from teams.models import slug_validator

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


def _position(node: yaml.Node) -> Position:
    # PyYAML marks count from zero; editors count from one.
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "map"
    if isinstance(node, yaml.SequenceNode):
        return "seq"
    return node.tag.removeprefix(_TAG) if node.tag.startswith(_TAG) else node.tag


class _Walk:
    """State of one validation pass: the problems found and where every value sits."""

    def __init__(self, loader: yaml.SafeLoader):
        self.loader = loader
        self.problems: list[ConfigProblem] = []
        self.positions: dict[Path, Position] = {}
        self.refs: list[tuple[Ref, Path, str]] = []

    def problem(self, node_or_pos, path: Path, message: str) -> None:
        pos = node_or_pos if isinstance(node_or_pos, Position) else _position(node_or_pos)
        self.problems.append(ConfigProblem(pos, format_path(path), message))

    def scalar(self, node: yaml.Node):
        return self.loader.construct_object(node)


# -- The value specs the schema table is made of ----------------------------------------------


class Spec:
    """Checks one node and returns its Python value, or `_INVALID` after recording a problem."""

    def check(self, node: yaml.Node, path: Path, walk: _Walk) -> Any:
        raise NotImplementedError

    def expect(self, node, path, walk, *kinds: str) -> bool:
        if _kind(node) in kinds:
            return True
        shown = [k for k in kinds if not (k == "int" and "float" in kinds)]
        wanted = " or ".join(_TYPE_NAMES[k] for k in shown)
        got = _TYPE_NAMES.get(_kind(node), _kind(node))
        walk.problem(node, path, f"expected {wanted}, got {got}")
        return False


_INVALID = object()


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
            return _INVALID
        value = walk.scalar(node)
        value = value.strip().lower() if self.lower else value
        if not value and not self.allow_blank:
            walk.problem(node, path, f"the {self.label} must not be empty")
            return _INVALID
        if len(value) > self.max_length:
            walk.problem(node, path, f"the {self.label} is longer than {self.max_length}")
            return _INVALID
        if self.choices and value not in self.choices:
            walk.problem(
                node,
                path,
                f"unknown {self.label} '{value}' (expected one of: {', '.join(self.choices)})",
            )
            return _INVALID
        if self.validator is not None and value:
            try:
                self.validator(value)
            except ValidationError as exc:
                walk.problem(node, path, f"bad {self.label} '{value}': {' '.join(exc.messages)}")
                return _INVALID
        return value


@dataclass(frozen=True)
class Ref(Text):
    """A string naming an entry of another top-level list (`collection`, matched on `key`)."""

    collection: str = ""
    key: str = ""
    builtin: tuple[str, ...] = ()

    def check(self, node, path, walk):
        value = super().check(node, path, walk)
        if value is not _INVALID:
            walk.refs.append((self, path, value))
        return value


@dataclass(frozen=True)
class Number(Spec):
    minimum: float | None = None
    allow_null: bool = False

    def check(self, node, path, walk):
        kinds = ("int", "float", "null") if self.allow_null else ("int", "float")
        if not self.expect(node, path, walk, *kinds):
            return _INVALID
        value = walk.scalar(node)
        if value is not None and self.minimum is not None and value <= self.minimum:
            walk.problem(node, path, f"must be greater than {self.minimum:g}")
            return _INVALID
        return value


@dataclass(frozen=True)
class Boolean(Spec):
    def check(self, node, path, walk):
        return walk.scalar(node) if self.expect(node, path, walk, "bool") else _INVALID


@dataclass(frozen=True)
class ListOf(Spec):
    """A list; `unique` names the keys of its mapping items that may not repeat."""

    item: Spec
    unique: tuple[str, ...] = ()

    def check(self, node, path, walk):
        if not self.expect(node, path, walk, "seq"):
            return _INVALID
        values, seen, ok = [], {}, True
        for index, child in enumerate(node.value):
            walk.positions[(*path, index)] = _position(child)
            value = self.item.check(child, (*path, index), walk)
            if value is _INVALID:
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
        return values if ok else _INVALID


@dataclass(frozen=True)
class MapOf(Spec):
    """A mapping with free-form string keys and values of one spec (environment, overrides)."""

    value: Spec
    key_label: str = "name"

    def check(self, node, path, walk):
        if not self.expect(node, path, walk, "map"):
            return _INVALID
        out = {}
        for key_node, value_node in node.value:
            if _kind(key_node) != "str":
                walk.problem(key_node, path, f"every {self.key_label} must be a string")
                continue
            key = walk.scalar(key_node)
            if key in out:
                walk.problem(key_node, (*path, key), f"duplicate {self.key_label} '{key}'")
                continue
            walk.positions[(*path, key)] = _position(value_node)
            value = self.value.check(value_node, (*path, key), walk)
            if value is not _INVALID:
                out[key] = value
        return out


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
            return _INVALID
        out, ok = {}, True
        for key_node, value_node in node.value:
            key = walk.scalar(key_node) if _kind(key_node) == "str" else None
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
            walk.positions[(*path, key)] = _position(value_node)
            value = self.keys[key].spec.check(value_node, (*path, key), walk)
            ok = ok and value is not _INVALID
            out[key] = value
        for key, spec in self.keys.items():
            if key in out:
                continue
            if spec.required:
                walk.problem(node, path, f"missing required key '{key}'")
                ok = False
            else:
                out[key] = spec.default() if callable(spec.default) else spec.default
        return out if ok else _INVALID


# -- The schema --------------------------------------------------------------------------------

SLUG = Text(validator=slug_validator, label="slug", max_length=50)
NAME = Text(label="name", max_length=120)
DESCRIPTION = Text(label="description", max_length=10_000, allow_blank=True)
BUILTIN_ROLE_KEYS = tuple(BUILTIN_ROLES)

WORKSPACE = Map({"slug": Key(SLUG, required=True), "name": Key(NAME, required=True)})
ROLE = Map(
    {
        "key": Key(SLUG, required=True),
        "name": Key(NAME, required=True),
        "capabilities": Key(
            ListOf(Text(choices=tuple(sorted(ALL_KEYS)), label="capability")), default=list
        ),
    }
)
TEAM = Map({"slug": Key(SLUG, required=True), "name": Key(NAME, required=True)})
TEAM_REF = Ref(label="team", collection="teams", key="slug")
USER = Map(
    {
        "email": Key(Text(validator=validate_email, label="email", lower=True), required=True),
        "role": Key(
            Ref(label="role", collection="roles", key="key", builtin=BUILTIN_ROLE_KEYS),
            default=DEFAULT_ROLE_KEY,
        ),
        "teams": Key(ListOf(TEAM_REF), default=list),
    }
)
SERVER = Map(
    {
        "name": Key(
            Text(validator=server_name_validator, label="server name", max_length=64),
            required=True,
        ),
        "kind": Key(Text(choices=tuple(Server.Kind.values), label="kind"), default="remote"),
        "transport": Key(Text(choices=tuple(Server.Transport.values), label="transport")),
        "url": Key(Text(validator=URLValidator(schemes=["http", "https"]), label="URL")),
        "command": Key(Text(label="command")),
        "args": Key(ListOf(Text(label="argument", allow_blank=True)), default=list),
        "env": Key(
            MapOf(Text(label="value", allow_blank=True), key_label="variable"), default=dict
        ),
        "description": Key(DESCRIPTION, default=""),
    }
)
TOOLS = Map(
    {
        "mode": Key(
            Text(choices=tuple(Assignment.ToolMode.values), label="tool mode"), default="all"
        ),
        "allow": Key(ListOf(Text(label="tool name")), default=list),
    }
)
OVERRIDE = Map({"name": Key(Text(label="tool name")), "description": Key(DESCRIPTION)})
ASSIGNMENT = Map(
    {
        "server": Key(Ref(label="server", collection="servers", key="name"), required=True),
        "namespace": Key(
            Text(validator=namespace_validator, label="namespace", max_length=32, allow_blank=True)
        ),
        "prefix": Key(
            Text(choices=tuple(Assignment.PrefixMode.values), label="prefix mode"),
            default="always",
        ),
        "tools": Key(TOOLS, default=lambda: {"mode": "all", "allow": []}),
        "prompts": Key(Boolean(), default=True),
        "resources": Key(Boolean(), default=True),
        "timeout": Key(Number(minimum=0, allow_null=True)),
        "overrides": Key(MapOf(OVERRIDE, key_label="tool name"), default=dict),
    }
)
GATEWAY = Map(
    {
        "slug": Key(SLUG, required=True),
        "name": Key(NAME, required=True),
        "description": Key(DESCRIPTION, default=""),
        "teams": Key(ListOf(TEAM_REF), default=list),
        "assignments": Key(ListOf(ASSIGNMENT, unique=("server",)), default=list),
    }
)
SCHEMA = Map(
    {
        "workspace": Key(WORKSPACE, required=True),
        "roles": Key(ListOf(ROLE, unique=("key",)), default=list),
        "teams": Key(ListOf(TEAM, unique=("slug",)), default=list),
        "users": Key(ListOf(USER, unique=("email",)), default=list),
        "servers": Key(ListOf(SERVER, unique=("name",)), default=list),
        "gateways": Key(ListOf(GATEWAY, unique=("slug",)), default=list),
    }
)


# -- The plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceSpec:
    slug: str
    name: str
    path: Path = ("workspace",)


@dataclass(frozen=True)
class RoleSpec:
    key: str
    name: str
    capabilities: list[str]
    path: Path


@dataclass(frozen=True)
class TeamSpec:
    slug: str
    name: str
    path: Path


@dataclass(frozen=True)
class UserSpec:
    email: str
    role: str
    teams: list[str]
    path: Path


@dataclass(frozen=True)
class ServerSpec:
    name: str
    kind: str
    transport: str
    url: str
    command: str
    args: list[str]
    env: dict[str, str]
    description: str
    path: Path


@dataclass(frozen=True)
class AssignmentSpec:
    """Desired values, named as the `Assignment` model fields they become."""

    server: str
    fields: dict[str, Any]
    path: Path


@dataclass(frozen=True)
class GatewaySpec:
    slug: str
    name: str
    description: str
    teams: list[str]
    assignments: list[AssignmentSpec]
    path: Path


@dataclass
class Plan:
    source: str
    workspace: WorkspaceSpec
    roles: list[RoleSpec]
    teams: list[TeamSpec]
    users: list[UserSpec]
    servers: list[ServerSpec]
    gateways: list[GatewaySpec]
    positions: dict[Path, Position]

    def position(self, path: Path) -> Position:
        """Where `path` sits in the file, or its nearest enclosing value."""
        while path and path not in self.positions:
            path = path[:-1]
        return self.positions.get(path, Position(1, 1))

    def problem(self, path: Path, message: str) -> ConfigInvalid:
        return ConfigInvalid(
            self.source, [ConfigProblem(self.position(path), format_path(path), message)]
        )


def default_namespace(server_name: str) -> str:
    return server_name[:32].replace("-", "_")


# -- Checks that span several keys -------------------------------------------------------------


def _check_refs(data: dict, walk: _Walk) -> None:
    for ref, path, value in walk.refs:
        known = {item[ref.key] for item in data.get(ref.collection) or []} | set(ref.builtin)
        if value not in known:
            where = f"'{ref.collection}'" + (" or a built-in role" if ref.builtin else "")
            walk.problem(
                walk.positions[path], path, f"unknown {ref.label} '{value}' (not listed in {where})"
            )


def _check_roles(data: dict, walk: _Walk) -> None:
    for index, role in enumerate(data["roles"]):
        if role["key"] in BUILTIN_ROLES:
            path = ("roles", index, "key")
            walk.problem(walk.positions[path], path, f"'{role['key']}' is a built-in role key")


def _check_servers(data: dict, walk: _Walk) -> None:
    for index, server in enumerate(data["servers"]):
        try:
            normalise_server_fields(
                kind=server["kind"],
                transport=server["transport"],
                url=server["url"] or "",
                command=server["command"] or "",
                args=server["args"],
                env=server["env"],
            )
        except ValidationFailed as exc:
            path = ("servers", index, exc.field)
            if path not in walk.positions:
                path = ("servers", index)
            walk.problem(walk.positions[path], path, exc.message)


def _check_assignments(data: dict, walk: _Walk) -> None:
    for g, gateway in enumerate(data["gateways"]):
        taken: dict[str, Position] = {}
        for a, assignment in enumerate(gateway["assignments"]):
            path = ("gateways", g, "assignments", a)
            namespace = assignment["namespace"]
            if namespace is None:
                namespace = default_namespace(assignment["server"])
            where = walk.positions.get((*path, "namespace"), walk.positions[path])
            if namespace and namespace in taken:
                walk.problem(
                    where,
                    (*path, "namespace"),
                    f"duplicate namespace '{namespace}' in gateway '{gateway['slug']}' "
                    f"(first at {taken[namespace]})",
                )
            if namespace:
                taken.setdefault(namespace, where)
            if assignment["prefix"] == "always" and not namespace:
                walk.problem(where, (*path, "namespace"), "prefix 'always' needs a namespace")
            tools = assignment["tools"]
            if tools["allow"] and tools["mode"] != "selected":
                allow = (*path, "tools", "allow")
                walk.problem(
                    walk.positions[allow], allow, "'allow' only applies to tools mode 'selected'"
                )


CHECKS = (_check_refs, _check_roles, _check_servers, _check_assignments)


# -- Entry point -------------------------------------------------------------------------------


def parse(text: str, *, source: str = "<config>") -> Plan:
    """Validate a configuration document and return its plan, or raise `ConfigInvalid`."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            pos = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
            raise ConfigInvalid(
                source, [ConfigProblem(pos, "(document)", f"not valid YAML: {exc.problem}")]
            ) from exc
        if root is None:
            raise ConfigInvalid(source, [ConfigProblem(Position(1, 1), "(document)", "empty file")])
        walk = _Walk(loader)
        data = SCHEMA.check(root, (), walk)
        if data is not _INVALID:
            for check in CHECKS:
                check(data, walk)
    finally:
        loader.dispose()
    if walk.problems:
        walk.problems.sort(key=lambda p: (p.position.line, p.position.column))
        raise ConfigInvalid(source, walk.problems)
    return _plan(data, source, walk.positions)


def _plan(data: dict, source: str, positions: dict[Path, Position]) -> Plan:
    def at(key):
        return [((key, i), item) for i, item in enumerate(data[key])]

    return Plan(
        source=source,
        workspace=WorkspaceSpec(slug=data["workspace"]["slug"], name=data["workspace"]["name"]),
        roles=[
            RoleSpec(
                key=r["key"], name=r["name"], capabilities=sorted(set(r["capabilities"])), path=p
            )
            for p, r in at("roles")
        ],
        teams=[TeamSpec(slug=t["slug"], name=t["name"], path=p) for p, t in at("teams")],
        users=[
            UserSpec(email=u["email"], role=u["role"], teams=sorted(set(u["teams"])), path=p)
            for p, u in at("users")
        ],
        servers=[_server(s, p) for p, s in at("servers")],
        gateways=[
            GatewaySpec(
                slug=g["slug"],
                name=g["name"],
                description=g["description"],
                teams=sorted(set(g["teams"])),
                assignments=[
                    _assignment(a, (*p, "assignments", i), i)
                    for i, a in enumerate(g["assignments"])
                ],
                path=p,
            )
            for p, g in at("gateways")
        ],
        positions=positions,
    )


def _server(s: dict, path: Path) -> ServerSpec:
    transport, url, command, args, env = normalise_server_fields(
        kind=s["kind"],
        transport=s["transport"],
        url=s["url"] or "",
        command=s["command"] or "",
        args=s["args"],
        env=s["env"],
    )
    return ServerSpec(
        name=s["name"],
        kind=s["kind"],
        transport=transport,
        url=url,
        command=command,
        args=args,
        env=env,
        description=s["description"],
        path=path,
    )


def _assignment(a: dict, path: Path, position: int) -> AssignmentSpec:
    namespace = a["namespace"] if a["namespace"] is not None else default_namespace(a["server"])
    overrides = {
        tool: {k: v for k, v in override.items() if v is not None}
        for tool, override in a["overrides"].items()
    }
    return AssignmentSpec(
        server=a["server"],
        fields={
            "namespace": namespace,
            "prefix_mode": a["prefix"],
            "tool_mode": a["tools"]["mode"],
            "tool_allow": list(a["tools"]["allow"]) if a["tools"]["mode"] == "selected" else [],
            "tool_overrides": overrides,
            "prompts_enabled": a["prompts"],
            "resources_enabled": a["resources"],
            "timeout_seconds": float(a["timeout"]) if a["timeout"] is not None else None,
            "position": position,
        },
        path=path,
    )
