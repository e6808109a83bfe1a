"""Single sign-on pages: starting a sign-in by email domain, and the workspace's SSO settings.

`/accounts/sso/` takes the address typed on the sign-in page (or the workspace of an SSO
button), finds the workspace that claims its domain and sends the person to that workspace's
identity provider through allauth; allauth brings them back to `/accounts/oidc/ws-<slug>/...`
(OpenID Connect) or `/accounts/saml/ws-<slug>/acs/` (SAML). The settings page needs
`workspace.manage`, as the API does; it shows the URLs to register at the identity provider.
"""

import requests
from allauth.account.utils import get_next_redirect_url
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from core.errors import CapabilityRequired, GatehouseError
from teams.capabilities import WORKSPACE_MANAGE
from teams.console_base import WorkspacePage, show_error
from teams.models import Role, WorkspaceSso
from teams.sso.forms import SsoForm
from teams.sso.saml import SAML_ERRORS, SAML_FIELDS, saml_available, service_provider_urls
from teams.sso.services import (
    PROVIDER_PREFIX,
    configure_sso,
    sso_for_email,
    sso_for_provider,
    sso_of,
)


def _back_to_login(request, next_url):
    url = reverse("account_login")
    if next_url:
        url = f"{url}?{urlencode({'next': next_url})}"
    return redirect(url)


@require_POST
def sign_in(request):
    next_url = get_next_redirect_url(request)
    email = request.POST.get("email", "").strip()
    workspace = request.POST.get("workspace", "").strip()
    if workspace:
        sso = sso_for_provider(PROVIDER_PREFIX + workspace)
        if sso is not None and not sso.show_button:
            sso = None
    else:
        sso = sso_for_email(email) if "@" in email else None
    if sso is None:
        messages.error(
            request,
            "No workspace signs in this address with single sign-on. Sign in with your password.",
        )
        return _back_to_login(request, next_url)
    provider = get_adapter(request).get_provider(request, provider=sso.provider_id)
    hint = {}
    if email and sso.protocol == WorkspaceSso.OIDC:
        hint["auth_params"] = {"login_hint": email}
    try:
        return provider.redirect(request, process="login", next_url=next_url, **hint)
    except (requests.RequestException, OAuth2Error, KeyError, ValueError, *SAML_ERRORS):
        messages.error(request, f"Could not reach the identity provider of {sso.workspace.name}.")
        return _back_to_login(request, next_url)


class SsoPage(WorkspacePage):
    required = {"GET": WORKSPACE_MANAGE, "POST": WORKSPACE_MANAGE}

    def _form(self, data=None):
        roles = Role.objects.for_workspace(self.workspace).order_by("name")
        sso = sso_of(self.workspace)
        initial = SsoForm.initial_from(sso) if sso is not None else None
        form = SsoForm(data, roles=roles, initial=initial, saml_available=saml_available())
        return form, sso

    def get(self, request, form=None):
        blank, sso = self._form()
        provider_id = PROVIDER_PREFIX + self.workspace.slug
        return self.render(
            "teams/sso.html",
            {
                "form": form or blank,
                "sso": sso,
                "oidc_redirect_uri": request.build_absolute_uri(
                    reverse("openid_connect_callback", kwargs={"provider_id": provider_id})
                ),
                "saml_urls": service_provider_urls(request, provider_id),
            },
            status=400 if form is not None else 200,
        )

    def post(self, request):
        form, sso = self._form(request.POST)
        if not form.is_valid():
            return self.get(request, form)
        data = form.cleaned_data
        try:
            configure_sso(
                workspace=self.workspace,
                actor=request.user,
                acting_member=self.membership,
                enabled=data["enabled"],
                protocol=data["protocol"],
                issuer=data["issuer"],
                client_id=data["client_id"],
                client_secret=data["client_secret"] or None,
                domains=data["domains"],
                default_role_key=data["default_role"],
                groups_claim=data["groups_claim"],
                group_teams=data["group_teams"],
                scopes=data["scopes"],
                show_button=data["show_button"],
                **{field: data[field] for field in SAML_FIELDS},
            )
        except CapabilityRequired:
            raise
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, form)
        messages.success(request, "Single sign-on settings were saved.")
        return redirect("sso-settings", ws=self.workspace.slug)
