"""The authorization endpoint: sign the person in (allauth), then ask their consent.

The consent page names the client and the gateway the token will open. A request must name
exactly one gateway of this platform as its `resource` (RFC 8707); the token is bound to it.
A person who is not provisioned to that gateway is told so and cannot approve.
"""

from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error

from identities.oauth import resources


def _single_gateway(values):
    return resources.gateway_for_resource(values[0]) if len(values) == 1 else None


class ConsentView(AuthorizationView):
    template_name = "identities/oauth_consent.html"
    gateway = None

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
        self.gateway = _single_gateway(request.GET.getlist("resource"))
        if self.gateway is None:
            error = CustomOAuth2Error(
                error="invalid_target",
                description=(
                    "Name the gateway as the one `resource` parameter: its URL, "
                    "<scheme>://<host>/mcp/<workspace>/<gateway>."
                ),
                state=credentials.get("state"),
            )
            raise OAuthToolkitError(error=error, redirect_uri=credentials["redirect_uri"])
        return scopes, credentials

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["gateway"] = self.gateway
        context["provisioned"] = self.gateway is not None and resources.may_use(
            self.request.user, self.gateway
        )
        return context

    def form_valid(self, form):
        if form.cleaned_data.get("allow"):
            # The hidden fields come back from the browser: check the gateway again.
            self.gateway = _single_gateway((form.cleaned_data.get("resource") or "").split())
            if self.gateway is None or not resources.may_use(self.request.user, self.gateway):
                application = (
                    get_application_model()
                    .objects.filter(client_id=form.cleaned_data["client_id"])
                    .first()
                )
                context = self.get_context_data(form=form, application=application)
                return self.render_to_response(context, status=403)
        return super().form_valid(form)
