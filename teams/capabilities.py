"""The capability catalogue: stable machine keys, grouped as people see them in the role editor."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Capability:
    key: str
    group: str
    label: str


GATEWAYS_MANAGE = "gateways.manage"
GATEWAYS_PROVISION_FEATURES = "gateways.provision_features"
GATEWAYS_PROVISION_TEAMS = "gateways.provision_teams"
GATEWAYS_USE_ALL = "gateways.use_all"
SERVERS_MANAGE = "servers.manage"
SERVERS_DEPLOY_MANAGED = "servers.deploy_managed"
SERVERS_DEPLOY_WORKSTATION = "servers.deploy_workstation"
SERVERS_VIEW_ALL = "servers.view_all"
IDENTITIES_MANAGE = "identities.manage"
IDENTITIES_VIEW_ALL = "identities.view_all"
CLIENTS_MANAGE_TOKENS = "clients.manage_tokens"
CLIENTS_TOGGLE = "clients.toggle"
RULES_MANAGE = "rules.manage"
INTEGRATIONS_MANAGE = "integrations.manage"
PEOPLE_MANAGE = "people.manage"
WORKSPACE_MANAGE = "workspace.manage"
LOGS_VIEW = "logs.view"
LOGS_VIEW_PAYLOADS = "logs.view_payloads"
LOGS_EXPORT = "logs.export"
ALERTS_VIEW_ALL = "alerts.view_all"
REPORTS_VIEW = "reports.view"

CAPABILITIES: tuple[Capability, ...] = (
    Capability(GATEWAYS_MANAGE, "Gateways", "Create and rename gateways, assign servers"),
    Capability(GATEWAYS_PROVISION_FEATURES, "Gateways", "Choose the tools, prompts, resources"),
    Capability(GATEWAYS_PROVISION_TEAMS, "Gateways", "Make gateways available to teams"),
    Capability(GATEWAYS_USE_ALL, "Gateways", "View and use every gateway"),
    Capability(SERVERS_MANAGE, "Servers", "Add remote servers"),
    Capability(SERVERS_DEPLOY_MANAGED, "Servers", "Deploy managed servers"),
    Capability(SERVERS_DEPLOY_WORKSTATION, "Servers", "Deploy workstation servers"),
    Capability(SERVERS_VIEW_ALL, "Servers", "View every server"),
    Capability(IDENTITIES_MANAGE, "Identities", "Manage identities others created"),
    Capability(IDENTITIES_VIEW_ALL, "Identities", "View every identity"),
    Capability(CLIENTS_MANAGE_TOKENS, "Clients", "Manage API tokens and headless agents"),
    Capability(CLIENTS_TOGGLE, "Clients", "Disable and enable client apps"),
    Capability(RULES_MANAGE, "Rules and integrations", "Manage rules"),
    Capability(INTEGRATIONS_MANAGE, "Rules and integrations", "Manage rule engines, SIEM sinks"),
    Capability(PEOPLE_MANAGE, "People and workspace", "Invite people, assign roles and teams"),
    Capability(WORKSPACE_MANAGE, "People and workspace", "Workspace settings and SSO"),
    Capability(LOGS_VIEW, "Logs and reports", "View logs"),
    Capability(LOGS_VIEW_PAYLOADS, "Logs and reports", "View log payloads"),
    Capability(LOGS_EXPORT, "Logs and reports", "Export logs"),
    Capability(ALERTS_VIEW_ALL, "Logs and reports", "View every alert"),
    Capability(REPORTS_VIEW, "Logs and reports", "View reports"),
)

ALL_KEYS: frozenset[str] = frozenset(c.key for c in CAPABILITIES)


def grouped() -> list[tuple[str, list[Capability]]]:
    """Capabilities in catalogue order, grouped for the role editor."""
    groups: dict[str, list[Capability]] = {}
    for capability in CAPABILITIES:
        groups.setdefault(capability.group, []).append(capability)
    return list(groups.items())


BUILTIN_ROLES: dict[str, dict] = {
    "owner": {"name": "Owner", "capabilities": sorted(ALL_KEYS), "locked": True},
    "admin": {
        "name": "Admin",
        "capabilities": sorted(ALL_KEYS - {WORKSPACE_MANAGE}),
        "locked": False,
    },
    "member": {"name": "Member", "capabilities": [], "locked": False},
    "auditor": {
        "name": "Auditor",
        "capabilities": sorted(
            {LOGS_VIEW, LOGS_VIEW_PAYLOADS, LOGS_EXPORT, ALERTS_VIEW_ALL, REPORTS_VIEW}
            | {SERVERS_VIEW_ALL, IDENTITIES_VIEW_ALL}
        ),
        "locked": False,
    },
}
DEFAULT_ROLE_KEY = "member"
