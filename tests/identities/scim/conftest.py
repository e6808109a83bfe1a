"""Fixtures of the SCIM tests: acme's SCIM token and an HTTP client on the live endpoint."""

import httpx2
import pytest

from identities.services import issue_scim_token
from teams.models import Membership

SCIM_JSON = "application/scim+json"


@pytest.fixture
def scim_token(acme, alice):
    owner = Membership.objects.for_workspace(acme).get(user=alice)
    return issue_scim_token(membership=owner, name="Okta", actor=alice).secret


@pytest.fixture
def globex_scim_token(globex, mallory):
    owner = Membership.objects.for_workspace(globex).get(user=mallory)
    return issue_scim_token(membership=owner, name="Entra", actor=mallory).secret


@pytest.fixture
def scim_base(gateway_base, transactional_db, acme):
    return f"{gateway_base}/scim/v2/acme/"


@pytest.fixture
def scim(scim_base, scim_token):
    """A client of acme's live SCIM endpoint, as its identity provider."""
    with httpx2.Client(
        base_url=scim_base,
        headers={"Authorization": f"Bearer {scim_token}", "Content-Type": SCIM_JSON},
        timeout=30,
        trust_env=False,
    ) as client:
        yield client
