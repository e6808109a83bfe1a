"""The writer process of `audit.log.writer_process`:
`python -m audit.log.writer_child ENTRIES_FD ACKS_FD`.

Only the standard library is imported before the first message: it carries the parent's
database settings, which must be in place before Django opens a connection.

A reader thread takes chunks off the pipe as they come, while the main thread commits: an entry
the parent has sent is then in this process even while a commit waits on the database, so a
crash of the serving process cannot lose it, and the pipe never fills to hold the parent's
forwarder (and the entries queued behind it) back.
"""

import gc
import pickle
import queue
import sys
import threading
import time
from multiprocessing.connection import Connection


def main(entries_fd: int, acks_fd: int) -> None:
    incoming = Connection(entries_fd, writable=False)
    acks = Connection(acks_fd, readable=False)
    kind, (databases, batch_size, flush_seconds) = pickle.loads(incoming.recv_bytes())  # noqa: S301 (our parent's pipe)
    assert kind == "config"  # noqa: S101 (the parent always sends it first)

    import django

    django.setup()
    # Entries are acyclic and freed by reference counting; the default collector thresholds
    # would run a collection every few hundred rows, over everything Django imported.
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)
    from django.db import connection, connections

    from audit import tracing
    from audit.log.partitions import prepare_partitions
    from audit.log.recorder import Counters, write_batch

    for alias, settings_dict in databases.items():
        connections[alias].settings_dict.update(settings_dict)
    _connect(connection)
    prepare_partitions()
    acks.send_bytes(pickle.dumps(("ready",)))

    # Bounded by the parent: it keeps at most AUDIT_QUEUE_SIZE entries unacknowledged.
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_read, args=(incoming, inbox), name="audit-reader", daemon=True).start()

    batch: list[dict] = []
    upto = 0
    deadline = None
    running = True
    while running:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        flush = False
        try:
            message = inbox.get(timeout=timeout)
        except queue.Empty:
            message = None
        if message is not None:
            if message[0] == "entries":
                batch.extend(message[2])
                upto = message[1]
                deadline = deadline or time.monotonic() + flush_seconds
                flush = len(batch) >= batch_size
            else:
                flush = True
                running = message[0] != "stop"
        else:
            flush = True
        if flush and upto:
            counters = Counters()
            if batch:
                write_batch(batch, counters)
            ack = ("ack", upto, counters.written, counters.batches, counters.skipped)
            acks = _acknowledge(acks, ack)
            batch, upto, deadline = [], 0, None
    # Spans of the last batches are still with the exporter's thread: send them before exiting.
    tracing.shutdown()
    connection.close()


def _acknowledge(acks: Connection | None, ack: tuple) -> Connection | None:
    """Tell the parent what is committed. A parent that is gone reads no more acknowledgements,
    but what it sent before it went is still written: this returns None and the loop goes on."""
    if acks is None:
        return None
    try:
        acks.send_bytes(pickle.dumps(ack))
    except OSError:
        return None
    return acks


def _read(incoming: Connection, inbox: queue.SimpleQueue) -> None:
    """Move messages from the pipe into this process as they arrive; a stop once the parent
    is gone."""
    try:
        while True:
            inbox.put(pickle.loads(incoming.recv_bytes()))  # noqa: S301 (our parent's pipe)
    except (EOFError, OSError):
        pass
    finally:
        # Whatever ends the reading (the parent gone, or a message that cannot be read), the
        # writer writes what it has and exits, and the parent starts another for the rest.
        inbox.put(("stop",))


def _connect(connection) -> None:
    """Open the database connection, retrying while the database is not there yet: the parent
    holds answers back until this child says it is ready."""
    from django.db import DatabaseError

    pause = 0.05
    while True:
        try:
            connection.ensure_connection()
            return
        except DatabaseError as exc:
            print(f"audit writer: cannot connect to the database yet: {exc}", file=sys.stderr)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
