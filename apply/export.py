"""Configuration as code, read back: one workspace written as the YAML `manage.py apply` reads.

The document is built from the same rows and fields `apply/plan.py` compares, so applying an
export to its own workspace changes nothing, and applying it to another workspace and exporting
that gives the same text. Keys at their default are left out, as a person would write the file,
and every list is in a fixed order, so two exports of one configuration are the same bytes.

Secrets never leave the database in clear: a server's environment values and an assignment's
shared credential are written as the names of environment variables (`${NAME}`, `bearer_env`,
`headers_env`), named from where the secret sits; `Export.secrets` lists them with what each must
hold, for whoever applies the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from apply.errors import NotExportable
from gateways.models import Assignment, Gateway
from identities.models import TrustedIdp, UpstreamCredential
from identities.scim.selectors import scim_settings_of
from identities.upstream import credential_shapes
from rules.models import Rule
from servers.models import Server
from teams.changes import record_change
from teams.models import Membership, Role, Team

HEADER = "# A Gatehouse workspace, exported: `manage.py apply` reads it back (docs/config.md).\n"
# Shared credentials the file format has a key for, by the schemes that take them.
_FILE_CREDENTIALS = {
    credential_shapes.BEARER: ("service_account", "manual"),
    credential_shapes.HEADERS: ("service_account", "manual"),
    credential_shapes.OAUTH_CLIENT: ("user_oauth",),
}


@dataclass(frozen=True)
class SecretReference:
    name: str
    holds: str  # what the variable must hold, said without the secret


@dataclass
class Export:
    text: str
    secrets: list[SecretReference] = field(default_factory=list)
    # What the workspace has and the file cannot say; applying the file leaves these alone.
    left_out: list[str] = field(default_factory=list)


class _Dumper(yaml.SafeDumper):
    """Block style with lists indented under their key; lists of plain values on one line."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _represent_list(dumper, values):
    flat = all(isinstance(v, str | int | float) for v in values)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", values, flow_style=flat)


_Dumper.add_representer(list, _represent_list)


class _SecretNames:
    """Environment variable names: deterministic, from where the secret sits, each used once."""

    def __init__(self):
        self.references: list[SecretReference] = []
        self._taken: set[str] = set()

    def name(self, *parts: str, holds: str) -> str:
        base = "SECRET_" + "_".join(re.sub(r"[^A-Z0-9]+", "_", p.upper()).strip("_") for p in parts)
        name, number = base, 1
        while name in self._taken:
            number += 1
            name = f"{base}_{number}"
        self._taken.add(name)
        self.references.append(SecretReference(name, holds))
        return name


def export_workspace(*, workspace, actor, via: str) -> Export:
    """The workspace as a configuration file; recorded in the change log, since the file names
    every member and server. Raises `NotExportable` when no file could say what it holds."""
    export = _Exporter(workspace).run()
    record_change(
        workspace=workspace,
        actor=actor,
        action="config.export",
        target=workspace,
        detail={"via": via, "secrets": [s.name for s in export.secrets]},
    )
    return export


