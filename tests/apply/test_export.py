"""`manage.py export_config`: a workspace written as the YAML `apply` reads back unchanged, its
secrets as environment variable references."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apply.plan import CHANGED, CREATED, DELETED, UNCHANGED, apply_plan
from apply.schema import parse
from gateways import services as gateway_services
from gateways.errors import ConfigInvalid
from gateways.models import Assignment, Gateway
from identities import services as identity_services
from identities.models import UpstreamCredential
from servers import services as server_services
from servers.models import Server
from teams.models import ConfigChange, Workspace
from tests.support.large_config import GATEWAYS, PER_GATEWAY, SERVERS, large_config

pytestmark = pytest.mark.django_db

DEMO_TOKEN = "demo-time-token-0123456789abcdef"
# One query per kind of row (and the change-log row), however large the workspace.
QUERIES_PER_EXPORT = 14


def export(slug: str, *args) -> tuple[str, str]:
    """Run the command; return what it wrote on stdout and on stderr."""
    out, err = StringIO(), StringIO()
    call_command("export_config", "--workspace", slug, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def apply_text(text: str, **options):
    return apply_plan(parse(text, source="export.yaml"), **options)


def assert_no_change(report):
    assert [o for o in report.outcomes if o.verb != UNCHANGED] == []
    assert report.count(UNCHANGED) > 0


def renamed(text: str, old: str, new: str) -> str:
    """The same file for another workspace (its slug is written once, at the top)."""
    head = f"workspace:\n  slug: {old}\n"
    assert text.count(head) == 1
    return text.replace(head, f"workspace:\n  slug: {new}\n")


def config_versions(slug: str) -> dict[str, int]:
    return dict(Gateway.objects.filter(workspace__slug=slug).values_list("slug", "config_version"))


@pytest.fixture
def demo(settings, tmp_path, monkeypatch, run):
    """The demo workspace, with a shared bearer token on dev/time so it has a secret."""
    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    run("load_demo")
    workspace = Workspace.objects.get(slug="demo")
    time = Assignment.objects.for_workspace(workspace).get(gateway__slug="dev", namespace="time")
    gateway_services.update_assignment(
        assignment=time, identity_scheme="service_account", actor=None
    )
    identity_services.set_credential(
        assignment=time, owner=None, data={"kind": "bearer", "token": DEMO_TOKEN}, actor=None
    )
    return workspace


def test_the_demo_applies_back_with_no_change(demo, monkeypatch):
    text, err = export("demo")
    versions = config_versions("demo")

    assert "bearer_env: SECRET_DEV_TIME_TOKEN" in text
    assert DEMO_TOKEN not in text
    assert "SECRET_DEV_TIME_TOKEN  (the bearer token of dev/time)" in err
    monkeypatch.setenv("SECRET_DEV_TIME_TOKEN", DEMO_TOKEN)
    assert_no_change(apply_text(text))
    assert_no_change(apply_text(text, prune=True))
    assert config_versions("demo") == versions


def test_the_demo_exported_from_a_fresh_workspace_is_the_same_text(demo, monkeypatch):
    text, _ = export("demo")
    monkeypatch.setenv("SECRET_DEV_TIME_TOKEN", DEMO_TOKEN)

    report = apply_text(renamed(text, "demo", "demo-copy"))

    assert report.count(CREATED) == len(report.outcomes)
    again, _ = export("demo-copy")
    assert again == renamed(text, "demo", "demo-copy")
    copy = Workspace.objects.get(slug="demo-copy")
    assert set(Server.objects.for_workspace(copy).values_list("name", flat=True)) == {
        "time",
        "everything",
    }


def test_a_wrong_secret_in_the_environment_is_a_change(demo, monkeypatch):
    text, _ = export("demo")
    monkeypatch.setenv("SECRET_DEV_TIME_TOKEN", "another-token-0123456789abcdef")

    report = apply_text(text, dry_run=True)

    assert [str(o) for o in report.outcomes if o.verb == CHANGED] == [
        "changed   credential dev/time"
    ]


def test_an_unset_secret_is_refused_at_its_place(demo, monkeypatch):
    text, _ = export("demo")
    monkeypatch.delenv("SECRET_DEV_TIME_TOKEN", raising=False)

    with pytest.raises(
        ConfigInvalid, match="environment variable SECRET_DEV_TIME_TOKEN is not set"
    ):
        apply_text(text)


def test_a_large_workspace_applies_back_with_no_change_and_no_secret_in_clear(
    monkeypatch, django_assert_max_num_queries
):
    source, env = large_config("big")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    created = apply_text(source)
    assert created.count(CREATED) > SERVERS + GATEWAYS * PER_GATEWAY
    workspace = Workspace.objects.get(slug="big")
    assert Assignment.objects.for_workspace(workspace).count() == GATEWAYS * PER_GATEWAY
    assert UpstreamCredential.objects.for_workspace(workspace).count() == 3 * GATEWAYS
    versions = config_versions("big")

    with django_assert_max_num_queries(QUERIES_PER_EXPORT):
        text, err = export("big")

    for value in env.values():
        assert value not in text and value not in err
    # The export names each secret as the source file did.
    assert {line.split()[0] for line in err.splitlines()[1:]} == set(env)
    report = apply_text(text, prune=True)
    assert_no_change(report)
    assert report.count(DELETED) == 0
    assert config_versions("big") == versions
    assert_no_change(apply_text(source))

    apply_text(renamed(text, "big", "big-copy"))
    assert export("big-copy")[0] == renamed(text, "big", "big-copy")


def test_it_writes_a_file_and_records_the_export(demo, tmp_path):
    target = tmp_path / "demo.yaml"

    out, err = export("demo", "-o", str(target))

    assert out == ""
    assert target.read_text() == export("demo", "-o", "-")[0]
    assert "Set these environment variables before applying the file:" in err
    change = ConfigChange.objects.for_workspace(demo).filter(action="config.export").first()
    assert change.actor is None
    assert change.detail == {"via": "command", "secrets": ["SECRET_DEV_TIME_TOKEN"]}


def test_an_unknown_workspace_is_refused(db):
    with pytest.raises(CommandError, match="no workspace 'nowhere'"):
        export("nowhere")


def test_a_gateway_assigning_one_server_twice_is_refused(acme_gateway, acme_server):
    gateway_services.assign_server(
        gateway=acme_gateway, server=acme_server, namespace="again", actor=None
    )

    with pytest.raises(CommandError, match="gateway 'dev' assigns server 'time' more than once"):
        export("acme")


def test_a_credential_the_file_cannot_say_is_named_and_left_out(acme_gateway, acme):
    assignment = acme_gateway.assignments.get()
    gateway_services.update_assignment(
        assignment=assignment, identity_scheme="service_account", actor=None
    )
    secret = "client-credentials-secret-0123456789"
    identity_services.set_credential(
        assignment=assignment,
        owner=None,
        data={
            "kind": "client_credentials",
            "client_id": "svc",
            "client_secret": secret,
            "token_url": "https://auth.example.com/token",
        },
        actor=None,
    )

    text, err = export("acme")

    assert secret not in text
    assert "identity:\n          scheme: service_account\n" in text
    assert "left as it is by apply: the shared credential of dev/time" in err
    assert_no_change(apply_text(text))


def test_server_environment_values_are_references(acme, monkeypatch):
    server_services.create_server(
        workspace=acme,
        name="wiki",
        kind="managed",
        command="npx",
        args=["-y", "mcp-wiki"],
        env={"WIKI_TOKEN": "wiki-secret-0123456789", "LOG_LEVEL": "info"},
        actor=None,
    )

    text, _ = export("acme")

    assert "wiki-secret-0123456789" not in text
    assert (
        "env:\n      LOG_LEVEL: ${SECRET_WIKI_LOG_LEVEL}\n"
        "      WIKI_TOKEN: ${SECRET_WIKI_WIKI_TOKEN}\n"
    ) in text
    monkeypatch.setenv("SECRET_WIKI_LOG_LEVEL", "info")
    monkeypatch.setenv("SECRET_WIKI_WIKI_TOKEN", "wiki-secret-0123456789")
    assert_no_change(apply_text(text))
    monkeypatch.setenv("SECRET_WIKI_LOG_LEVEL", "debug")
    assert [str(o) for o in apply_text(text, dry_run=True).outcomes if o.verb == CHANGED] == [
        "changed   server wiki (env)"
    ]
