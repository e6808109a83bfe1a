"""allauth's social account adapter: each workspace's identity provider as an allauth app.

allauth looks apps up through `list_apps`; ours come from `WorkspaceSso` rows (provider
`openid_connect` or `saml`, provider id `ws-<workspace slug>`), built in memory with the
decrypted client secret, so the secret is never stored in clear in allauth's own table. Every
request allauth makes to an identity provider goes through the SSRF-guarded session of
teams/sso/fetch.py (SAML needs none: its metadata is read when the settings are saved).

At sign-in, whichever the protocol, the address must be in one of the workspace's domains; the
first sign-in creates the account and membership, and every sign-in syncs the mapped teams
(teams/sso/services.py).
"""

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount import app_settings
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.base import AuthProcess
from django.shortcuts import render

from teams.models import Membership, User, WorkspaceSso
from teams.sso.fetch import guarded_session
from teams.sso.saml import saml_app_settings, saml_claims
from teams.sso.services import (
    SsoRefused,
    check_email,
    client_secret,
    enabled_ssos,
    provision_member,
    sso_for_provider,
)

# allauth's provider of each protocol.
PROVIDERS = {WorkspaceSso.OIDC: "openid_connect", WorkspaceSso.SAML: "saml"}


def social_app(sso: WorkspaceSso) -> SocialApp:
    if sso.protocol == WorkspaceSso.SAML:
        # allauth's SAML URLs name the app by its client id: /accounts/saml/ws-<slug>/acs/.
        return SocialApp(
            provider=PROVIDERS[sso.protocol],
            provider_id=sso.provider_id,
            name=sso.workspace.name,
            client_id=sso.provider_id,
            settings=saml_app_settings(sso),
        )
    return SocialApp(
        provider=PROVIDERS[sso.protocol],
        provider_id=sso.provider_id,
        name=sso.workspace.name,
        client_id=sso.client_id,
        secret=client_secret(sso),
        settings={"server_url": sso.issuer, "scope": sso.scopes.split()},
    )


def _claims(sso: WorkspaceSso, sociallogin) -> dict:
    data = sociallogin.account.extra_data or {}
    if sso.protocol == WorkspaceSso.SAML:
        return saml_claims(sso, attributes=data, name_id=sociallogin.account.uid)
    # The ID token may carry claims (often the groups) that userinfo leaves out.
    return {**(data.get("id_token") or {}), **(data.get("userinfo") or {})}


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request, provider=None, client_id=None):
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        if provider is None:
            ssos = list(enabled_ssos())
        elif provider in PROVIDERS.values():
            ssos = [sso for sso in enabled_ssos() if PROVIDERS[sso.protocol] == provider]
        else:
            sso = sso_for_provider(provider)
            ssos = [sso] if sso is not None else []
        for sso in ssos:
            app = social_app(sso)
            if client_id is None or client_id == app.client_id:
                apps.append(app)
        return apps

    def get_requests_session(self):
        return guarded_session(timeout=app_settings.REQUESTS_TIMEOUT)

    def is_open_for_signup(self, request, sociallogin):
        # Only the workspaces' identity providers create accounts (just in time).
        return sso_for_provider(sociallogin.account.provider) is not None

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user.email = (user.email or "").strip().lower()
        return user

    def pre_social_login(self, request, sociallogin):
        sso = sso_for_provider(sociallogin.account.provider)
        try:
            if sso is None:
                raise SsoRefused("Single sign-on is not set up for this workspace.")
            if sociallogin.state.get("process") == AuthProcess.CONNECT:
                # Members are linked by address at sign-in; linking by hand would let one
                # account collect another person's identity.
                raise SsoRefused("Sign in with single sign-on instead of connecting an account.")
            email = check_email(sso, _claims(sso, sociallogin).get("email"))
            if sociallogin.is_existing:
                provision_member(sso=sso, user=sociallogin.user, claims=_claims(sso, sociallogin))
                return
            user = User.objects.filter(email=email).first()
            if user is not None:
                self._connect_existing(request, sociallogin, sso, user)
        except SsoRefused as exc:
            raise ImmediateHttpResponse(
                render(
                    request,
                    "socialaccount/authentication_error.html",
                    {"reason": str(exc)},
                    status=403,
                )
            ) from exc

    def _connect_existing(self, request, sociallogin, sso, user):
        # An identity provider vouches for its workspace's people, not for everyone with an
        # address in the domain: an account is linked only if it is already a member here.
        if not Membership.objects.for_workspace(sso.workspace).filter(user=user).exists():
            raise SsoRefused(
                f"An account for {user.email} already exists. Sign in with your password."
            )
        sociallogin.connect(request, user)
        provision_member(sso=sso, user=user, claims=_claims(sso, sociallogin))

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        sso = sso_for_provider(sociallogin.account.provider)
        provision_member(sso=sso, user=user, claims=_claims(sso, sociallogin))
        return user
