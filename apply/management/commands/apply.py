"""`manage.py apply FILE.yaml`: make a workspace match a configuration file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apply.plan import UNCHANGED, apply_plan
from apply.schema import parse
from gateways.errors import ConfigInvalid


class Command(BaseCommand):
    help = (
        "Create, update and (with --prune) delete the roles, teams, members, servers, gateways "
        "and assignments of one workspace so that it matches a YAML file. See docs/config.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the configuration file (YAML)")
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would change, change nothing"
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="also delete what the workspace has and the file does not list",
        )

    def handle(self, *args, file, dry_run, prune, verbosity, **options):
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read: {exc}") from exc
        try:
            report = apply_plan(parse(text, source=file), prune=prune, dry_run=dry_run)
        except ConfigInvalid as exc:
            raise CommandError(str(exc)) from exc
        for outcome in report.outcomes:
            if outcome.verb != UNCHANGED or verbosity >= 1:
                self.stdout.write(str(outcome))
        suffix = " (dry run: nothing was saved)" if dry_run else ""
        self.stdout.write(report.summary() + suffix)
