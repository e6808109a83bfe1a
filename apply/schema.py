"""Configuration as code, part one: read a YAML file into a validated plan, without the database.

The YAML is composed into nodes (not loaded straight into Python values) so every value keeps its
line and column; every problem is reported as `FILE:LINE:COL: path: message`. The schema is a
declarative table (`SCHEMA`): a new top-level key such as `identity:` is one `Key(...)`
line here plus the code in `apply_plan` that acts on it. Cross-references (a gateway naming a
server, a user naming a team or role) are declared with `Ref` and resolved against the file
itself, because the file describes the whole workspace.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.validators import RegexValidator, URLValidator, validate_email

from apply.specs import (
    INVALID,
    Boolean,
    Key,
    ListOf,
    Map,
    MapOf,
    Number,
    Path,
    Ref,
    Text,
    Typed,
    Walk,
    format_path,
)
from core.errors import ValidationFailed
from gateways import rate_limits
from gateways.errors import ConfigInvalid, ConfigProblem, InvalidLimits, Position
from gateways.models import Assignment, namespace_validator
from identities.upstream import credential_shapes
from rules.definitions import CONDITION_KEYS, DIRECTIONS, MODES, clean_rule
from rules.errors import InvalidRule
from servers.models import Server, server_name_validator
from servers.validation import normalise_server_fields
from teams.capabilities import ALL_KEYS, BUILTIN_ROLES, DEFAULT_ROLE_KEY
from teams.models import slug_validator

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
        "scope": Key(Text(choices=tuple(Server.Scope.values), label="scope")),
        "env_keys": Key(
            ListOf(Text(label="environment variable name", max_length=200)), default=list
        ),
        "network": Key(Boolean(), default=True),
        "description": Key(DESCRIPTION, default=""),
        "max_reply_bytes": Key(Number(minimum=0, allow_null=True)),
        "handshake_timeout_seconds": Key(Number(minimum=0, allow_null=True)),
        "list_deadline_seconds": Key(Number(minimum=0, allow_null=True)),
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
_CONDITION_LABELS = {
    "tools": "tool name glob",
    "servers": "server name",
    "teams": "team slug",
    "people": "email",
    "methods": "method",
}
CONDITIONS = Map({key: Key(ListOf(Text(label=_CONDITION_LABELS[key]))) for key in CONDITION_KEYS})
RULE = Map(
    {
        "name": Key(Text(label="rule name", max_length=100), required=True),
        "description": Key(DESCRIPTION, default=""),
        "enabled": Key(Boolean(), default=True),
        "order": Key(Number(allow_null=True)),
        "mode": Key(Text(choices=MODES, label="mode"), default="enforce"),
        "direction": Key(Text(choices=DIRECTIONS, label="direction"), default="both"),
        "conditions": Key(CONDITIONS, default=dict),
        "detector": Key(Typed(label="detector"), required=True),
        "action": Key(Typed(label="action"), default=lambda: {"type": "flag"}),
        "alert": Key(Boolean(), default=False),
    }
)
RULES = Key(ListOf(RULE, unique=("name",)), default=list)
OVERRIDE = Map({"name": Key(Text(label="tool name")), "description": Key(DESCRIPTION)})
ENV_NAME = Text(label="environment variable", max_length=200)
_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}\Z")
ENV_REFERENCE = Text(
    validator=RegexValidator(
        _ENV_REFERENCE, "write a reference to an environment variable, ${NAME}, never the secret"
    ),
    label="secret reference",
)
# Secrets are named by environment variable, never written in the file.
IDENTITY = Map(
    {
        "scheme": Key(
            Text(choices=tuple(Assignment.IdentityScheme.values), label="identity scheme"),
            required=True,
        ),
        "bearer_env": Key(ENV_NAME),
        "headers_env": Key(MapOf(ENV_NAME, key_label="header name")),
        # user_oauth's pre-registered client: the id in clear, the secret by reference only.
        "client_id": Key(Text(label="client id")),
        "client_secret": Key(ENV_REFERENCE),
        "auth_method": Key(
            Text(choices=credential_shapes.AUTH_METHODS, label="token endpoint auth method")
        ),
    }
)
# Tools whose every call waits for an approval (docs/approvals.md); `team` approves, else
# the caller.
APPROVAL = Map(
    {
        "tools": Key(ListOf(Text(label="tool name")), default=list),
        "team": Key(TEAM_REF),
        "timeout": Key(Number(minimum=0), default=120),
    }
)
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
        "max_call_seconds": Key(Number(minimum=0, allow_null=True)),
        "max_result_bytes": Key(Number(minimum=0, allow_null=True)),
        "overrides": Key(MapOf(OVERRIDE, key_label="tool name"), default=dict),
        "identity": Key(IDENTITY),
        "approval": Key(APPROVAL, default=lambda: {"tools": [], "team": None, "timeout": 120}),
        "rules": RULES,
    }
)
LIMIT = Map(
    {
        "scope": Key(Text(choices=rate_limits.SCOPES, label="scope"), required=True),
        "rate": Key(Text(label="rate", max_length=100), required=True),
        "tool": Key(Text(label="tool name", max_length=200)),
    }
)
GATEWAY = Map(
    {
        "slug": Key(SLUG, required=True),
        "name": Key(NAME, required=True),
        "description": Key(DESCRIPTION, default=""),
        "teams": Key(ListOf(TEAM_REF), default=list),
        "assignments": Key(ListOf(ASSIGNMENT, unique=("server",)), default=list),
        "rules": RULES,
        "limits": Key(ListOf(LIMIT), default=list),
    }
)
# How the workspace's SCIM client provisions (docs/scim.md); absent: the settings are left as
# they are. Group names map to team slugs of this file.
SCIM = Map(
    {
        "default_role": Key(
            Ref(label="role", collection="roles", key="key", builtin=BUILTIN_ROLE_KEYS)
        ),
        "group_teams": Key(MapOf(TEAM_REF, key_label="group name"), default=dict),
    }
)
# Identity providers whose ID-JAGs are exchanged for gateway tokens (docs/sso.md).
TRUSTED_IDP = Map(
    {
        "issuer": Key(
            Text(validator=URLValidator(schemes=["http", "https"]), label="issuer", max_length=500),
            required=True,
        ),
        "jwks_url": Key(
            Text(validator=URLValidator(schemes=["http", "https"]), label="URL", max_length=500),
            required=True,
        ),
        "audience": Key(Text(label="audience", max_length=500, allow_blank=True), default=""),
        "enabled": Key(Boolean(), default=True),
    }
)
SCHEMA = Map(
    {
        "workspace": Key(WORKSPACE, required=True),
        "roles": Key(ListOf(ROLE, unique=("key",)), default=list),
        "teams": Key(ListOf(TEAM, unique=("slug",)), default=list),
        "users": Key(ListOf(USER, unique=("email",)), default=list),
        "scim": Key(SCIM),
        "trusted_idps": Key(ListOf(TRUSTED_IDP, unique=("issuer",)), default=list),
        "servers": Key(ListOf(SERVER, unique=("name",)), default=list),
        "gateways": Key(ListOf(GATEWAY, unique=("slug",)), default=list),
        "rules": RULES,
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
    scope: str
    env_keys: list[str]
    network: bool
    description: str
    max_reply_bytes: int | None
    handshake_timeout_seconds: float | None
    list_deadline_seconds: float | None
    path: Path


@dataclass(frozen=True)
class RuleSpec:
    """A rule's desired values, validated and named as the `Rule` model fields they become."""

    name: str
    fields: dict[str, Any]
    path: Path


