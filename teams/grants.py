"""The rule that keeps people.manage from being a path to every other capability.

Whoever gives a role to someone (or defines what a role holds) must hold each capability it
grants; otherwise an admin could create an all-capability role and give it to themselves.
"""

from core.errors import CapabilityRequired
from teams.capabilities import ALL_KEYS
from teams.models import Membership


def check_grantable(*, membership: Membership | None, capabilities) -> None:
    """Refuse unless `membership`, the member granting, holds every capability granted.

    The granting services call this; `membership` is None only when no member acts (config as
    code, SSO provisioning, a new workspace's first owner).
    """
    if membership is None:
        return
    # Unknown keys are left to the role services, which refuse them with a clear message.
    missing = sorted((set(capabilities) & ALL_KEYS) - membership.role.capability_set)
    if missing:
        raise CapabilityRequired(missing[0])
