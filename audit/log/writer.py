"""Where the data plane hands its audit entries: the process's one recorder, chosen by
`AUDIT_WRITER` (a writer process by default, `audit/log/writer_process.py`; a writer thread with
`thread`, `audit/log/recorder.py`), and the calls that queue and flush entries through it."""

import threading

from django.conf import settings

from audit.log.recorder import Recorder
from audit.log.writer_process import ProcessRecorder

_default: Recorder | None = None
_default_lock = threading.Lock()


def default_recorder() -> Recorder:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                process = settings.AUDIT_WRITER == "process"
                _default = ProcessRecorder() if process else Recorder()
    return _default


def record(entry: dict) -> None:
    """Queue one entry from sync code (blocks while the queue is full)."""
    default_recorder().record(entry)


async def record_async(entry: dict) -> None:
    """Queue one entry from async code (awaits room while the queue is full)."""
    await default_recorder().record_async(entry)


def flush(timeout: float | None = None) -> bool:
    return default_recorder().flush(timeout)


async def aflush(timeout: float | None = None) -> bool:
    """Drain the queue; the ASGI lifespan shutdown awaits this."""
    return await default_recorder().aflush(timeout)
