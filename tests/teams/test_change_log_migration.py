"""The admin change log moved from the audit app to teams (teams 0005, audit 0008): a database
the earlier code created, with changes in it, keeps every row and reads them through teams."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from teams.changes import changes_of
from teams.models import ConfigChange, Workspace

BEFORE = [("teams", "0004_workspace_sso_saml"), ("audit", "0007_logentry_workspace_index")]
AFTER = [("teams", "0005_configchange"), ("audit", "0008_configchange_moved_to_teams")]

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_database():
    """The schema as the earlier code left it, with a workspace and two changes in it."""
    old = migrate(BEFORE)
    assert "configchange" in old.all_models["audit"]
    assert "configchange" not in old.all_models["teams"]
    user = old.get_model("teams", "User").objects.create(email="alice@acme.test")
    workspace = old.get_model("teams", "Workspace").objects.create(slug="acme", name="Acme")
    change = old.get_model("audit", "ConfigChange")
    change.objects.create(
        workspace=workspace,
        actor=user,
        action="gateway.create",
        target_type="gateway",
        target="acme/dev",
        detail={"name": "Developer tools"},
    )
    change.objects.create(
        workspace=workspace, action="server.delete", target_type="server", target="time"
    )
    yield
    migrate(executor_leaf_nodes())


def executor_leaf_nodes():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def test_the_move_keeps_every_change(old_database):
    new = migrate(AFTER)

    assert "configchange" in new.all_models["teams"]
    assert "configchange" not in new.all_models["audit"]
    moved = new.get_model("teams", "ConfigChange")
    assert moved._meta.db_table == "audit_configchange"
    rows = list(moved.objects.order_by("id").values_list("action", "target", "detail"))
    assert rows == [
        ("gateway.create", "acme/dev", {"name": "Developer tools"}),
        ("server.delete", "time", {}),
    ]


def test_the_moved_log_works_with_todays_code(old_database):
    migrate(executor_leaf_nodes())
    acme = Workspace.objects.get(slug="acme")

    assert [c.action for c in changes_of(acme)] == ["server.delete", "gateway.create"]
    assert changes_of(acme)[1].actor.email == "alice@acme.test"
    ConfigChange.objects.create(
        workspace=acme, action="team.create", target_type="team", target="x"
    )
    assert ConfigChange.objects.filter(workspace=acme).count() == 3
