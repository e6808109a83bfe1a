"""scim2-tester, a SCIM compliance checker written elsewhere, runs every check it has against
acme's live SCIM endpoint: discovery, then create, read, list, search, replace, PATCH add,
replace and remove of every writable attribute, and delete, for Users and Groups. Each passes,
and none is skipped."""

from collections import Counter

from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def test_scim2_tester_passes_every_check(scim):
    results = check_server(SyncSCIMClient(scim))

    statuses = Counter(result.status for result in results)
    problems = [(r.title, r.resource_type, r.reason) for r in results if r.status != Status.SUCCESS]
    assert problems == []
    assert statuses[Status.SUCCESS] >= 130
    checked = {result.title for result in results}
    for check in (
        "object_creation",
        "object_query",
        "object_query_without_id",
        "object_replacement",
        "object_deletion",
        "check_add_attribute",
        "check_remove_attribute",
        "check_replace_attribute",
        "search_with_attributes",
        "random_url",
    ):
        assert check in checked
