"""`manage.py verify_logs --workspace W`: check a workspace's log hash chain."""

from django.core.management.base import BaseCommand, CommandError

from audit.log.chain import verify_workspace
from teams.models import Workspace


class Command(BaseCommand):
    help = (
        "Walk a workspace's gateway log in chain order and report OK with the number of entries, "
        "or the first broken link (seq, id and what did not match), exiting with status 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace slug")

    def handle(self, *args, workspace, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"No workspace '{workspace}'.")
        verdict = verify_workspace(found.pk)
        if not verdict.ok:
            raise CommandError(f"{found.slug}: {verdict}")
        self.stdout.write(f"{found.slug}: {verdict}")
