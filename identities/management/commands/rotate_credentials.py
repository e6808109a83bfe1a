"""`manage.py rotate_credentials`: re-encrypt every stored secret (upstream credentials, people's
upstream OAuth tokens and the platform's client secrets there, the workspace's SSO client
secret, SIEM sink secrets) with the first key of CREDENTIALS_KEYS, after a
new key was put first. Once it reports nothing unreadable, the old keys can be removed."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.models import LogSink
from core import crypto
from identities.services import rotate_credentials
from identities.upstream import connections
from teams.models import Workspace
from teams.sso.services import rotate_client_secret


def _rotate_sinks(workspace) -> tuple[int, list[str]]:
    rotated, unreadable = 0, []
    with transaction.atomic():
        sinks = LogSink.objects.for_workspace(workspace).exclude(secret="").select_for_update()
        for sink in sinks:
            try:
                secret = crypto.rotate(sink.secret)
            except crypto.UndecryptableSecret:
                unreadable.append(f"sink {sink.pk}")
                continue
            LogSink.objects.for_workspace(workspace).filter(pk=sink.pk).update(secret=secret)
            rotated += 1
    return rotated, unreadable


class Command(BaseCommand):
    help = "Re-encrypt stored secrets with the first key of CREDENTIALS_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", help="only this workspace (slug); default: all")

    def handle(self, *args, **options):
        workspaces = Workspace.objects.order_by("slug")
        if options["workspace"]:
            workspaces = workspaces.filter(slug=options["workspace"])
            if not workspaces.exists():
                raise CommandError(f"Unknown workspace '{options['workspace']}'.")
        total, unreadable = 0, []
        for workspace in workspaces:
            rotated, failed = rotate_credentials(workspace=workspace)
            total += rotated
            unreadable += [f"{workspace.slug}:{pk}" for pk in failed]
            with transaction.atomic():
                rotated, failed = connections.rotate_keys(workspace=workspace)
            total += rotated
            unreadable += [f"{workspace.slug}:{what}" for what in failed]
            rotated, failed = _rotate_sinks(workspace)
            total += rotated
            unreadable += [f"{workspace.slug}:{what}" for what in failed]
            try:
                total += rotate_client_secret(workspace=workspace)
            except crypto.UndecryptableSecret:
                unreadable.append(f"{workspace.slug}:sso client secret")
        self.stdout.write(f"{total} secrets re-encrypted.")
        if unreadable:
            raise CommandError(
                "No configured key decrypts these secrets (workspace:id): " + ", ".join(unreadable)
            )
