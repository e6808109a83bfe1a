"""No answered call without its audit entries: the window the writer must keep up within.

The writer commits what the data plane queues a little later (`AUDIT_FLUSH_MS` and the time of
the commit), so a crash of the serving process loses what was still queued. The durability
window (`AUDIT_DURABILITY_WINDOW_MS`) bounds that: a call is answered only while the writer is
ready and its oldest entry not yet committed is younger than the window. When the writer falls
behind (a cold start, a writer process restarting, a slow database), answers wait for it, up to
`AUDIT_ANSWER_WAIT_MS`, and then the call is refused rather than answered without a record.

The check on the fast path is an attribute read and one comparison; `/readyz` reports the same
state to the load balancer.
"""

import asyncio
import time

from django.conf import settings

from audit import metrics
from audit.log.writer import default_recorder

_PAUSE_SECONDS = 0.01


def lag_seconds() -> float:
    """How long the oldest entry not yet committed has waited; 0.0 when there is none."""
    since = default_recorder().oldest_unwritten()
    return 0.0 if since is None else time.monotonic() - since


def caught_up() -> bool:
    """The writer is ready and within the window: an answer now keeps the promise."""
    recorder = default_recorder()
    since = recorder.oldest_unwritten()
    return recorder.ready and (
        since is None or time.monotonic() - since <= settings.AUDIT_DURABILITY_WINDOW_MS / 1000
    )


async def wait_caught_up() -> bool:
    """True at once when the writer keeps up; otherwise wait for it, up to
    `AUDIT_ANSWER_WAIT_MS`, and say whether it caught up."""
    if caught_up():
        return True
    recorder = default_recorder()
    if not recorder.ready:
        # A server without the lifespan start-up: start the writer now, off the loop.
        recorder.start(0)
    deadline = time.monotonic() + settings.AUDIT_ANSWER_WAIT_MS / 1000
    while time.monotonic() < deadline:
        await asyncio.sleep(_PAUSE_SECONDS)
        if caught_up():
            metrics.answer_held(refused=False)
            return True
    metrics.answer_held(refused=True)
    return False


def retry_after_seconds() -> int:
    """What a refused client is told to wait: the window, rounded up to a second."""
    return max(1, -(-settings.AUDIT_DURABILITY_WINDOW_MS // 1000))


async def start_writer() -> bool:
    """Start the writer and wait until it can write (the lifespan start-up runs this)."""
    recorder = default_recorder()
    return await asyncio.to_thread(recorder.start, settings.AUDIT_WRITER_START_TIMEOUT_SECONDS)
