"""`manage.py verify_logs [--workspace W]`: check a workspace's log hash chain, and that every
call it records is whole."""

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from audit.log.chain import verify_workspace
from audit.log.selectors import incomplete_calls
from teams.models import Workspace


class Command(BaseCommand):
    help = (
        "Walk a workspace's gateway log in chain order and report OK with the number of entries, "
        "or the first broken link (seq, id and what did not match); then report calls whose "
        "hops are incomplete (a client.request without its client.response, an upstream.request "
        "without its upstream.response) older than the grace period. Exits with status 1 if "
        "either is found. Without --workspace, every workspace is checked."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", help="the workspace slug (default: every workspace)")
        parser.add_argument(
            "--grace-seconds",
            type=float,
            default=300.0,
            help="calls younger than this may still be running; they are not reported",
        )

    def handle(self, *args, workspace=None, grace_seconds=300.0, **options):
        if grace_seconds < 0:
            raise CommandError("--grace-seconds must not be negative.")
        if workspace is None:
            found = list(Workspace.objects.order_by("slug"))
        else:
            found = list(Workspace.objects.filter(slug=workspace))
            if not found:
                raise CommandError(f"No workspace '{workspace}'.")
        before = datetime.now(UTC) - timedelta(seconds=grace_seconds)
        problems = []
        for each in found:
            verdict = verify_workspace(each.pk)
            if verdict.ok:
                self.stdout.write(f"{each.slug}: {verdict}")
            else:
                problems.append(f"{each.slug}: {verdict}")
            for gap in incomplete_calls(each.pk, before=before):
                problems.append(f"{each.slug}: INCOMPLETE: {gap}")
        if problems:
            raise CommandError("\n".join(problems))
