"""Fixtures of the teams tests: one object of every kind the API names in acme, and the single
sign-on tests' identity providers."""

import pytest

from audit.alerts import raising
from audit.log.recorder import write_entries
from audit.models import AlertWebhook, LogEntry, LogSink
from gateways import services as gateway_services
from gateways.models import Assignment
from identities import services as identity_services
from identities.inbound.oauth import headless_clients
from identities.models import ApiToken, TrustedIdp
from rules.models import Rule
from teams import services as team_services
from teams.models import Membership
from tests.support.audit_entries import call_hops
from tests.support.connector_rows import connector_of


@pytest.fixture
def private_issuers(settings):
    """The identity providers of these tests run on loopback, which SSO refuses by default."""
    settings.SSO_ALLOW_PRIVATE_ISSUERS = True


@pytest.fixture
def acme_objects(acme, alice, bob, acme_gateway, token_for, client_app):
    """The ids (and the correlation id) that fill the placeholders of API URLs in acme."""
    team_services.create_role(
        workspace=acme,
        key="reviewer",
        name="Reviewer",
        capabilities=[],
        actor=alice,
        acting_member=None,
    )
    token_for(acme, alice)
    write_entries(call_hops(acme))
    entry = LogEntry.objects.for_workspace(acme).first()
    return {
        "log": entry.pk,
        "correlation": entry.correlation_id,
        "member": Membership.objects.get(workspace=acme, user=bob).pk,
        "assignment": Assignment.objects.get(gateway=acme_gateway).pk,
        "token": ApiToken.objects.get(workspace=acme).pk,
        # Made after the lookup above, which expects acme's one token so far.
        "connector": connector_of(acme, alice).pk,
        "credential": _acme_credential(acme_gateway, alice),
        "client": client_app.pk,
        "alert": raising.raise_alert(
            workspace_id=acme.pk, kind="auth", subject="x", title="x", gateway_id=acme_gateway.pk
        ).pk,
        "rule": Rule.objects.create(
            workspace=acme, name="keep", detector="secrets", action="redact"
        ).pk,
        "sink": LogSink.objects.create(
            workspace=acme, name="siem", kind="webhook", endpoint="https://siem.example.com/h"
        ).pk,
        "alert_webhook": AlertWebhook.objects.create(
            workspace=acme, endpoint="https://alerts.example.com/h"
        ).pk,
        "trusted_idp": TrustedIdp.objects.create(
            workspace=acme, issuer="https://idp.acme.example", jwks_url="https://idp.acme.example/k"
        ).pk,
        "headless": headless_clients.register_headless_client(
            workspace=acme,
            membership=Membership.objects.get(workspace=acme, user=bob),
            name="Nightly agent",
            actor=alice,
        )[0].pk,
        "scim_token": identity_services.issue_scim_token(
            membership=Membership.objects.get(workspace=acme, user=alice), name="Okta", actor=alice
        ).token.pk,
    }


def _acme_credential(gateway, alice) -> int:
    assignment = gateway_services.update_assignment(
        assignment=gateway.assignments.get(), identity_scheme="manual", actor=alice
    )
    credential, _ = identity_services.set_credential(
        assignment=assignment, owner=alice, data={"kind": "bearer", "token": "t"}, actor=alice
    )
    return credential.pk
