"""Configuration as code, part two: make one workspace match a validated plan.

Current rows are compared with the plan and a service is called only where something differs, so
a second apply of the same file writes nothing and bumps no `config_version`. Every write goes
through the owning app's services (with `actor=None`, and `acting_member=None` where a service
grants capabilities: whoever runs the command answers to the host, not to a role), which keeps
their validation, audit rows and cache notifications. The whole apply is one transaction: the
first refusal rolls back everything, and a dry run rolls back on purpose.
"""

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction

from apply.schema import GatewaySpec, Path, Plan, RuleSpec
from core.errors import GatehouseError
from gateways import services as gateway_services
from gateways.models import Assignment, Gateway
from identities import offboarding
from identities import services as identity_services
from identities.inbound.oauth import trusted_idps
from identities.models import TrustedIdp
from identities.scim import selectors as scim_selectors
from identities.scim import services as scim_services
from rules import services as rule_services
from rules.models import Rule
from servers import services as server_services
from servers.models import Server
from teams import services as team_services
from teams.models import Membership, Role, Team, Workspace

CREATED, CHANGED, UNCHANGED, DELETED = "created", "changed", "unchanged", "deleted"
VERBS = (CREATED, CHANGED, UNCHANGED, DELETED)

# Where a service's complaint about a model field points in the file.
_FILE_KEYS = {
    "tool_allow": ("tools", "allow"),
    "tool_mode": ("tools", "mode"),
    "tool_overrides": ("overrides",),
    "prefix_mode": ("prefix",),
    "timeout_seconds": ("timeout",),
    "role": ("role",),
    "detector_config": ("detector",),
    "action_config": ("action",),
}
_SERVER_FIELDS = (
    "kind",
    "transport",
    "url",
    "command",
    "args",
    "env",
    "scope",
    "env_keys",
    "network",
    "description",
    "max_reply_bytes",
    "handshake_timeout_seconds",
    "list_deadline_seconds",
)


@dataclass(frozen=True)
class Outcome:
    verb: str
    what: str
    detail: str = ""

    def __str__(self):
        return f"{self.verb:<9} {self.what}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    dry_run: bool = False

    def add(self, verb: str, what: str, detail: str = "") -> None:
        self.outcomes.append(Outcome(verb, what, detail))

    def count(self, verb: str) -> int:
        return sum(1 for o in self.outcomes if o.verb == verb)

    def summary(self) -> str:
        return ", ".join(f"{self.count(verb)} {verb}" for verb in VERBS)


def apply_plan(plan: Plan, *, prune: bool = False, dry_run: bool = False, actor=None) -> Report:
    """Apply `plan`; raise `ConfigInvalid` (with the file position) if a service refuses."""
    with transaction.atomic():
        report = _Apply(plan, prune=prune, actor=actor).run()
        report.dry_run = dry_run
        if dry_run:
            transaction.set_rollback(True)
    return report


