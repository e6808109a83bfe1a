"""Console page "My upstream connections", `manual` assignments: each person sets, replaces or
removes their own token for the servers of their gateways. (That the token then reaches the
upstream through the live gateway is in tests/identities/test_manual_console.py.)"""

import pytest
from django.test import Client

from gateways import services as gateway_services
from identities import services as identity_services
from identities.models import UpstreamCredential
from teams.models import ConfigChange
from tests.support.console import text

TOKEN = "bob-own-token-0123456789"


@pytest.fixture
def manual(acme_gateway, alice):
    assignment = acme_gateway.assignments.get()
    return gateway_services.update_assignment(
        assignment=assignment, identity_scheme="manual", actor=alice
    )


def _row(page: str, assignment) -> str:
    return page.split(f'data-testid="manual-{assignment.pk}"', 1)[1].split("</form>", 1)[0]


def _set(client, assignment, **fields):
    url = f"/w/acme/connections/{assignment.pk}/credential/"
    return client.post(url, {"kind": "bearer", **fields})


def test_it_lists_my_manual_assignments_with_their_status(as_, manual, alice, bob):
    client = as_(bob)
    row = _row(text(client.get("/w/acme/connections/")), manual)
    assert ">not set</span>" in row and "Set my token" in row and "Remove" not in row

    identity_services.set_credential(
        assignment=manual,
        owner=None,
        data={"kind": "bearer", "token": "shared-token-0000000000"},
        actor=alice,
    )
    row = _row(text(client.get("/w/acme/connections/")), manual)
    assert ">using the shared credential</span>" in row

    assert _set(client, manual, token=TOKEN).status_code == 302
    page = text(client.get("/w/acme/connections/"))
    row = _row(page, manual)
    assert ">your own token set</span>" in row and "••••6789" in row
    assert "Replace my token" in row
    assert f"/w/acme/connections/{manual.pk}/credential/remove/" in row
    assert TOKEN not in page and "shared-token" not in page


