"""`manage.py export_config --workspace W -o FILE`: a workspace as the YAML `apply` reads."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apply.errors import NotExportable
from apply.export import export_workspace
from teams.models import Workspace


class Command(BaseCommand):
    help = (
        "Write one workspace's configuration as a YAML file that `manage.py apply` reads back "
        "unchanged; secrets are written as environment variable references. See docs/config.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument(
            "-o", "--output", default="-", help="the file to write; '-' (the default): stdout"
        )

    def handle(self, *args, workspace, output, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"no workspace '{workspace}'")
        try:
            export = export_workspace(workspace=found, actor=None, via="command")
        except NotExportable as exc:
            raise CommandError(f"{workspace}: {exc.message}") from exc
        if output == "-":
            self.stdout.write(export.text, ending="")
        else:
            try:
                Path(output).write_text(export.text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"{output}: cannot write: {exc}") from exc
        self._tell(export)

    def _tell(self, export):
        # On stderr, so `-o -` output stays a file that applies as it is.
        if export.secrets:
            self.stderr.write("Set these environment variables before applying the file:")
            for secret in export.secrets:
                self.stderr.write(f"  {secret.name}  ({secret.holds})")
        for note in export.left_out:
            self.stderr.write(f"Not in the file, left as it is by apply: {note}")
