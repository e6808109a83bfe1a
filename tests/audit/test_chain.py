"""The hash chain holds when several writers append to one workspace at once."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from audit.log.chain import verify_workspace
from audit.log.recorder import Recorder
from audit.models import ChainHead, LogEntry
from tests.support.audit_entries import call_hops
from tests.support.database import database_url

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def _seqs(workspace):
    return list(
        LogEntry.objects.for_workspace(workspace).order_by("seq").values_list("seq", flat=True)
    )


def test_two_recorders_with_their_own_connections_keep_one_chain(acme, globex):
    # Two recorders are two writer threads with two database connections, as in two workers.
    recorders = [Recorder(batch_size=7, flush_ms=1), Recorder(batch_size=11, flush_ms=1)]

    def feed(recorder):
        for _ in range(60):
            for hop in call_hops(acme) + call_hops(globex)[:1]:
                recorder.record(hop)

    threads = [threading.Thread(target=feed, args=(r,)) for r in recorders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for recorder in recorders:
        assert recorder.shutdown(timeout=30)
    assert _seqs(acme) == list(range(1, 481))
    assert _seqs(globex) == list(range(1, 121))
    for workspace in (acme, globex):
        verdict = verify_workspace(workspace.pk)
        assert verdict.ok, str(verdict)
    assert ChainHead.objects.get(workspace=acme).seq == 480


def test_two_processes_writing_at_once_keep_one_chain(acme, settings):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "PYTHONPATH": str(ROOT),
    }
    argv = [sys.executable, "-m", "tests.audit.chain_writer", str(acme.pk), "40"]
    writers = [subprocess.Popen(argv, cwd=ROOT, env=env, stderr=subprocess.PIPE) for _ in range(2)]
    for writer in writers:
        _out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()[-2000:]
    assert _seqs(acme) == list(range(1, 321))
    verdict = verify_workspace(acme.pk)
    assert verdict.ok, str(verdict)
    assert verdict.count == 320
