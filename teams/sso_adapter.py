"""allauth's social account adapter: each workspace's identity provider as an OpenID Connect app.

allauth looks apps up through `list_apps`; ours come from `WorkspaceSso` rows (provider
`openid_connect`, provider id `ws-<workspace slug>`), built in memory with the decrypted client
secret, so the secret is never stored in clear in allauth's own table. Every request allauth
makes to an identity provider goes through the SSRF-guarded session of teams/sso_fetch.py.

At sign-in the address must be in one of the workspace's domains; the first sign-in creates the
account and membership, and every sign-in syncs the mapped teams (teams/sso_services.py).
"""

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount import app_settings
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.base import AuthProcess
from django.shortcuts import render

from teams.models import Membership, User, WorkspaceSso
from teams.sso_fetch import guarded_session
from teams.sso_services import (
    SsoRefused,
    check_email,
    client_secret,
    enabled_ssos,
    provision_member,
    sso_for_provider,
)

OPENID_CONNECT = "openid_connect"


def social_app(sso: WorkspaceSso) -> SocialApp:
    return SocialApp(
        provider=OPENID_CONNECT,
        provider_id=sso.provider_id,
        name=sso.workspace.name,
        client_id=sso.client_id,
        secret=client_secret(sso),
        settings={"server_url": sso.issuer, "scope": sso.scopes.split()},
    )


def _claims(sociallogin) -> dict:
    data = sociallogin.account.extra_data or {}
    # The ID token may carry claims (often the groups) that userinfo leaves out.
    return {**(data.get("id_token") or {}), **(data.get("userinfo") or {})}


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request, provider=None, client_id=None):
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        if provider is None or provider == OPENID_CONNECT:
            ssos = list(enabled_ssos())
        else:
            sso = sso_for_provider(provider)
            ssos = [sso] if sso is not None else []
        for sso in ssos:
            if client_id is None or client_id == sso.client_id:
                apps.append(social_app(sso))
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
            email = check_email(sso, _claims(sociallogin).get("email"))
            if sociallogin.is_existing:
                provision_member(sso=sso, user=sociallogin.user, claims=_claims(sociallogin))
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
        provision_member(sso=sso, user=user, claims=_claims(sociallogin))

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        sso = sso_for_provider(sociallogin.account.provider)
        provision_member(sso=sso, user=user, claims=_claims(sociallogin))
        return user
