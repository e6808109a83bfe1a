"""The admin change log: every configuration service writes one row per change through
`record_change`, and the console, the API and exports read it through `changes_of`."""

from teams.models import ConfigChange


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


def changes_of(workspace):
    """A workspace's changes, newest first, with who made them."""
    return (
        ConfigChange.objects.for_workspace(workspace)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )
