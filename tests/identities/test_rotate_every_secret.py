"""`rotate_credentials` re-encrypts every stored secret: SIEM sinks and SSO client secrets too."""

import pytest
from django.core.management import call_command

from audit.models import LogSink
from audit.sinks import services as sink_services
from identities import crypto
from teams import sso_services
from teams.models import WorkspaceSso

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
    sso_services.configure_sso(
        workspace=acme,
        actor=alice,
        issuer="http://127.0.0.1:9/",  # allowed above as a private issuer; never fetched
        client_id="gatehouse",
        client_secret="idp-client-secret",
        domains=["acme.test"],
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
    assert sso_services.client_secret(sso) == "idp-client-secret"
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(sink_before)