@dataclass(frozen=True)
class AssignmentSpec:
    """Desired values, named as the `Assignment` model fields they become."""

    server: str
    fields: dict[str, Any]
    path: Path
    rules: list[RuleSpec] = field(default_factory=list)
    # The shared credential read from the environment (`identity:`), or None to leave it be.
    credential: dict | None = field(default=None, repr=False)


@dataclass(frozen=True)
class GatewaySpec:
    slug: str
    name: str
    description: str
    teams: list[str]
    assignments: list[AssignmentSpec]
    path: Path
    rules: list[RuleSpec] = field(default_factory=list)
    limits: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class ScimSpec:
    default_role: str | None
    group_teams: dict[str, str]
    path: Path = ("scim",)


@dataclass(frozen=True)
class TrustedIdpSpec:
    issuer: str
    jwks_url: str
    audience: str
    enabled: bool
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
    rules: list[RuleSpec] = field(default_factory=list)
    scim: ScimSpec | None = None
    trusted_idps: list[TrustedIdpSpec] = field(default_factory=list)

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


def _check_refs(data: dict, walk: Walk) -> None:
    for ref, path, value in walk.refs:
        known = {item[ref.key] for item in data.get(ref.collection) or []} | set(ref.builtin)
        if value not in known:
            where = f"'{ref.collection}'" + (" or a built-in role" if ref.builtin else "")
            walk.problem(
                walk.positions[path], path, f"unknown {ref.label} '{value}' (not listed in {where})"
            )


def _check_roles(data: dict, walk: Walk) -> None:
    for index, role in enumerate(data["roles"]):
        if role["key"] in BUILTIN_ROLES:
            path = ("roles", index, "key")
            walk.problem(walk.positions[path], path, f"'{role['key']}' is a built-in role key")


