"""`manage.py deliver_logs [--workspace W] [--once] [--now]`: stream the log to SIEM sinks, and
post the alerts that are due to the alert webhooks (what the beat tasks do, for set-ups without
Celery)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.alerts import delivery
from audit.models import AlertDelivery
from audit.sinks.delivery import deliver_due
from teams.models import Workspace


class Command(BaseCommand):
    help = (
        "Deliver log entries to the workspaces' SIEM sinks and due alerts to their alert "
        "webhooks, as the Celery beat tasks do: one pass with --once, otherwise every "
        "SIEM_DELIVERY_SECONDS until interrupted. Exits with status 1 after --once when a sink "
        "or an alert webhook failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", help="only this workspace's sinks (slug)")
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument(
            "--now", action="store_true", help="also try sinks still waiting out a failure"
        )

    def handle(self, *args, workspace=None, once=False, now=False, **options):
        found = None
        if workspace:
            found = Workspace.objects.filter(slug=workspace).first()
            if found is None:
                raise CommandError(f"No workspace '{workspace}'.")
        while True:
            failed = self._pass(found, ignore_backoff=now)
            if once:
                if failed:
                    raise CommandError(
                        f"{failed} sink(s) or alert deliveries failed; they will be retried."
                    )
                return
            now = False  # --now forces the first pass only; later ones respect the backoff
            time.sleep(settings.SIEM_DELIVERY_SECONDS)

    def _pass(self, workspace, *, ignore_backoff: bool) -> int:
        failed = 0
        for result in deliver_due(workspace=workspace, ignore_backoff=ignore_backoff):
            line = f"{result.name}: {result.delivered} delivered, cursor at {result.cursor_seq}"
            if result.error:
                failed += 1
                self.stderr.write(f"{line}; failed: {result.error}")
            else:
                self.stdout.write(line)
        for result in delivery.deliver_due(workspace=workspace):
            line = f"alert delivery {result.delivery_id}: {result.state}"
            if result.state == AlertDelivery.State.DELIVERED:
                self.stdout.write(line)
            else:
                failed += 1
                self.stderr.write(f"{line}; failed: {result.error}")
        return failed
