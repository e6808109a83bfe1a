"""`manage.py load_demo`: the demo workspace and its admin account, for `make run`.

Idempotent: it applies `examples/demo.yaml` (without pruning, so what you add in the console
stays) and makes sure the demo admin can sign in. The password comes from `DEMO_ADMIN_PASSWORD`,
or is generated once and kept in `<GATEHOUSE_VAR_DIR>/demo_admin_password`.
"""

import dataclasses
import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apply.plan import apply_plan
from apply.schema import parse
from gateways.errors import ConfigInvalid
from teams.models import User

DEMO_FILE = settings.BASE_DIR / "examples" / "demo.yaml"
DEMO_ADMIN_EMAIL = "admin@gatehouse.local"
# The server of examples/demo.yaml that `manage.py run_demo_server` answers for.
DEMO_REMOTE_SERVER = "time"


def demo_admin_password() -> str:
    from_env = os.environ.get("DEMO_ADMIN_PASSWORD", "").strip()
    if from_env:
        return from_env
    path = settings.VAR_DIR / "demo_admin_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Load the demo workspace and make sure its admin account can sign in."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="the console URL to print"
        )
        parser.add_argument(
            "--demo-server-url",
            help="where the demo's remote server answers (make run passes its DEMO_SERVER_PORT)",
        )

    def handle(self, *args, url, demo_server_url, verbosity, **options):
        password = demo_admin_password()
        try:
            plan = parse(DEMO_FILE.read_text(encoding="utf-8"), source=str(DEMO_FILE))
            if demo_server_url:
                plan.servers = [
                    dataclasses.replace(server, url=demo_server_url)
                    if server.name == DEMO_REMOTE_SERVER
                    else server
                    for server in plan.servers
                ]
            with transaction.atomic():
                report = apply_plan(plan)
                admin = User.objects.get(email=DEMO_ADMIN_EMAIL)
                if not (admin.is_staff and admin.is_superuser and admin.check_password(password)):
                    admin.is_staff = admin.is_superuser = admin.is_active = True
                    admin.set_password(password)
                    admin.save()
        except ConfigInvalid as exc:
            raise CommandError(str(exc)) from exc
        except User.DoesNotExist as exc:
            raise CommandError(f"{DEMO_FILE} must list {DEMO_ADMIN_EMAIL} as a user.") from exc
        if verbosity >= 2:
            for outcome in report.outcomes:
                self.stdout.write(str(outcome))
        url = url.rstrip("/")
        workspace = plan.workspace.slug
        self.stdout.write(
            f"Demo workspace '{workspace}': {report.summary()}.\n"
            f"Console:  {url}/\n"
            f"Sign in:  {DEMO_ADMIN_EMAIL} / {password}\n"
            + "".join(
                f"Gateway:  {url}/mcp/{plan.workspace.slug}/{g.slug}\n" for g in plan.gateways
            )
            + f"Clients need a token: manage.py issue_token --workspace {workspace} --user EMAIL"
        )
