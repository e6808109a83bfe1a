"""The merged-view cache answers only for the snapshot it was made from."""

import asyncio

from dataplane import catalog
from dataplane import snapshot as snapshots
from dataplane.authentication import Principal


def test_a_view_is_never_served_for_another_snapshot_with_the_same_id(deployment, bob):
    first = snapshots.build(deployment.acme.pk, "dev")
    second = snapshots.build(deployment.acme.pk, "dev")
    principal = Principal(
        user_id=bob.pk,
        email=bob.email,
        workspace_id=deployment.acme.pk,
        token_id=0,
        gateway_id=None,
    )

    async def scenario():
        view = await catalog.merged_view(first, principal)
        # As if `second` had been allocated where a freed snapshot lived: the entry made for
        # `first` is filed under `second`'s id.
        for key, value in list(catalog._views.items()):
            if key[0] == id(first):
                catalog._views[(id(second), *key[1:])] = value
        return view, await catalog.merged_view(second, principal)

    view, again = asyncio.run(scenario())
    assert "notes__echo" in view.tools
    assert again is not view
    assert "notes__echo" in again.tools
