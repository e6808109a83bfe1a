"""The processes of one managed server, at most `MANAGED_MAX_PROCESSES_PER_SERVER`, started lazily.

A new bridge session is bound to one process for its lifetime: an idle one if there is one,
otherwise a new one while under the cap, otherwise the least busy. Many sessions share a
process; never one process per session.
"""

import asyncio

from servers.supervisor.process import ManagedProcess
from servers.supervisor.spec import ProcessSpec


class ServerPool:
    def __init__(self, spec: ProcessSpec, *, cap: int):
        self.spec = spec
        self.cap = max(1, cap)
        self.processes: list[ManagedProcess] = []

    def bind(self) -> ManagedProcess:
        for process in self.processes:
            if not process.listeners:
                return process
        if len(self.processes) < self.cap:
            process = ManagedProcess(self.spec, index=len(self.processes))
            self.processes.append(process)
            return process
        return min(self.processes, key=lambda p: (len(p.listeners), p.in_flight))

    def reload(self, spec: ProcessSpec) -> None:
        self.spec = spec
        for process in self.processes:
            process.replace_spec(spec)

    async def stop(self) -> None:
        await asyncio.gather(*(process.stop() for process in self.processes))
