"""A worker that recompiles a gateway's snapshot without a person closes that person's pooled
upstream sessions, and leaves everyone else's."""

import asyncio

from dataplane.snapshot import SnapshotRegistry
from identities import offboarding
from identities.upstream.brokering import person_slot
from servers.upstream_pool import pool
from teams.models import Membership


def test_recompiling_without_a_person_closes_their_upstream_sessions(deployment, alice, bob):
    registry = SnapshotRegistry()
    url = deployment.server.url
    bobs = (deployment.full.pk, person_slot(bob.pk))
    alices = (deployment.full.pk, person_slot(alice.pk))

    async def before():
        snapshot = await registry.get("acme", "dev")
        assert bob.pk in snapshot.allowed_user_ids
        return pool.get(bobs, url, {"x-who": "bob"}), pool.get(alices, url, {"x-who": "alice"})

    async def after():
        snapshot = await registry.get("acme", "dev")
        assert bob.pk not in snapshot.allowed_user_ids
        return bobs in pool, pool.get(alices, url, {"x-who": "alice"})

    bob_session, alice_session = asyncio.run(before())
    offboarding.suspend_member(
        membership=Membership.objects.get(workspace=deployment.acme, user=bob), actor=alice
    )
    bob_still_pooled, still_alice = asyncio.run(after())

    assert not bob_still_pooled
    assert still_alice is alice_session
    assert bob_session is not None