class _Exporter:
    def __init__(self, workspace):
        self.workspace = workspace
        self.names = _SecretNames()
        self.left_out: list[str] = []
        self.rules = self._rules_by_scope()
        self.credentials = {
            c.assignment_id: c
            for c in UpstreamCredential.objects.for_workspace(workspace).filter(
                owner__isnull=True, disabled_at__isnull=True
            )
        }

    def run(self) -> Export:
        ws = self.workspace
        document: dict = {"workspace": {"slug": ws.slug, "name": ws.name}}
        sections = {
            "roles": self.roles(),
            "teams": [
                {"slug": t.slug, "name": t.name}
                for t in Team.objects.for_workspace(ws).order_by("slug")
            ],
            "users": self.users(),
            "scim": self.scim(),
            "trusted_idps": self.trusted_idps(),
            "servers": self.servers(),
            "gateways": self.gateways(),
            "rules": self.rule_list(None, None),
        }
        document.update({key: value for key, value in sections.items() if value})
        body = yaml.dump(
            document,
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            width=100,
        )
        return Export(self.header() + body, self.names.references, self.left_out)

    def header(self) -> str:
        """The comments a reader of the file needs: which variables to set, what is not in it."""
        lines = [HEADER]
        if self.names.references:
            lines.append("# Secrets are environment variables, to be set before applying:\n")
            lines += [f"#   {s.name}: {s.holds}\n" for s in self.names.references]
        lines += [f"# Not in this file, left as it is by apply: {note}\n" for note in self.left_out]
        return "".join(lines)

    def roles(self) -> list[dict]:
        return [
            {"key": r.key, "name": r.name, "capabilities": sorted(r.capabilities)}
            for r in Role.objects.for_workspace(self.workspace)
            .filter(builtin=False)
            .order_by("key")
        ]

    def users(self) -> list[dict]:
        # Suspended members too: apply matches them, and only SCIM or an admin reactivates them.
        users = []
        for m in (
            Membership.everyone.for_workspace(self.workspace)
            .select_related("user", "role")
            .prefetch_related("teams")
            .order_by("user__email")
        ):
            user = {"email": m.user.email.lower(), "role": m.role.key}
            teams = sorted(t.slug for t in m.teams.all())
            if teams:
                user["teams"] = teams
            users.append(user)
        return users

    def trusted_idps(self) -> list[dict]:
        idps = []
        for idp in TrustedIdp.objects.for_workspace(self.workspace).order_by("issuer"):
            entry = {"issuer": idp.issuer, "jwks_url": idp.jwks_url}
            if idp.audience:
                entry["audience"] = idp.audience
            if not idp.enabled:
                entry["enabled"] = False
            idps.append(entry)
        return idps

    def scim(self) -> dict | None:
        settings = scim_settings_of(self.workspace)
        if settings is None:
            return None
        scim: dict = {"default_role": settings.default_role.key if settings.default_role else None}
        if settings.group_teams:
            scim["group_teams"] = dict(sorted(settings.group_teams.items()))
        return scim

    def servers(self) -> list[dict]:
        return [
            self.server(s) for s in Server.objects.for_workspace(self.workspace).order_by("name")
        ]

    def server(self, s: Server) -> dict:
        out: dict = {"name": s.name, "kind": s.kind}
        default_transport = "streamable_http" if s.url else "stdio"
        if s.transport != default_transport:
            out["transport"] = s.transport
        if s.url:
            out["url"] = s.url
        if s.command:
            out["command"] = s.command
        if s.args:
            out["args"] = list(s.args)
        if s.env:
            # The console never shows these values again, so neither does the file.
            out["env"] = {
                variable: _reference(
                    self.names.name(
                        s.name,
                        variable,
                        holds=f"the {variable} environment value of server {s.name}",
                    )
                )
                for variable in sorted(s.env)
            }
        if s.kind == Server.Kind.WORKSTATION:
            if s.env_keys:
                out["env_keys"] = list(s.env_keys)
            if s.scope != Server.Scope.PERSONAL:
                out["scope"] = s.scope
        if not s.network:
            out["network"] = False
        if s.description:
            out["description"] = s.description
        for key in ("max_reply_bytes", "handshake_timeout_seconds", "list_deadline_seconds"):
            if getattr(s, key) is not None:
                out[key] = getattr(s, key)
        return out

    def gateways(self) -> list[dict]:
        assignments: dict[int, list[Assignment]] = {}
        for a in (
            Assignment.objects.for_workspace(self.workspace)
            .select_related("server", "approval_team")
            .order_by("position", "id")
        ):
            assignments.setdefault(a.gateway_id, []).append(a)
        out = []
        for g in (
            Gateway.objects.for_workspace(self.workspace).prefetch_related("teams").order_by("slug")
        ):
            gateway: dict = {"slug": g.slug, "name": g.name}
            if g.description:
                gateway["description"] = g.description
            teams = sorted(t.slug for t in g.teams.all())
            if teams:
                gateway["teams"] = teams
            listed = [self.assignment(g, a) for a in assignments.get(g.pk, [])]
            _refuse_repeats(g, [a["server"] for a in listed])
            if listed:
                gateway["assignments"] = listed
            rules = self.rule_list(g.pk, None)
            if rules:
                gateway["rules"] = rules
            if g.limits:
                gateway["limits"] = [dict(limit) for limit in g.limits]
            out.append(gateway)
        return out

    def assignment(self, gateway: Gateway, a: Assignment) -> dict:
        out: dict = {"server": a.server.name, "namespace": a.namespace}
        if a.prefix_mode != Assignment.PrefixMode.ALWAYS:
            out["prefix"] = a.prefix_mode
        if a.tool_mode != Assignment.ToolMode.ALL:
            out["tools"] = {"mode": a.tool_mode}
            if a.tool_mode == Assignment.ToolMode.SELECTED and a.tool_allow:
                out["tools"]["allow"] = list(a.tool_allow)
        if not a.prompts_enabled:
            out["prompts"] = False
        if not a.resources_enabled:
            out["resources"] = False
        for key, value in (
            ("timeout", a.timeout_seconds),
            ("max_call_seconds", a.max_call_seconds),
            ("max_result_bytes", a.max_result_bytes),
        ):
            if value is not None:
                out[key] = value
        overrides = {
            tool: {k: v for k, v in override.items() if v is not None}
            for tool, override in sorted((a.tool_overrides or {}).items())
        }
        if overrides:
            out["overrides"] = overrides
        identity = self.identity(gateway, a)
        if identity:
            out["identity"] = identity
        if a.approval_tools or a.approval_team_id:
            out["approval"] = {"tools": list(a.approval_tools or ())}
            if a.approval_team is not None:
                out["approval"]["team"] = a.approval_team.slug
            out["approval"]["timeout"] = a.approval_timeout_seconds
        rules = self.rule_list(gateway.pk, a.pk)
        if rules:
            out["rules"] = rules
        return out

    def identity(self, gateway: Gateway, a: Assignment) -> dict | None:
        scheme = a.identity_scheme
        identity = {"scheme": scheme}
        credential = self.credentials.get(a.pk)
        where = f"{gateway.slug}/{a.namespace or a.server.name}"
        if credential is None:
            return identity if scheme != Assignment.IdentityScheme.NONE else None
        if scheme not in _FILE_CREDENTIALS.get(credential.kind, ()):
            self.left_out.append(
                f"the shared credential of {where} ({credential.get_kind_display()}): "
                "a configuration file has no key for it"
            )
            return identity if scheme != Assignment.IdentityScheme.NONE else None
        parts = (gateway.slug, a.namespace or a.server.name)
        if credential.kind == credential_shapes.BEARER:
            identity["bearer_env"] = self.names.name(
                *parts, "TOKEN", holds=f"the bearer token of {where}"
            )
        elif credential.kind == credential_shapes.HEADERS:
            identity["headers_env"] = {
                header: self.names.name(*parts, header, holds=f"the {header} header of {where}")
                for header in credential.details.get("names", [])
            }
        else:
            self.oauth_client(identity, credential, parts, where)
        return identity

    def oauth_client(self, identity: dict, credential, parts, where: str) -> None:
        details = credential.details
        identity["client_id"] = details["client_id"]
        method = details.get("auth_method", "none")
        if method != "none":
            name = self.names.name(
                *parts, "CLIENT_SECRET", holds=f"the OAuth client secret of {where}"
            )
            identity["client_secret"] = _reference(name)
        if method not in ("none", "client_secret_basic"):
            identity["auth_method"] = method

    def _rules_by_scope(self) -> dict[tuple, list[Rule]]:
        scopes: dict[tuple, list[Rule]] = {}
        for rule in Rule.objects.for_workspace(self.workspace).order_by("order", "name", "id"):
            scopes.setdefault((rule.gateway_id, rule.assignment_id), []).append(rule)
        return scopes

    def rule_list(self, gateway_id, assignment_id) -> list[dict]:
        rules = self.rules.get((gateway_id, assignment_id), [])
        names = [r.name for r in rules]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise NotExportable(
                f"two rules of one scope are both named '{repeated[0]}'; a configuration file "
                "knows a rule by its name within its scope: rename one first"
            )
        return [_rule(r, index) for index, r in enumerate(rules)]


