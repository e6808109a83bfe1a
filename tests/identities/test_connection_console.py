"""Console page "My upstream connections": the user_oauth assignments of my gateways, with my
connection's status; disconnecting after a confirmation. (Connecting end to end, against a real
authorization server, is in tests/identities/test_user_oauth.py.)"""

from core import crypto
from gateways import services as gateway_services
from identities.models import UpstreamConnection
from teams.models import ConfigChange
from tests.support.console import text


def _oauth(acme_gateway, alice):
    assignment = acme_gateway.assignments.get()
    return gateway_services.update_assignment(
        assignment=assignment, identity_scheme="user_oauth", actor=alice
    )


def _connected(assignment, user, status="connected"):
    return UpstreamConnection.objects.create(
        workspace=assignment.workspace,
        assignment=assignment,
        owner=user,
        status=status,
        secret=crypto.encrypt({"access_token": "a", "refresh_token": "r"}),
    )


def test_it_lists_my_user_oauth_assignments_with_their_status(as_, acme_gateway, alice, bob):
    assignment = _oauth(acme_gateway, alice)
    page = text(as_(bob).get("/w/acme/connections/"))
    assert "not connected" in page and f"/w/acme/connections/{assignment.pk}/connect/" in page
    assert "Disconnect" not in page

    _connected(assignment, bob, status="needs_reconnect")
    page = text(as_(bob).get("/w/acme/connections/"))
    assert "needs reconnecting" in page and "Reconnect" in page
    assert f"/w/acme/connections/{assignment.pk}/disconnect/" in page


def test_it_shows_only_gateways_provisioned_to_me(as_, acme_gateway, alice, carol):
    assignment = _oauth(acme_gateway, alice)
    # carol is in no team the gateway is provisioned to.
    page = text(as_(carol).get("/w/acme/connections/"))
    assert "No gateway of yours" in page
    refused = as_(carol).post(f"/w/acme/connections/{assignment.pk}/connect/")
    assert refused.status_code == 404


def test_it_hides_other_workspaces(as_, acme_gateway, alice, mallory, globex):
    assignment = _oauth(acme_gateway, alice)
    assert as_(mallory).get("/w/acme/connections/").status_code == 404
    assert as_(mallory).post(f"/w/globex/connections/{assignment.pk}/connect/").status_code == 404
    other = as_(mallory).get(f"/w/globex/connections/{assignment.pk}/disconnect/")
    assert other.status_code == 404


def test_other_schemes_are_not_listed(as_, acme_gateway, bob):
    assignment = acme_gateway.assignments.get()
    assert f"/connections/{assignment.pk}/" not in text(as_(bob).get("/w/acme/connections/"))
    assert as_(bob).post(f"/w/acme/connections/{assignment.pk}/connect/").status_code == 404


def test_disconnecting_confirms_then_forgets_the_tokens(as_, acme_gateway, alice, bob):
    assignment = _oauth(acme_gateway, alice)
    mine = _connected(assignment, bob)
    theirs = _connected(assignment, alice)
    client = as_(bob)
    url = f"/w/acme/connections/{assignment.pk}/disconnect/"
    confirm = client.get(url)
    assert confirm.status_code == 200 and "Disconnect your account at time?" in text(confirm)
    assert UpstreamConnection.objects.filter(pk=mine.pk).exists()

    done = client.post(url, follow=True)
    assert "is disconnected" in text(done)
    assert not UpstreamConnection.objects.filter(pk=mine.pk).exists()
    assert UpstreamConnection.objects.filter(pk=theirs.pk).exists()
    change = ConfigChange.objects.get(action="connection.disconnect")
    assert change.actor == bob and change.detail["owner"] == "bob@acme.test"


def test_a_failed_discovery_is_shown_not_raised(as_, acme_gateway, alice, bob, settings):
    settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = False
    assignment = _oauth(acme_gateway, alice)
    answer = as_(bob).post(f"/w/acme/connections/{assignment.pk}/connect/", follow=True)
    assert "Could not connect to time" in text(answer)
    assert "is not an https URL" in text(answer)


def test_an_unknown_callback_state_is_refused(as_, acme_gateway, alice, bob):
    _oauth(acme_gateway, alice)
    answer = as_(bob).get("/w/acme/connections/callback/?state=forged&code=x", follow=True)
    assert "unknown or expired" in text(answer)
    assert not UpstreamConnection.objects.exists()


def test_it_does_not_query_per_row(
    as_, acme_gateway, acme, alice, bob, django_assert_max_num_queries
):
    from gateways.models import Assignment
    from servers.models import Server

    def crowd(tag, rows):
        servers = Server.objects.bulk_create(
            Server(workspace=acme, name=f"s{tag}{i}", url=f"https://s{i}.test/mcp")
            for i in range(rows)
        )
        assignments = Assignment.objects.bulk_create(
            Assignment(
                workspace=acme,
                gateway=acme_gateway,
                server=s,
                namespace=s.name,
                identity_scheme="user_oauth",
            )
            for s in servers
        )
        for assignment in assignments:
            _connected(assignment, bob)

    client = as_(bob)
    crowd("a", 2)
    with django_assert_max_num_queries(12) as few:
        client.get("/w/acme/connections/")
    crowd("b", 20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = text(client.get("/w/acme/connections/"))
    assert page.count('<span class="badge ok">connected</span>') == 22
