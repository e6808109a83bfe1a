"""`manage.py issue_token`: issue a token for a member, from a script.

`--kind gateway` (the default) gives the token MCP clients use; `--kind api --scope read
--scope servers.manage` gives one for the management API, within the member's role;
`--connector` (or `--kind connector`) one for `gatehouse-connect` on a workstation. The secret
is printed once, on the last line of the output, so `| tail -n 1` captures it.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404
from django.utils import timezone

from core.errors import GatehouseError
from gateways.selectors import access_gateway
from identities.models import MINTABLE_KINDS, ApiToken
from identities.services import issue_token
from teams.models import User, Workspace
from teams.selectors import membership_for


class Command(BaseCommand):
    help = "Issue an API token for a member of a workspace; the token is the last line printed."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--user", required=True, help="email address of a member")
        parser.add_argument(
            "--kind",
            choices=MINTABLE_KINDS,
            default=ApiToken.Kind.GATEWAY,
            help="gateway: MCP URLs only (default); api: the management API; "
            "connector: gatehouse-connect",
        )
        parser.add_argument(
            "--connector",
            action="store_true",
            help="a connector token, for gatehouse-connect (same as --kind connector)",
        )
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            default=[],
            help="of an api token: 'read' or a capability key; repeat for more",
        )
        parser.add_argument("--gateway", help="limit a gateway token to this gateway (slug)")
        parser.add_argument("--name", default="command line", help="a label for the token")
        parser.add_argument(
            "--expires-in-days", type=int, help="expire the token after this many days"
        )

    def handle(
        self,
        *args,
        workspace,
        user,
        kind,
        connector,
        scopes,
        gateway,
        name,
        expires_in_days,
        **options,
    ):
        if connector:
            kind = ApiToken.Kind.CONNECTOR
        ws = Workspace.objects.filter(slug=workspace).first()
        if ws is None:
            raise CommandError(f"Unknown workspace '{workspace}'.")
        email = user.strip().lower()
        person = User.objects.filter(email=email).first()
        try:
            membership = membership_for(user=person, workspace_slug=ws.slug)
        except Http404 as exc:
            raise CommandError(f"{email} is not a member of the workspace '{ws.slug}'.") from exc
        target = None
        if gateway:
            try:
                target = access_gateway(ws, gateway)
            except Http404 as exc:
                raise CommandError(f"Unknown gateway '{gateway}' in '{ws.slug}'.") from exc
        expires_at = None
        if expires_in_days is not None:
            if expires_in_days <= 0:
                raise CommandError("--expires-in-days must be a positive number of days.")
            expires_at = timezone.now() + timedelta(days=expires_in_days)
        try:
            issued = issue_token(
                membership=membership,
                name=name,
                kind=kind,
                scopes=scopes,
                gateway=target,
                expires_at=expires_at,
                actor=None,
            )
        except GatehouseError as exc:
            raise CommandError(exc.message) from exc
        if kind == ApiToken.Kind.API:
            scope = f"the management API, scopes {', '.join(issued.token.scopes)}"
        elif kind == ApiToken.Kind.CONNECTOR:
            scope = "the connector socket: gatehouse-connect serving their workstation servers"
        elif target:
            scope = f"the MCP URL of gateway '{target.slug}'"
        else:
            scope = "the MCP URLs of every gateway the member may use"
        expiry = f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "never expires"
        self.stdout.write(
            f"Issued token '{issued.token.name}' for {email} in '{ws.slug}' ({scope}; {expiry}).\n"
            "Store it now: it is not shown again."
        )
        self.stdout.write(issued.secret)
