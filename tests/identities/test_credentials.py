"""Upstream credentials through the management API, encryption at rest and key rotation."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from core import crypto
from gateways import services as gateway_services
from identities.models import UpstreamCredential
from servers import services as server_services
from teams.models import ConfigChange
from tests.support.api import error, refused_capability

W = "/api/v1/workspaces/acme"


@pytest.fixture
def assignment(acme_gateway, alice):
    assignment = acme_gateway.assignments.get()
    return gateway_services.update_assignment(
        assignment=assignment, identity_scheme="manual", actor=alice
    )


@pytest.fixture
def url(assignment):
    return f"{W}/gateways/dev/assignments/{assignment.pk}/credentials/"


def _raw_rows():
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, hint, details FROM identities_upstreamcredential")
        return cursor.fetchall()


def test_it_works(api, bob, url):
    created = api.as_(bob).post(url, {"kind": "bearer", "token": "tok-abcdefghijklmnop"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["owner"] == "bob@acme.test" and body["shared"] is False
    assert body["kind"] == "bearer" and body["hint"] == "••••mnop"
    assert "token" not in body and "secret" not in body
    listed = api.as_(bob).get(url).json()["results"]
    assert [c["id"] for c in listed] == [body["id"]]
    assert "tok-abcdefghijklmnop" not in str(listed)
    shown = api.as_(bob).get(f"{url}{body['id']}/").json()
    assert shown == body


def test_the_row_holds_no_plaintext(api, alice, url):
    body = {"shared": True, "kind": "headers", "headers": {"X-Api-Key": "sekrit-value-1234567"}}
    assert api.as_(alice).post(url, body, format="json").status_code == 201
    [(secret, hint, details)] = _raw_rows()
    assert "sekrit-value" not in secret + hint + str(details)
    assert secret.startswith("f1:")
    assert crypto.decrypt(secret) == {"headers": {"X-Api-Key": "sekrit-value-1234567"}}
    [change] = ConfigChange.objects.filter(action="credential.set")
    assert "sekrit" not in str(change.detail) + change.target


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"kind": "magic"}, "kind", "is not a valid choice"),
        ({"kind": "bearer"}, "token", "'token' must be a non-empty string"),
        ({"kind": "bearer", "token": "a\nb"}, "token", "line breaks"),
        ({"kind": "headers", "headers": {}}, "headers", "non-empty object"),
        ({"kind": "headers", "headers": {"Host": "x"}}, "headers", "cannot be set"),
        ({"kind": "headers", "headers": {"Bad Name": "x"}}, "headers", "not a valid header name"),
        (
            {"kind": "client_credentials", "client_id": "a", "client_secret": "b"},
            "kind",
            "shared service account",
        ),
    ],
)
def test_bad_input_is_refused_clearly(api, bob, url, body, field, message):
    response = api.as_(bob).post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert message in str(response.json())
    assert field in str(response.json())
    assert not UpstreamCredential.objects.exists()


def test_client_credentials_need_an_http_token_url(api, alice, url):
    body = {
        "shared": True,
        "kind": "client_credentials",
        "token_url": "file:///etc/passwd",
        "client_id": "svc",
        "client_secret": "s",
    }
    response = api.as_(alice).post(url, body, format="json")
    assert response.status_code == 400
    assert "token_url" in str(response.json())


def test_the_scheme_decides_what_may_be_set(api, alice, bob, assignment, url):
    gateway_services.update_assignment(assignment=assignment, identity_scheme="none", actor=alice)
    refused = api.as_(alice).post(url, {"shared": True, "kind": "bearer", "token": "t"})
    assert refused.status_code == 400
    assert "identity scheme is 'none'" in error(refused)["detail"]
    gateway_services.update_assignment(
        assignment=assignment, identity_scheme="service_account", actor=alice
    )
    # A service account is shared: nobody sets their own.
    refused = api.as_(bob).post(url, {"kind": "bearer", "token": "t"})
    assert refused.status_code == 400
    assert error(refused)["detail"] == (
        "The assignment's identity scheme is 'service_account', which takes no personal "
        "credential (schemes that do: manual)."
    )


def test_a_local_server_takes_no_credential(api, acme, alice, acme_gateway):
    managed = server_services.create_server(
        workspace=acme, name="fs", kind="managed", command="mcp-fs", actor=alice
    )
    assignment = gateway_services.assign_server(
        gateway=acme_gateway, server=managed, namespace="fs", identity_scheme="manual", actor=alice
    )
    url = f"{W}/gateways/dev/assignments/{assignment.pk}/credentials/"
    refused = api.as_(alice).post(url, {"kind": "bearer", "token": "t"})
    assert refused.status_code == 400
    assert "secrets through its environment" in error(refused)["detail"]


def test_setting_the_shared_credential_requires_gateways_manage(api, bob, url):
    response = api.as_(bob).post(url, {"shared": True, "kind": "bearer", "token": "t"})
    assert response.status_code == 403
    assert refused_capability(response) == "gateways.manage"


def test_people_see_and_change_only_their_own(api, alice, bob, carol, url):
    mine = api.as_(bob).post(url, {"kind": "bearer", "token": "bobs"}).json()
    alices = api.as_(alice).post(url, {"kind": "bearer", "token": "alices"}).json()
    shared = api.as_(alice).post(url, {"shared": True, "kind": "bearer", "token": "s"}).json()
    seen = {c["id"] for c in api.as_(bob).get(url).json()["results"]}
    assert seen == {mine["id"]}
    for other in (alices, shared):
        assert api.as_(bob).get(f"{url}{other['id']}/").status_code == 404
        assert api.as_(bob).delete(f"{url}{other['id']}/").status_code == 404
        assert api.as_(bob).post(f"{url}{other['id']}/disable/").status_code == 404
    # Alice (owner) holds identities.view_all and identities.manage: she sees and disables all.
    seen = {c["id"] for c in api.as_(alice).get(url).json()["results"]}
    assert seen == {mine["id"], alices["id"], shared["id"]}
    disabled = api.as_(alice).post(f"{url}{mine['id']}/disable/")
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True


def test_a_gateway_the_person_cannot_use_is_missing(api, bob, acme, alice, acme_server):
    hidden = gateway_services.create_gateway(workspace=acme, slug="ops", name="Ops", actor=alice)
    assignment = gateway_services.assign_server(
        gateway=hidden, server=acme_server, namespace="t", identity_scheme="manual", actor=alice
    )
    url = f"{W}/gateways/ops/assignments/{assignment.pk}/credentials/"
    assert api.as_(bob).post(url, {"kind": "bearer", "token": "t"}).status_code == 404
    assert api.as_(bob).get(url).status_code == 404
    # An assignment of another gateway under this one's URL is missing too.
    wrong = f"{W}/gateways/dev/assignments/{assignment.pk}/credentials/"
    assert api.as_(alice).get(wrong).status_code == 404
    assert api.as_(alice).get(f"{W}/gateways/dev/assignments/x/credentials/").status_code == 404


def test_keys_rotate(api, bob, url, settings):
    settings.CREDENTIALS_KEYS = ["old passphrase that is long enough"]
    assert api.as_(bob).post(url, {"kind": "bearer", "token": "rotating-token"}).status_code == 201
    [(before, _, _)] = _raw_rows()

    settings.CREDENTIALS_KEYS = ["new passphrase, also long", "old passphrase that is long enough"]
    assert crypto.decrypt(before) == {"token": "rotating-token"}  # the old key still opens it
    call_command("rotate_credentials")
    [(after, _, _)] = _raw_rows()
    assert after != before

    settings.CREDENTIALS_KEYS = ["new passphrase, also long"]
    assert crypto.decrypt(after) == {"token": "rotating-token"}
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(before)


def test_rotation_reports_what_no_key_opens(api, bob, url, settings):
    settings.CREDENTIALS_KEYS = ["a key that will be lost"]
    assert api.as_(bob).post(url, {"kind": "bearer", "token": "t"}).status_code == 201
    settings.CREDENTIALS_KEYS = ["a different key"]
    with pytest.raises(CommandError, match=r"acme:\d+"):
        call_command("rotate_credentials")


def test_a_fernet_key_is_used_as_it_is(settings):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [key]
    stored = crypto.encrypt({"token": "x"})
    assert Fernet(key.encode()).decrypt(stored[3:].encode()) == b'{"token":"x"}'