def _refuse_repeats(gateway: Gateway, servers: list[str]) -> None:
    repeated = sorted({s for s in servers if servers.count(s) > 1})
    if repeated:
        raise NotExportable(
            f"gateway '{gateway.slug}' assigns server '{repeated[0]}' more than once; a "
            "configuration file lists each server once per gateway: remove one first"
        )


def _rule(rule: Rule, index: int) -> dict:
    out: dict = {"name": rule.name}
    if rule.description:
        out["description"] = rule.description
    if not rule.enabled:
        out["enabled"] = False
    # A rule without `order` runs in listed order (10, 20, ...), as apply numbers them.
    if rule.order != (index + 1) * 10:
        out["order"] = rule.order
    if rule.mode != Rule.Mode.ENFORCE:
        out["mode"] = rule.mode
    if rule.direction != Rule.Direction.BOTH:
        out["direction"] = rule.direction
    if rule.conditions:
        out["conditions"] = dict(rule.conditions)
    out["detector"] = _typed(rule.detector, rule.detector_config)
    if rule.action != "flag" or rule.action_config:
        out["action"] = _typed(rule.action, rule.action_config)
    if rule.alert:
        out["alert"] = True
    return out


def _reference(name: str) -> str:
    """How the file writes a secret held in an environment variable."""
    return "${" + name + "}"


def _typed(kind: str, config: dict | None):
    """A detector or action as the file writes it: its name alone, or its name and settings."""
    return {"type": kind, **config} if config else kind
