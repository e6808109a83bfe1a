"""The tests' process helper reports a start that fails or hangs with what the process said."""

import sys

import pytest

from tests.support.processes import ProcessDidNotStart, free_port, start_process


def test_a_process_that_never_listens_is_reported_with_its_threads_stacks():
    # A server that hangs before it listens: a thread of its own waits too.
    hang = (
        "import threading, time\n"
        "def setting_up():\n    time.sleep(60)\n"
        "threading.Thread(target=setting_up, name='set-up').start()\n"
        "print('starting', flush=True)\n"
        "time.sleep(60)\n"
    )
    with pytest.raises(ProcessDidNotStart) as raised:
        start_process([sys.executable, "-c", hang], port=free_port(), timeout=3)
    report = str(raised.value)
    assert "did not listen" in report
    assert "starting" in report
    assert "Fatal Python error: Aborted" in report
    # Both threads' stacks, each down to the line it waits on.
    assert report.count("in setting_up") == 1
    assert report.count('File "<string>", line 6 in <module>') == 1


def test_a_process_that_exits_is_reported_with_its_exit_code_and_output():
    with pytest.raises(ProcessDidNotStart) as raised:
        start_process(
            [sys.executable, "-c", "print('no config'); raise SystemExit(3)"],
            port=free_port(),
            timeout=30,
        )
    assert "exited with code 3" in str(raised.value)
    assert "no config" in str(raised.value)
