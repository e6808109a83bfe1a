"""The authorization endpoint: sign the person in (allauth), then ask their consent.

The consent page names the client and what the token will open. A request must name exactly
one URL of this platform as its `resource` (RFC 8707): a gateway URL, which the token is bound
to, or a workspace URL (`/mcp/<workspace>`), where the person picks one of the gateways
provisioned to them; that token is bound to the workspace URL and opens the gateway picked.
A person who may not use the gateway (or, for a workspace URL, any gateway) is told so and
cannot approve. The page also lists the upstream accounts the gateway needs from the person
(`user_oauth`), with a Connect button that goes through the connections flow and comes back here,
and the tokens of their own it takes (`manual`), with a link to the form that sets one and comes
back here.
"""

from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error

from identities.inbound.oauth import connect_rows, resources


def _single_target(values):
    return resources.target_for_resource(values[0]) if len(values) == 1 else None


class ConsentView(AuthorizationView):
    template_name = "identities/oauth_consent.html"
    target = None
    chosen = None
    choice_error = ""

    def get(self, request, *args, **kwargs):
        if "approval_prompt" in request.GET:
            # `approval_prompt=auto` would let an earlier consent, perhaps for another gateway,
            # stand in for this one; consent is asked every time.
            request.GET = request.GET.copy()
            del request.GET["approval_prompt"]
        return super().get(request, *args, **kwargs)

    def validate_authorization_request(self, request):
        scopes, credentials = super().validate_authorization_request(request)
        # The client and its redirect URI are verified by now, so this error goes back to it.
        self.target = _single_target(request.GET.getlist("resource"))
        if self.target is None:
            error = CustomOAuth2Error(
                error="invalid_target",
                description=(
                    "Name one gateway, or a workspace, as the one `resource` parameter: "
                    "<scheme>://<host>/mcp/<workspace>/<gateway> or <scheme>://<host>/mcp/<workspace>."
                ),
                state=credentials.get("state"),
            )
            raise OAuthToolkitError(error=error, redirect_uri=credentials["redirect_uri"])
        return scopes, credentials

    def _gateways(self) -> list:
        """The gateways this consent may open: the one named, or the person's in the workspace."""
        if self.target is None:
            return []
        user = self.request.user
        if not self.target.is_workspace:
            gateway = self.target.gateway
            return [gateway] if resources.may_use(user, gateway) else []
        return list(resources.usable_gateways(user, self.target.workspace.pk))

    def _return_path(self, gateway_slug: str | None) -> str:
        """This consent page again, with the gateway a Connect button belongs to picked."""
        params = self.request.GET.copy()
        if gateway_slug and self.target.is_workspace:
            params["gateway"] = gateway_slug
        return f"{self.request.path}?{params.urlencode()}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        gateways = self._gateways()
        target = self.target
        context["target"] = target
        context["gateway"] = target.gateway if target is not None else None
        context["workspace"] = target.workspace if target is not None else None
        context["provisioned"] = bool(gateways)
        context["choices"] = gateways if target is not None and target.is_workspace else []
        picked = self.chosen.slug if self.chosen is not None else self.request.GET.get("gateway")
        if len(gateways) == 1:
            picked = gateways[0].slug
        context["picked"] = picked
        context["choice_error"] = self.choice_error
        context["refused"] = target is not None and target.is_workspace and not gateways
        user, path = self.request.user, self._return_path
        context["accounts"] = (
            connect_rows.rows_for(user, target.workspace, gateways, path) if gateways else []
        )
        context["own_tokens"] = (
            connect_rows.manual_rows_for(user, target.workspace, gateways, path) if gateways else []
        )
        return context

    def render_to_response(self, context, **kwargs):
        if context.get("refused"):
            kwargs["status"] = 403
        return super().render_to_response(context, **kwargs)

    def form_valid(self, form):
        if form.cleaned_data.get("allow"):
            # The hidden fields come back from the browser: check the resource (and the
            # gateway picked for a workspace URL) again.
            self.target = _single_target((form.cleaned_data.get("resource") or "").split())
            status = self._check_choice()
            if status:
                application = (
                    get_application_model()
                    .objects.filter(client_id=form.cleaned_data["client_id"])
                    .first()
                )
                context = self.get_context_data(form=form, application=application)
                return self.render_to_response(context, status=status)
        return super().form_valid(form)

    def _check_choice(self) -> int:
        """0 when the person may approve; else the status of the page that says why not."""
        if self.target is None:
            return 403
        if not self.target.is_workspace:
            return 0 if resources.may_use(self.request.user, self.target.gateway) else 403
        slug = self.request.POST.get("gateway", "")
        if not slug:
            self.choice_error = "Pick the gateway the client will use."
            return 400
        self.chosen = (
            resources.usable_gateways(self.request.user, self.target.workspace.pk)
            .filter(slug=slug)
            .first()
        )
        if self.chosen is None:
            self.choice_error = "That gateway is not provisioned to any of your teams."
            return 403
        return 0

    def create_authorization_response(self, request, scopes, credentials, allow):
        if allow and self.chosen is not None:
            # oauthlib puts credentials on its request: the validator stores this with the grant.
            credentials = {**credentials, "chosen_gateway": self.chosen}
        return super().create_authorization_response(request, scopes, credentials, allow)
