"""Generated hostile bodies, filters and PATCH operations against the live endpoint: each gets
an answer below 500, and every refusal is a SCIM error document."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
names = st.sampled_from(
    [
        "userName",
        "emails",
        "name",
        "active",
        "members",
        "displayName",
        "externalId",
        "id",
        "schemas",
        "meta",
        "groups",
        'emails[type eq "work"].value',
        "name.givenName",
        "bogus",
    ]
)
user_bodies = st.dictionaries(names, json_values, max_size=5).map(
    lambda body: {"schemas": [USER], **body}
)
operations = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "Add", "Replace", "Remove", "nope"])},
    optional={"path": names | st.text(max_size=30), "value": json_values},
)
filters = st.one_of(
    st.text(max_size=40),
    st.builds(
        "{} {} {}".format,
        names,
        st.sampled_from(["eq", "co", "sw", "pr", "gt", "xx", "and", "or"]),
        st.text(max_size=10).map(lambda t: '"' + t + '"'),
    ),
)

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _answered(response):
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["schemas"] == [ERROR]


@SETTINGS
@given(body=user_bodies)
def test_any_user_body_is_answered(scim, body):
    _answered(scim.post("Users", json=body))


@SETTINGS
@given(text=filters)
def test_any_filter_is_answered(scim, text):
    _answered(scim.get("Users", params={"filter": text}))
    _answered(scim.get("Groups", params={"filter": text}))


@SETTINGS
@given(ops=st.lists(operations, max_size=3))
def test_any_patch_is_answered(scim, acme, bob, ops):
    target = acme.memberships.get(user=bob).scim_id
    _answered(scim.patch(f"Users/{target}", json={"schemas": [PATCH_OP], "Operations": ops}))
    team = acme.teams.get(slug="eng").scim_id
    _answered(scim.patch(f"Groups/{team}", json={"schemas": [PATCH_OP], "Operations": ops}))