class _Apply:
    def __init__(self, plan: Plan, *, prune: bool, actor):
        self.plan = plan
        self.prune = prune
        self.actor = actor
        self.report = Report()
        self.workspace: Workspace | None = None
        self.listed_rules: set[int] = set()

    @contextmanager
    def at(self, path: Path):
        """Turn a service's refusal into a problem at `path` (or the field it names)."""
        try:
            yield
        except GatehouseError as exc:
            where = path
            if exc.field:
                candidate = (*path, *_FILE_KEYS.get(exc.field, (exc.field,)))
                where = candidate if candidate in self.plan.positions else path
            raise self.plan.problem(where, exc.message) from exc

    def run(self) -> Report:
        self.sync_workspace()
        self.sync_roles()
        self.sync_teams()
        self.sync_servers()
        self.sync_members()
        self.sync_scim()
        self.sync_trusted_idps()
        self.sync_rules(self.plan.rules)
        self.sync_gateways()
        if self.prune:
            self.prune_unlisted()
        return self.report

    def _diff(self, current, desired: dict) -> dict:
        return {k: v for k, v in desired.items() if getattr(current, k) != v}

    def _upsert(self, *, what: str, path: Path, current, desired: dict, create, update) -> None:
        """Create when missing, update only the fields that differ, else report unchanged."""
        with self.at(path):
            if current is None:
                create()
                self.report.add(CREATED, what)
                return
            changes = self._diff(current, desired)
            if changes:
                update(changes)
                self.report.add(CHANGED, what, ", ".join(sorted(changes)))
            else:
                self.report.add(UNCHANGED, what)

    def sync_workspace(self) -> None:
        spec = self.plan.workspace
        self.workspace = Workspace.objects.filter(slug=spec.slug).first()

        def create():
            self.workspace = team_services.create_workspace(
                slug=spec.slug, name=spec.name, actor=self.actor
            )

        self._upsert(
            what=f"workspace {spec.slug}",
            path=spec.path,
            current=self.workspace,
            desired={"name": spec.name},
            create=create,
            update=lambda changes: team_services.update_workspace(
                workspace=self.workspace, name=spec.name, actor=self.actor
            ),
        )

    def sync_roles(self) -> None:
        roles = {r.key: r for r in Role.objects.for_workspace(self.workspace)}
        for spec in self.plan.roles:
            role = roles.get(spec.key)
            if role is not None and role.builtin:
                raise self.plan.problem((*spec.path, "key"), f"'{spec.key}' is a built-in role")
            if role is not None:
                role.capabilities = sorted(role.capabilities)
            self._upsert(
                what=f"role {spec.key}",
                path=spec.path,
                current=role,
                desired={"name": spec.name, "capabilities": spec.capabilities},
                create=lambda spec=spec: team_services.create_role(
                    workspace=self.workspace,
                    key=spec.key,
                    name=spec.name,
                    capabilities=spec.capabilities,
                    actor=self.actor,
                    acting_member=None,
                ),
                update=lambda changes, role=role: team_services.update_role(
                    role=role, actor=self.actor, acting_member=None, **changes
                ),
            )

    def sync_teams(self) -> None:
        teams = {t.slug: t for t in Team.objects.for_workspace(self.workspace)}
        for spec in self.plan.teams:
            team = teams.get(spec.slug)
            self._upsert(
                what=f"team {spec.slug}",
                path=spec.path,
                current=team,
                desired={"name": spec.name},
                create=lambda spec=spec: team_services.create_team(
                    workspace=self.workspace, slug=spec.slug, name=spec.name, actor=self.actor
                ),
                update=lambda changes, team=team, spec=spec: team_services.update_team(
                    team=team, name=spec.name, actor=self.actor
                ),
            )

    def sync_scim(self) -> None:
        spec = self.plan.scim
        if spec is None:
            return
        settings = scim_selectors.scim_settings_of(self.workspace)
        current = None
        if settings is not None:
            role = settings.default_role.key if settings.default_role else None
            current = _Facts(default_role=role, group_teams=settings.group_teams)
        self._upsert(
            what="scim settings",
            path=spec.path,
            current=current,
            desired={"default_role": spec.default_role, "group_teams": spec.group_teams},
            create=lambda: self._configure_scim(spec),
            update=lambda changes: self._configure_scim(spec),
        )

    def sync_trusted_idps(self) -> None:
        idps = {i.issuer: i for i in TrustedIdp.objects.for_workspace(self.workspace)}
        for spec in self.plan.trusted_idps:
            idp = idps.get(spec.issuer)
            desired = {
                "jwks_url": spec.jwks_url,
                "audience": spec.audience,
                "enabled": spec.enabled,
            }
            self._upsert(
                what=f"trusted idp {spec.issuer}",
                path=spec.path,
                current=idp,
                desired=desired,
                create=lambda spec=spec: self._trust_idp(spec),
                update=lambda changes, idp=idp, spec=spec, desired=desired: (
                    trusted_idps.update_trusted_idp(
                        idp=idp, issuer=spec.issuer, actor=self.actor, **desired
                    )
                ),
            )

    def _trust_idp(self, spec) -> None:
        idp = trusted_idps.trust_idp(
            workspace=self.workspace,
            issuer=spec.issuer,
            jwks_url=spec.jwks_url,
            audience=spec.audience,
            actor=self.actor,
        )
        if not spec.enabled:
            trusted_idps.update_trusted_idp(
                idp=idp,
                issuer=spec.issuer,
                jwks_url=spec.jwks_url,
                audience=spec.audience,
                enabled=False,
                actor=self.actor,
            )

    def _configure_scim(self, spec) -> None:
        scim_services.configure_scim(
            workspace=self.workspace,
            actor=self.actor,
            acting_member=None,
            default_role_key=spec.default_role,
            group_teams=spec.group_teams,
        )

    def sync_servers(self) -> None:
        servers = {s.name: s for s in Server.objects.for_workspace(self.workspace)}
        for spec in self.plan.servers:
            server = servers.get(spec.name)
            desired = {name: getattr(spec, name) for name in _SERVER_FIELDS}
            self._upsert(
                what=f"server {spec.name}",
                path=spec.path,
                current=server,
                desired=desired,
                create=lambda spec=spec, desired=desired: server_services.create_server(
                    workspace=self.workspace, name=spec.name, actor=self.actor, **desired
                ),
                update=lambda changes, server=server: server_services.update_server(
                    server=server, actor=self.actor, **changes
                ),
            )

    def sync_members(self) -> None:
        # Suspended members are matched too: the file may change their role and teams, but only
        # SCIM or an admin reactivates them, so they stay suspended.
        members = {
            m.user.email: m
            for m in Membership.everyone.for_workspace(self.workspace)
            .select_related("user", "role")
            .prefetch_related("teams")
        }
        for spec in self.plan.users:
            membership = members.get(spec.email)
            current = None
            if membership is not None:
                current = _Facts(
                    role=membership.role.key, teams=sorted(t.slug for t in membership.teams.all())
                )

            def update(changes, membership=membership):
                team_services.update_member(
                    membership=membership,
                    actor=self.actor,
                    acting_member=None,
                    role_key=changes.get("role"),
                    team_slugs=changes.get("teams"),
                )

            self._upsert(
                what=f"member {spec.email}",
                # The services refuse a member only over the role (the last owner keeps it).
                path=(*spec.path, "role"),
                current=current,
                desired={"role": spec.role, "teams": spec.teams},
                create=lambda spec=spec: team_services.invite_member(
                    workspace=self.workspace,
                    email=spec.email,
                    role_key=spec.role,
                    team_slugs=spec.teams,
                    actor=self.actor,
                    acting_member=None,
                ),
                update=update,
            )

    def sync_gateways(self) -> None:
        gateways = {
            g.slug: g
            for g in Gateway.objects.for_workspace(self.workspace).prefetch_related("teams")
        }
        servers = {s.name: s for s in Server.objects.for_workspace(self.workspace)}
        for spec in self.plan.gateways:
            gateway = gateways.get(spec.slug)
            current = None
            if gateway is not None:
                current = _Facts(
                    name=gateway.name,
                    description=gateway.description,
                    teams=sorted(t.slug for t in gateway.teams.all()),
                    limits=gateway.limits,
                )
            created: list[Gateway] = []

            def create(spec=spec, created=created):
                gateway = gateway_services.create_gateway(
                    workspace=self.workspace,
                    slug=spec.slug,
                    name=spec.name,
                    description=spec.description,
                    limits=spec.limits,
                    actor=self.actor,
                )
                if spec.teams:
                    gateway_services.provision_teams(
                        gateway=gateway, team_slugs=spec.teams, actor=self.actor
                    )
                created.append(gateway)

            def update(changes, gateway=gateway, spec=spec):
                if {"name", "description", "limits"} & set(changes):
                    gateway_services.update_gateway(
                        gateway=gateway,
                        name=spec.name,
                        description=spec.description,
                        limits=spec.limits,
                        actor=self.actor,
                    )
                if "teams" in changes:
                    gateway_services.provision_teams(
                        gateway=gateway, team_slugs=spec.teams, actor=self.actor
                    )

            self._upsert(
                what=f"gateway {spec.slug}",
                path=spec.path,
                current=current,
                desired={
                    "name": spec.name,
                    "description": spec.description,
                    "teams": spec.teams,
                    "limits": spec.limits,
                },
                create=create,
                update=update,
            )
            gateway = gateway or created[0]
            self.sync_assignments(gateway, spec, servers)
            self.sync_rules(spec.rules, gateway=gateway)

    def sync_assignments(self, gateway: Gateway, spec: GatewaySpec, servers: dict) -> None:
        unmatched = list(
            Assignment.objects.for_workspace(self.workspace)
            .filter(gateway=gateway)
            .select_related("server")
            .order_by("position", "id")
        )
        pairs = []
        for wanted in spec.assignments:
            candidates = [a for a in unmatched if a.server.name == wanted.server]
            # Several assignments of one server (made in the console): keep the same namespace.
            same = [a for a in candidates if a.namespace == wanted.fields["namespace"]]
            match = (same or candidates or [None])[0]
            if match is not None:
                unmatched.remove(match)
            pairs.append((wanted, match))
        if self.prune:
            # Removed first so the namespaces they held are free for the ones the file adds.
            for assignment in unmatched:
                gateway_services.unassign_server(assignment=assignment, actor=self.actor)
                self.report.add(
                    DELETED, f"assignment {gateway.slug}/{assignment.namespace or '(none)'}"
                )
        teams = {t.slug: t for t in Team.objects.for_workspace(self.workspace)}
        for wanted, assignment in pairs:
            created: list[Assignment] = []
            # The file names the approver team by slug; the row holds the team.
            desired = dict(wanted.fields, approval_team=teams.get(wanted.fields["approval_team"]))
            self._upsert(
                what=f"assignment {gateway.slug}/{wanted.fields['namespace'] or wanted.server}",
                path=wanted.path,
                current=assignment,
                desired=desired,
                create=lambda wanted=wanted, created=created, desired=desired: created.append(
                    gateway_services.assign_server(
                        gateway=gateway,
                        server=servers[wanted.server],
                        actor=self.actor,
                        **desired,
                    )
                ),
                update=lambda changes, assignment=assignment: gateway_services.update_assignment(
                    assignment=assignment, actor=self.actor, **changes
                ),
            )
            self.sync_credential(wanted, gateway, assignment or created[0])
            self.sync_rules(wanted.rules, gateway=gateway, assignment=assignment or created[0])

    def sync_credential(self, wanted, gateway: Gateway, assignment: Assignment) -> None:
        """The shared credential `identity:` names; none named leaves any stored one alone."""
        if wanted.credential is None:
            return
        with self.at((*wanted.path, "identity")):
            verb = identity_services.declare_shared_credential(
                assignment=assignment, data=wanted.credential, actor=self.actor
            )
        what = f"credential {gateway.slug}/{assignment.namespace or wanted.server}"
        self.report.add({"created": CREATED, "changed": CHANGED}.get(verb, UNCHANGED), what)

    def sync_rules(self, specs: list[RuleSpec], *, gateway=None, assignment=None) -> None:
        """Rules are matched by name within their scope (the workspace, a gateway or one
        assignment); those the file does not list are left to `prune_unlisted`."""
        if not specs:
            return
        rules = {
            r.name: r
            for r in Rule.objects.for_workspace(self.workspace).filter(
                gateway=gateway, assignment=assignment
            )
        }
        scope = ""
        if gateway is not None:
            scope = f"{gateway.slug}/"
        if assignment is not None:
            scope += f"{assignment.namespace or assignment.server.name}/"
        for spec in specs:
            rule = rules.get(spec.name)
            created: list[Rule] = []

            def create(spec=spec, created=created):
                fields = {k: v for k, v in spec.fields.items() if k not in ("name", "detector")}
                created.append(
                    rule_services.create_rule(
                        workspace=self.workspace,
                        actor=self.actor,
                        name=spec.name,
                        detector=spec.fields["detector"],
                        gateway=gateway,
                        assignment=assignment,
                        **fields,
                    )
                )

            self._upsert(
                what=f"rule {scope}{spec.name}",
                path=spec.path,
                current=rule,
                desired=spec.fields,
                create=create,
                # The whole rule is given, so a new detector never keeps the old one's settings.
                update=lambda changes, rule=rule, spec=spec: rule_services.update_rule(
                    rule=rule, actor=self.actor, **spec.fields
                ),
            )
            self.listed_rules.add((rule or created[0]).pk)

    def prune_unlisted(self) -> None:
        """Delete what the workspace has and the file no longer lists (custom rows only)."""
        plan, ws = self.plan, self.workspace
        self._delete(
            "rule",
            Rule.objects.for_workspace(ws)
            .exclude(pk__in=self.listed_rules)
            .select_related("workspace", "gateway", "assignment"),
            lambda r: rule_services.delete_rule(rule=r, actor=self.actor),
            label=_rule_label,
        )
        self._delete(
            "gateway",
            Gateway.objects.for_workspace(ws).exclude(slug__in=[g.slug for g in plan.gateways]),
            lambda g: gateway_services.delete_gateway(gateway=g, actor=self.actor),
            label=lambda g: g.slug,
        )
        self._delete(
            "server",
            Server.objects.for_workspace(ws).exclude(name__in=[s.name for s in plan.servers]),
            lambda s: server_services.delete_server(server=s, actor=self.actor),
        )
        # A suspended member the file leaves out is kept, with their history: suspension is the
        # identity provider's word, and removing them would drop it.
        self._delete(
            "member",
            Membership.objects.for_workspace(ws)
            .select_related("user", "role", "workspace")
            .exclude(user__email__in=[u.email for u in plan.users])
            .order_by("user__email"),
            lambda m: offboarding.remove_member_and_revoke(
                membership=m, actor=self.actor, acting_member=None
            ),
            label=lambda m: m.user.email,
        )
        self._delete(
            "trusted idp",
            TrustedIdp.objects.for_workspace(ws)
            .select_related("workspace")
            .exclude(issuer__in=[i.issuer for i in plan.trusted_idps]),
            lambda i: trusted_idps.distrust_idp(idp=i, actor=self.actor),
        )
        self._delete(
            "team",
            Team.objects.for_workspace(ws).exclude(slug__in=[t.slug for t in plan.teams]),
            lambda t: team_services.delete_team(team=t, actor=self.actor),
            label=lambda t: t.slug,
        )
        self._delete(
            "role",
            Role.objects.for_workspace(ws)
            .filter(builtin=False)
            .exclude(key__in=[r.key for r in plan.roles]),
            lambda r: team_services.delete_role(role=r, actor=self.actor),
            label=lambda r: r.key,
        )

    def _delete(self, kind: str, rows, delete: Callable, label: Callable = str) -> None:
        for row in rows:
            try:
                with transaction.atomic():
                    delete(row)
            except GatehouseError as exc:
                # The last owner, or a role still given to someone: kept, and said so.
                self.report.add(UNCHANGED, f"{kind} {label(row)}", f"kept: {exc.message}")
            else:
                self.report.add(DELETED, f"{kind} {label(row)}")


def _rule_label(rule: Rule) -> str:
    scope = [rule.gateway.slug] if rule.gateway_id else []
    if rule.assignment_id:
        scope.append(rule.assignment.namespace or str(rule.assignment_id))
    return "/".join([*scope, rule.name])


class _Facts:
    """The current values of a row that the file controls, compared like a model instance."""

    def __init__(self, **values):
        self.__dict__.update(values)
