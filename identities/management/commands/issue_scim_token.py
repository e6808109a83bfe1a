"""`manage.py issue_scim_token --workspace W`: issue the token a workspace's identity provider
(Okta, Microsoft Entra) uses on `/scim/v2/W/`. The secret is printed once, on the last line of
the output, so `| tail -n 1` captures it."""

from django.core.management.base import BaseCommand, CommandError

from core.errors import GatehouseError
from identities.services import issue_scim_token
from teams.models import Membership, Workspace


class Command(BaseCommand):
    help = "Issue a SCIM token for a workspace; the token is the last line printed."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument(
            "--user", help="email address of the member recorded as issuer (default: an owner)"
        )
        parser.add_argument("--name", default="SCIM", help="a label for the token")

    def handle(self, *args, workspace, user, name, **options):
        ws = Workspace.objects.filter(slug=workspace).first()
        if ws is None:
            raise CommandError(f"Unknown workspace '{workspace}'.")
        members = Membership.objects.for_workspace(ws).select_related("user", "workspace")
        if user:
            issuer = members.filter(user__email=user.strip().lower()).first()
            if issuer is None:
                raise CommandError(f"{user} is not a member of the workspace '{ws.slug}'.")
        else:
            issuer = members.filter(role__key="owner").order_by("created_at").first()
            if issuer is None:
                raise CommandError(f"The workspace '{ws.slug}' has no owner; name one with --user.")
        try:
            issued = issue_scim_token(membership=issuer, name=name, actor=None)
        except GatehouseError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Issued SCIM token '{issued.token.name}' for '{ws.slug}' "
            f"(base URL /scim/v2/{ws.slug}/).\nStore it now: it is not shown again."
        )
        self.stdout.write(issued.secret)
