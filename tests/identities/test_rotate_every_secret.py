"""`rotate_credentials` re-encrypts every stored secret: SIEM sinks and SSO client secrets too."""

import pytest
from django.core.management import call_command

from audit.models import LogSink
from audit.sinks import services as sink_services
from core import crypto
from teams.models import WorkspaceSso
from teams.sso import services

OLD = "old passphrase that is long enough"
NEW = "new passphrase, also long enough"


def test_sink_and_sso_secrets_follow_the_new_key(acme, alice, settings):
    settings.CREDENTIALS_KEYS = [OLD]
    settings.SSO_ALLOW_PRIVATE_ISSUERS = True
    sink, signing_key = sink_services.create_sink(
        workspace=acme,
        actor=alice,
        name="siem",
        kind="webhook",
        endpoint="https://siem.example.test/ingest",
    )
    services.configure_sso(
        workspace=acme,
        actor=alice,
        issuer="http://127.0.0.1:9/",  # allowed above as a private issuer; never fetched
        client_id="gatehouse",
        client_secret="idp-client-secret",
        domains=["acme.test"],
        acting_member=None,
    )
    sink_before = LogSink.objects.get(pk=sink.pk).secret
    sso_before = WorkspaceSso.objects.get(workspace=acme).client_secret_encrypted

    settings.CREDENTIALS_KEYS = [NEW, OLD]
    call_command("rotate_credentials")
    settings.CREDENTIALS_KEYS = [NEW]
    sink_after = LogSink.objects.get(pk=sink.pk).secret
    sso = WorkspaceSso.objects.get(workspace=acme)
    assert sink_after != sink_before and sso.client_secret_encrypted != sso_before
    assert signing_key in str(crypto.decrypt(sink_after))
    assert services.client_secret(sso) == "idp-client-secret"
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(sink_before)


def test_upstream_oauth_tokens_and_client_secrets_follow_the_new_key(acme_gateway, bob, settings):
    from identities.models import UpstreamConnection, UpstreamOAuthClient

    settings.CREDENTIALS_KEYS = [OLD]
    assignment = acme_gateway.assignments.get()
    connection = UpstreamConnection.objects.create(
        workspace=acme_gateway.workspace,
        assignment=assignment,
        owner=bob,
        secret=crypto.encrypt({"access_token": "at-1", "refresh_token": "rt-1"}),
    )
    client = UpstreamOAuthClient.objects.create(
        workspace=acme_gateway.workspace,
        assignment=assignment,
        server_url="https://up.test/mcp",
        resource="https://up.test/mcp",
        issuer="https://up.test",
        authorization_endpoint="https://up.test/authorize",
        token_endpoint="https://up.test/token",
        redirect_uri="https://gh.test/w/acme/connections/callback/",
        client_id="registered",
        secret=crypto.encrypt({"client_secret": "registered-secret"}),
    )

    settings.CREDENTIALS_KEYS = [NEW, OLD]
    call_command("rotate_credentials")
    settings.CREDENTIALS_KEYS = [NEW]
    connection_after = UpstreamConnection.objects.get(pk=connection.pk).secret
    client_after = UpstreamOAuthClient.objects.get(pk=client.pk).secret
    assert crypto.decrypt(connection_after) == {"access_token": "at-1", "refresh_token": "rt-1"}
    assert crypto.decrypt(client_after) == {"client_secret": "registered-secret"}
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(connection.secret)
