"""Which managed servers the supervisor runs: rows loaded on first use, reloaded when changed.

The supervisor serves every workspace: the gateway resolved the workspace and the assignment
before it chose the server id, so the lookup by bare id here is deliberate.
"""

import asyncio
import contextlib
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from servers.models import Server
from servers.supervisor.pool import ServerPool
from servers.supervisor.spec import ProcessSpec

logger = logging.getLogger(__name__)


class UnknownServer(Exception):
    """No managed server has this id."""


def dangerously_load_managed_spec(server_id: int) -> ProcessSpec | None:
    """The definition of managed server `server_id` in any workspace, or None."""
    try:
        server = Server.objects.filter(pk=server_id, kind=Server.Kind.MANAGED).first()
        return ProcessSpec.from_server(server) if server is not None else None
    finally:
        # Lookups are rare (at most one per server per check interval): hold no idle connection.
        connection.close()


class Registry:
    def __init__(self):
        self.cap = settings.MANAGED_MAX_PROCESSES_PER_SERVER
        self._check_every = settings.MCP_SNAPSHOT_CHECK_SECONDS
        self._pools: dict[int, ServerPool] = {}
        self._checked_at: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def pool_for(self, server_id: int) -> ServerPool:
        """The pool of a managed server, reloaded if its row changed; raises `UnknownServer`."""
        loop = asyncio.get_running_loop()
        pool = self._pools.get(server_id)
        if pool is not None and loop.time() - self._checked_at[server_id] < self._check_every:
            return pool
        async with self._locks.setdefault(server_id, asyncio.Lock()):
            pool = self._pools.get(server_id)
            if pool is not None and loop.time() - self._checked_at[server_id] < self._check_every:
                return pool
            spec = await sync_to_async(dangerously_load_managed_spec)(server_id)
            if spec is None:
                self._checked_at.pop(server_id, None)
                if pool is not None:
                    logger.warning("%s: no longer managed, stopping it", pool.spec.label)
                    del self._pools[server_id]
                    await pool.stop()
                raise UnknownServer(server_id)
            self._checked_at[server_id] = loop.time()
            if pool is None:
                pool = self._pools[server_id] = ServerPool(spec, cap=self.cap)
            elif pool.spec.version != spec.version:
                logger.warning("%s: definition changed, restarting its processes", spec.label)
                pool.reload(spec)
            return pool

    async def revalidate(self) -> None:
        """Check every running server against its row, so a deleted one's children stop."""
        for server_id in list(self._pools):
            self._checked_at[server_id] = float("-inf")
            with contextlib.suppress(UnknownServer):
                await self.pool_for(server_id)

    async def shutdown(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        await asyncio.gather(*(pool.stop() for pool in pools))
