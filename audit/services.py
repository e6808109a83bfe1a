"""Writes of the audit app."""

from audit.models import ConfigChange


def record_change(*, workspace, actor, action: str, target, detail: dict | None = None) -> None:
    """Write the admin audit row that every configuration service owes."""
    ConfigChange.objects.create(
        workspace=workspace,
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=type(target).__name__.lower(),
        target=str(target)[:200],
        detail=detail or {},
    )
