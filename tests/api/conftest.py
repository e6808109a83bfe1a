"""Fixtures of the API tests: a person whose role is exactly the capabilities a test names."""

import itertools

import pytest

from identities.services import issue_token
from teams import services as team_services
from teams.models import Membership, User

_role_keys = itertools.count(1)


@pytest.fixture
def dave(acme, alice):
    """A member of acme's team eng; tests give him a role with exactly the capabilities needed."""
    user = User.objects.create_user(email="dave@acme.test", password="correct horse battery")
    team_services.add_member(
        workspace=acme,
        user=user,
        role_key="member",
        team_slugs=["eng"],
        actor=alice,
        acting_member=None,
    )
    return user


@pytest.fixture
def as_dave_with(api, acme, alice, dave):
    """`as_dave_with({caps})`: an API client signed in as dave holding exactly `caps`."""

    def sign_in(capabilities):
        role = team_services.create_role(
            workspace=acme,
            key=f"custom-{next(_role_keys)}",
            name="Custom",
            capabilities=sorted(capabilities),
            actor=alice,
            acting_member=None,
        )
        membership = Membership.objects.get(workspace=acme, user=dave)
        team_services.update_member(
            membership=membership, role_key=role.key, actor=alice, acting_member=None
        )
        return api.as_(dave)

    return sign_in


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def token_for():
    """`token_for(workspace, user)`: issue an API token and return its secret."""

    def issue(workspace, user, **kwargs):
        membership = Membership.objects.get(workspace=workspace, user=user)
        return issue_token(membership=membership, name="test", actor=user, **kwargs).secret

    return issue


@pytest.fixture
def client_app(acme, bob):
    """An OAuth client app holding a token for acme's gateway `dev`, as after a client's sign-in."""
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application

    from identities.inbound import tokens
    from identities.inbound.oauth import credentials

    app = Application.objects.create(
        name="Claude",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://claude.ai/api/mcp/auth_callback",
    )
    secret = credentials.new_access_token()
    AccessToken.objects.create(
        user=bob,
        application=app,
        token=secret,
        token_checksum=tokens.digest(secret),
        expires=timezone.now() + timedelta(hours=1),
        scope="mcp",
        resource=["http://testserver/mcp/acme/dev"],
    )
    return app
