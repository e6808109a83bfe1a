"""Console pages of the identities app: API tokens.

Every member issues and revokes their own tokens; `clients.manage_tokens` extends that to
everyone's, as in the API. A gateway token opens MCP URLs; an API token the management API,
within scopes the member holds. A new token's secret is rendered once, in the answer to the POST
that created it, and is never stored or shown again.
"""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from core.errors import CapabilityRequired, GatehouseError, ValidationFailed
from gateways.selectors import gateways_usable_by
from identities import selectors, services
from identities.forms import TokenForm
from servers.platform_addresses import platform_url
from teams import api_access
from teams.capabilities import CLIENTS_MANAGE_TOKENS
from teams.console_base import WorkspacePage, paginate, show_error
from teams.selectors import member_by_email


def usable_gateways(membership):
    """The gateways a token of `membership` may be scoped to, for the form's choices."""
    return gateways_usable_by(membership).order_by("name").only("slug", "name")


class TokensPage(WorkspacePage):
    def _see_all(self) -> bool:
        return self.can(CLIENTS_MANAGE_TOKENS)

    def _form(self, data=None):
        return TokenForm(
            data,
            gateways=usable_gateways(self.membership),
            scopes=api_access.scopes_held(self.membership),
            for_others=self._see_all(),
        )

    def get(self, request, form=None, issued=None):
        tokens = selectors.tokens_visible_to(self.membership, see_all=self._see_all()).order_by(
            "-created_at", "-id"
        )
        return self.render(
            "identities/tokens.html",
            {
                "page": paginate(request, tokens),
                "form": form or self._form(),
                "issued": issued,
                "see_all": self._see_all(),
                "platform_url": platform_url(request),
            },
            status=400 if form is not None and form.errors else 200,
        )

    def _owner(self, email):
        if not email or email.lower() == self.request.user.email.lower():
            return self.membership
        self.require(CLIENTS_MANAGE_TOKENS)
        owner = member_by_email(self.workspace, email)
        if owner is None:
            raise ValidationFailed(f"{email} is not a member of this workspace.", field="user")
        return owner

    def post(self, request):
        form = self._form(request.POST)
        if not form.is_valid():
            return self.get(request, form)
        data = form.cleaned_data
        try:
            owner = self._owner(data.get("user"))
            gateway = None
            if data["gateway"]:
                # The token's owner must be able to use the gateway it is scoped to.
                gateway = selectors.gateway_for_token(owner, data["gateway"])
                if gateway is None:
                    raise ValidationFailed(
                        f"{owner.user.email} cannot use this gateway.", field="gateway"
                    )
            issued = services.issue_token(
                membership=owner,
                name=data["name"],
                kind=data["kind"],
                scopes=data["scopes"],
                gateway=gateway,
                expires_at=form.expires_at(),
                actor=request.user,
                minter_holds=api_access.scopes_held(self.membership),
            )
        except CapabilityRequired:
            raise
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, form)
        return self.get(request, issued=issued)


class TokenRevokePage(WorkspacePage):
    def _token(self, token_id):
        return selectors.access_token(
            self.membership, token_id, see_all=self.can(CLIENTS_MANAGE_TOKENS)
        )

    def get(self, request, token_id):
        token = self._token(token_id)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Revoke the token {token.name} ({token.prefix}…)?",
                "body": "Clients using it are refused from their next request on. "
                "This cannot be undone.",
                "action": "Revoke token",
                "cancel_url": reverse("tokens", kwargs={"ws": self.workspace.slug}),
            },
        )

    def post(self, request, token_id):
        token = services.revoke_token(token=self._token(token_id), actor=request.user)
        messages.success(request, f"The token {token.name} was revoked.")
        return redirect("tokens", ws=self.workspace.slug)
