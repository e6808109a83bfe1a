"""The writer process of `audit.log.writer_process`:
`python -m audit.log.writer_child ENTRIES_FD ACKS_FD`.

Only the standard library is imported before the first message: it carries the parent's
database settings, which must be in place before Django opens a connection.
"""

import gc
import pickle
import sys
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
    from audit.log.recorder import Counters, write_batch

    for alias, settings_dict in databases.items():
        connections[alias].settings_dict.update(settings_dict)
    _connect(connection)
    acks.send_bytes(pickle.dumps(("ready",)))

    batch: list[dict] = []
    upto = 0
    deadline = None
    running = True
    while running:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        flush = False
        if incoming.poll(timeout):
            try:
                message = pickle.loads(incoming.recv_bytes())  # noqa: S301 (our parent's pipe)
            except EOFError:
                message = ("stop",)
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
            acks.send_bytes(
                pickle.dumps(("ack", upto, counters.written, counters.batches, counters.skipped))
            )
            batch, upto, deadline = [], 0, None
    # Spans of the last batches are still with the exporter's thread: send them before exiting.
    tracing.shutdown()
    connection.close()


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
