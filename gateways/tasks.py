"""Background work of the gateways app: pruning the approvals of calls long over."""

from celery import shared_task

from gateways import approvals


@shared_task(name="gateways.purge_closed_approvals")
def purge_closed_approvals() -> int:
    return approvals.purge_closed()