def _check_servers(data: dict, walk: Walk) -> None:
    for index, server in enumerate(data["servers"]):
        for variable, value in server["env"].items():
            reference = _ENV_REFERENCE.match(value)
            if reference and not os.environ.get(reference.group(1)):
                path = ("servers", index, "env", variable)
                walk.problem(
                    walk.positions[path],
                    path,
                    f"environment variable {reference.group(1)} is not set",
                )
        try:
            normalise_server_fields(
                kind=server["kind"],
                transport=server["transport"],
                url=server["url"] or "",
                command=server["command"] or "",
                args=server["args"],
                env=server["env"],
                network=server["network"],
                scope=server["scope"],
                env_keys=server["env_keys"],
            )
        except ValidationFailed as exc:
            path = ("servers", index, exc.field)
            if path not in walk.positions:
                path = ("servers", index)
            walk.problem(walk.positions[path], path, exc.message)


def _check_assignments(data: dict, walk: Walk) -> None:
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


# Where a rule's complaint about one of its fields sits in the file.
_RULE_KEYS = {"detector_config": "detector", "action_config": "action"}


def rule_fields(rule: dict, index: int) -> dict:
    """A rule entry of the file as `clean_rule` input; unordered rules run in listed order."""
    detector = dict(rule["detector"])
    action = dict(rule["action"])
    return {
        "name": rule["name"],
        "description": rule["description"],
        "enabled": rule["enabled"],
        "order": rule["order"] if rule["order"] is not None else (index + 1) * 10,
        "mode": rule["mode"],
        "direction": rule["direction"],
        "conditions": {k: v for k, v in rule["conditions"].items() if v is not None},
        "detector": detector.pop("type"),
        "detector_config": detector,
        "action": action.pop("type"),
        "action_config": action,
        "alert": rule["alert"],
    }


def _rule_lists(data: dict):
    """Every `rules:` list of the document, with its path."""
    yield ("rules",), data["rules"]
    for g, gateway in enumerate(data["gateways"]):
        yield ("gateways", g, "rules"), gateway["rules"]
        for a, assignment in enumerate(gateway["assignments"]):
            yield ("gateways", g, "assignments", a, "rules"), assignment["rules"]


def _check_rules(data: dict, walk: Walk) -> None:
    for base, rules in _rule_lists(data):
        for index, rule in enumerate(rules):
            try:
                clean_rule(rule_fields(rule, index))
            except InvalidRule as exc:
                path = (*base, index, _RULE_KEYS.get(exc.field, exc.field))
                if path not in walk.positions:
                    path = (*base, index)
                walk.problem(walk.positions[path], path, exc.message)


def _check_identities(data: dict, walk: Walk) -> None:
    for g, gateway in enumerate(data["gateways"]):
        for a, assignment in enumerate(gateway["assignments"]):
            identity = assignment["identity"]
            if not identity:
                continue
            path = ("gateways", g, "assignments", a, "identity")
            names = [identity["bearer_env"]] if identity["bearer_env"] else []
            names += list((identity["headers_env"] or {}).values())
            if identity["bearer_env"] and identity["headers_env"]:
                walk.problem(walk.positions[path], path, "give bearer_env or headers_env, not both")
            if names and identity["scheme"] not in ("service_account", "manual"):
                walk.problem(
                    walk.positions[path],
                    path,
                    f"scheme '{identity['scheme']}' takes no shared credential",
                )
            client = [k for k in ("client_id", "client_secret", "auth_method") if identity[k]]
            if client and identity["scheme"] != "user_oauth":
                walk.problem(
                    walk.positions[path], path, f"{client[0]} is for the scheme user_oauth only"
                )
            elif client and not identity["client_id"]:
                walk.problem(walk.positions[path], path, f"{client[0]} needs a client_id")
            if identity["client_secret"]:
                names.append(_ENV_REFERENCE.match(identity["client_secret"]).group(1))
            for name in names:
                if not os.environ.get(name):
                    walk.problem(
                        walk.positions[path], path, f"environment variable {name} is not set"
                    )


def _limit_fields(limit: dict) -> dict:
    return {k: v for k, v in limit.items() if v is not None}


def _check_limits(data: dict, walk: Walk) -> None:
    for g, gateway in enumerate(data["gateways"]):
        seen = []
        for i, limit in enumerate(gateway["limits"]):
            path = ("gateways", g, "limits", i)
            try:
                cleaned = rate_limits.clean_limit(_limit_fields(limit))
            except InvalidLimits as exc:
                walk.problem(walk.positions[path], path, exc.message)
                continue
            if cleaned in seen:
                walk.problem(walk.positions[path], path, "the same limit is listed twice")
            seen.append(cleaned)


def _credential(identity: dict | None) -> dict | None:
    if not identity:
        return None
    if identity["bearer_env"]:
        return {"kind": "bearer", "token": os.environ.get(identity["bearer_env"], "")}
    if identity["headers_env"]:
        headers = {h: os.environ.get(n, "") for h, n in identity["headers_env"].items()}
        return {"kind": "headers", "headers": headers}
    if identity["client_id"]:
        secret = ""
        if identity["client_secret"]:
            secret = os.environ.get(_ENV_REFERENCE.match(identity["client_secret"]).group(1), "")
        credential = {"kind": "oauth_client", "client_id": identity["client_id"]}
        if secret:
            credential["client_secret"] = secret
        if identity["auth_method"]:
            credential["auth_method"] = identity["auth_method"]
        return credential
    return None


CHECKS = (
    _check_refs,
    _check_roles,
    _check_servers,
    _check_assignments,
    _check_identities,
    _check_limits,
    _check_rules,
)


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
        walk = Walk(loader)
        data = SCHEMA.check(root, (), walk)
        if data is not INVALID:
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

    scim = data["scim"]
    return Plan(
        source=source,
        rules=_rules(data["rules"], ("rules",)),
        scim=None
        if scim is None
        else ScimSpec(default_role=scim["default_role"], group_teams=dict(scim["group_teams"])),
        workspace=WorkspaceSpec(slug=data["workspace"]["slug"], name=data["workspace"]["name"]),
        roles=[
            RoleSpec(
                key=r["key"], name=r["name"], capabilities=sorted(set(r["capabilities"])), path=p
            )
            for p, r in at("roles")
        ],
        teams=[TeamSpec(slug=t["slug"], name=t["name"], path=p) for p, t in at("teams")],
        trusted_idps=[
            TrustedIdpSpec(
                issuer=i["issuer"],
                jwks_url=i["jwks_url"],
                audience=i["audience"],
                enabled=i["enabled"],
                path=p,
            )
            for p, i in at("trusted_idps")
        ],
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
                rules=_rules(g["rules"], (*p, "rules")),
                limits=rate_limits.clean_limits([_limit_fields(x) for x in g["limits"]]),
            )
            for p, g in at("gateways")
        ],
        positions=positions,
    )


def _env_value(value: str) -> str:
    """A server's environment value, or the variable it names (`${NAME}`) when it is a secret."""
    reference = _ENV_REFERENCE.match(value)
    return os.environ.get(reference.group(1), "") if reference else value


def _server(s: dict, path: Path) -> ServerSpec:
    fields = normalise_server_fields(
        kind=s["kind"],
        transport=s["transport"],
        url=s["url"] or "",
        command=s["command"] or "",
        args=s["args"],
        env={variable: _env_value(value) for variable, value in s["env"].items()},
        network=s["network"],
        scope=s["scope"],
        env_keys=s["env_keys"],
    )
    return ServerSpec(
        name=s["name"],
        kind=s["kind"],
        transport=fields.transport,
        url=fields.url,
        command=fields.command,
        args=fields.args,
        env=fields.env,
        scope=fields.scope,
        env_keys=fields.env_keys,
        network=s["network"],
        description=s["description"],
        max_reply_bytes=None if s["max_reply_bytes"] is None else int(s["max_reply_bytes"]),
        handshake_timeout_seconds=_seconds(s["handshake_timeout_seconds"]),
        list_deadline_seconds=_seconds(s["list_deadline_seconds"]),
        path=path,
    )


def _seconds(value) -> float | None:
    return None if value is None else float(value)


def _rules(rules: list[dict], path: Path) -> list[RuleSpec]:
    specs = []
    for index, rule in enumerate(rules):
        fields = clean_rule(rule_fields(rule, index))
        specs.append(RuleSpec(name=fields["name"], fields=fields, path=(*path, index)))
    return specs


def _or_none(kind, value):
    return None if value is None else kind(value)


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
            "max_call_seconds": _or_none(float, a["max_call_seconds"]),
            "max_result_bytes": _or_none(int, a["max_result_bytes"]),
            "position": position,
            "identity_scheme": a["identity"]["scheme"] if a["identity"] else "none",
            "approval_tools": list(a["approval"]["tools"]),
            "approval_team": a["approval"]["team"],
            "approval_timeout_seconds": int(a["approval"]["timeout"]),
        },
        path=path,
        rules=_rules(a["rules"], (*path, "rules")),
        credential=_credential(a["identity"]),
    )
