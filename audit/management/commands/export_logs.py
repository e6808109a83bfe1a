"""`manage.py export_logs --workspace W --format jsonl|csv`: export a workspace's gateway log."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.log.export import FORMATS, export_logs
from audit.log.selectors import parse_filter
from core.errors import ValidationFailed
from teams.models import Workspace


class Command(BaseCommand):
    help = (
        "Stream a workspace's gateway log, in chain order and with its digests, as JSON Lines or "
        "CSV to a file or standard output. Verify the result offline with "
        "audit.log.chain.verify_export. The export is recorded in the admin audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace slug")
        parser.add_argument("--format", required=True, choices=sorted(FORMATS))
        parser.add_argument("--gateway", default="", help="only this gateway (slug or id)")
        parser.add_argument("--since", default="", help="ISO 8601 date or time (UTC if no zone)")
        parser.add_argument("--until", default="", help="ISO 8601 date or time (UTC if no zone)")
        parser.add_argument(
            "--no-payloads", action="store_true", help="leave payloads out (digests still verify)"
        )
        parser.add_argument("-o", "--output", help="write here instead of standard output")

    def handle(self, *args, workspace, output, no_payloads, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"No workspace '{workspace}'.")
        try:
            log_filter = parse_filter(options)
        except ValidationFailed as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from exc
        try:
            sink = open(output, "w", encoding="utf-8", newline="") if output else None  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"{output}: cannot write: {exc}") from exc
        lines = export_logs(
            workspace=found,
            actor=None,
            log_filter=log_filter,
            export_format=options["format"],
            with_payloads=not no_payloads,
            via="command",
        )
        count = 0
        try:
            for line in lines:
                if sink is None:
                    self.stdout.write(line, ending="")
                else:
                    sink.write(line)
                count += 1
        finally:
            if sink is not None:
                sink.close()
        if output:
            rows = count - 1 if options["format"] == "csv" else count
            self.stderr.write(f"{rows} entries written to {Path(output)}.")