def test_setting_replacing_and_removing_write_the_audit_trail(as_, manual, alice, bob):
    client = as_(bob)
    answer = _set(client, manual, token=TOKEN)
    assert answer.status_code == 302
    assert answer["Location"] == f"/w/acme/connections/?assignment={manual.pk}#manual-{manual.pk}"
    stored = UpstreamCredential.objects.get(owner=bob)
    assert stored.kind == "bearer" and TOKEN not in stored.secret and stored.hint == "••••6789"

    replaced = _set(client, manual, kind="headers", headers="X-Api-Key: key-123\n\nX-Team: eng")
    assert replaced.status_code == 302
    stored = UpstreamCredential.objects.get(owner=bob)
    assert stored.kind == "headers" and stored.details == {"names": ["X-Api-Key", "X-Team"]}
    assert "replaced" in text(client.get(replaced["Location"]))

    theirs = identity_services.set_credential(
        assignment=manual, owner=alice, data={"kind": "bearer", "token": "alice"}, actor=alice
    )[0]
    remove = f"/w/acme/connections/{manual.pk}/credential/remove/"
    confirm = client.get(remove)
    assert confirm.status_code == 200
    assert "Remove your own token for time?" in text(confirm)
    assert "will ask you to set a token" in text(confirm)
    assert UpstreamCredential.objects.filter(owner=bob).exists()
    done = client.post(remove, follow=True)
    assert "is removed" in text(done)
    assert not UpstreamCredential.objects.filter(owner=bob).exists()
    assert UpstreamCredential.objects.filter(pk=theirs.pk).exists()

    changes = ConfigChange.objects.filter(actor=bob, action__startswith="credential.")
    assert list(changes.order_by("id").values_list("action", flat=True)) == [
        "credential.set",
        "credential.replace",
        "credential.delete",
    ]
    for change in changes:
        assert change.detail == {
            "assignment": manual.pk,
            "kind": change.detail["kind"],
            "owner": bob.email,
        }
        assert TOKEN not in str(change.detail) and "key-123" not in str(change.detail)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"token": ""}, "token", "Enter the token."),
        ({"kind": "headers", "headers": ""}, "headers", "Enter at least one header."),
        ({"kind": "headers", "headers": "X-Api-Key key-123"}, "headers", "Line 1 is not"),
        ({"kind": "headers", "headers": "A: 1\na: 2"}, "headers", "given twice"),
        ({"kind": "headers", "headers": "Host: key-123"}, "headers", "cannot be set"),
        ({"kind": "headers", "headers": "Bad Name: key-123"}, "headers", "not a valid header"),
        ({"kind": "headers", "headers": "X-Empty:"}, "headers", "must be a non-empty string"),
        ({"kind": "oauth_client"}, "kind", "Select a valid choice"),
    ],
)
def test_bad_input_is_a_form_error(as_, manual, bob, fields, field, message):
    answer = _set(as_(bob), manual, **fields)
    assert answer.status_code == 400
    form = answer.context["manual_rows"][0]["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    page = text(answer)
    assert message.split("'")[0] in page
    # What was typed is never printed back, not even next to its error.
    assert "key-123" not in page
    assert not UpstreamCredential.objects.exists()


def test_a_too_long_token_is_a_form_error(as_, manual, bob):
    answer = _set(as_(bob), manual, token="x" * 9000)
    assert answer.status_code == 400
    assert "longer than 8192 characters" in text(answer)
    assert "x" * 100 not in text(answer)


def test_it_shows_only_gateways_provisioned_to_me(as_, manual, carol):
    page = text(as_(carol).get("/w/acme/connections/"))
    assert "No gateway of yours has a server that takes a token of your own" in page
    assert as_(carol).post(f"/w/acme/connections/{manual.pk}/credential/").status_code == 404
    remove = f"/w/acme/connections/{manual.pk}/credential/remove/"
    assert as_(carol).get(remove).status_code == 404
    assert as_(carol).post(remove).status_code == 404
    assert not UpstreamCredential.objects.exists()


def test_it_hides_other_workspaces(as_, manual, mallory, globex):
    client = as_(mallory)
    for ws in ("acme", "globex"):
        url = f"/w/{ws}/connections/{manual.pk}/credential/"
        assert client.post(url, {"kind": "bearer", "token": TOKEN}).status_code == 404
        assert client.get(f"{url}remove/").status_code == 404
    assert manual.pk and f"manual-{manual.pk}" not in text(client.get("/w/globex/connections/"))
    assert not UpstreamCredential.objects.exists()


def test_other_schemes_take_no_personal_token_here(as_, acme_gateway, bob):
    assignment = acme_gateway.assignments.get()  # identity scheme `none`
    assert f"manual-{assignment.pk}" not in text(as_(bob).get("/w/acme/connections/"))
    assert _set(as_(bob), assignment, token=TOKEN).status_code == 404


def test_next_comes_back_only_to_a_path_on_this_site(as_, manual, bob):
    client = as_(bob)
    back = "/oauth/authorize/?client_id=c&resource=x"
    assert _set(client, manual, token=TOKEN, next=back)["Location"] == back
    for outside in ("https://evil.test/", "//evil.test/x", "/\\evil.test"):
        answer = _set(client, manual, token=TOKEN, next=outside)
        assert answer["Location"].startswith("/w/acme/connections/?assignment=")
    # The form carries the way back, checked the same way, when the page is opened with it.
    page = text(client.get("/w/acme/connections/", {"assignment": manual.pk, "next": back}))
    assert 'name="next" value="/oauth/authorize/?client_id=c&amp;resource=x"' in page
    page = text(client.get("/w/acme/connections/", {"next": "https://evil.test/"}))
    assert "evil.test" not in page


def test_the_form_needs_the_csrf_token(manual, bob):
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    answer = client.post(
        f"/w/acme/connections/{manual.pk}/credential/", {"kind": "bearer", "token": TOKEN}
    )
    assert answer.status_code == 403
    assert not UpstreamCredential.objects.exists()


def test_a_focused_page_shows_only_that_assignment(as_, manual, acme, acme_gateway, alice, bob):
    from servers import services as server_services

    other = server_services.create_server(
        workspace=acme, name="wiki", url="http://127.0.0.1:9002/mcp", actor=alice
    )
    second = gateway_services.assign_server(
        gateway=acme_gateway, server=other, namespace="wiki", identity_scheme="manual", actor=alice
    )
    client = as_(bob)
    everything = text(client.get("/w/acme/connections/"))
    assert f'id="manual-{manual.pk}"' in everything and f'id="manual-{second.pk}"' in everything
    focused = text(client.get("/w/acme/connections/", {"assignment": second.pk}))
    assert f'id="manual-{manual.pk}"' not in focused and f'id="manual-{second.pk}"' in focused
    assert "Show all" in focused


def test_it_does_not_query_per_row(as_, acme_gateway, acme, bob, django_assert_max_num_queries):
    from gateways.models import Assignment
    from servers.models import Server

    def crowd(tag, rows):
        servers = Server.objects.bulk_create(
            Server(workspace=acme, name=f"m{tag}{i}", url=f"https://m{i}.test/mcp")
            for i in range(rows)
        )
        assignments = Assignment.objects.bulk_create(
            Assignment(
                workspace=acme,
                gateway=acme_gateway,
                server=s,
                namespace=s.name,
                identity_scheme="manual",
            )
            for s in servers
        )
        for assignment in assignments:
            identity_services.set_credential(
                assignment=assignment, owner=bob, data={"kind": "bearer", "token": "t"}, actor=bob
            )

    client = as_(bob)
    crowd("a", 2)
    with django_assert_max_num_queries(14) as few:
        client.get("/w/acme/connections/")
    crowd("b", 20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = text(client.get("/w/acme/connections/"))
    assert page.count(">your own token set</span>") == 22
