"""sdworker.start_gate: the handler takes jobs only once start.sh opens the gate."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from sdworker.start_gate import GateClosed, wait_for_gate


def write_later(path, text: str, delay: float, written: list | None = None) -> threading.Thread:
    def write():
        time.sleep(delay)
        if written is not None:
            written.append(time.monotonic())  # just before: the waiter cannot return earlier
        path.write_text(text)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_waits_until_the_gate_opens(tmp_path):
    gate = tmp_path / "gate"
    gate.write_text("")
    written: list[float] = []
    writer = write_later(gate, "open\n", 0.3, written)
    wait_for_gate(str(gate), timeout=10)
    returned = time.monotonic()
    writer.join()
    assert written and returned >= written[0]


def test_a_closed_gate_says_why(tmp_path):
    gate = tmp_path / "gate"
    gate.write_text("")
    writer = write_later(gate, "closed: A1111 exited with status 3\n", 0.1)
    with pytest.raises(GateClosed, match="closed: A1111 exited with status 3"):
        wait_for_gate(str(gate), timeout=5)
    writer.join()


def test_waiting_is_bounded(tmp_path):
    gate = tmp_path / "gate"
    gate.write_text("")
    started = time.monotonic()
    with pytest.raises(GateClosed, match=r"no word from start\.sh within 0\.2 s"):
        wait_for_gate(str(gate), timeout=0.2)
    assert time.monotonic() - started < 1.0


def test_a_missing_gate_is_closed(tmp_path):
    with pytest.raises(GateClosed, match="is gone"):
        wait_for_gate(str(tmp_path / "nothing"), timeout=5)


def test_the_handler_stops_waiting_when_start_sh_is_gone(tmp_path):
    # A parent that exits while its child waits at the gate: the child is re-parented.
    gate = tmp_path / "gate"
    gate.write_text("")
    waiter = (
        "import sys; sys.path.insert(0, 'src')\n"
        "from sdworker.start_gate import GateClosed, wait_for_gate\n"
        "try:\n"
        f"    wait_for_gate({str(gate)!r}, timeout=30)\n"
        "except GateClosed as exc:\n"
        f"    open({str(tmp_path / 'result')!r}, 'w').write(str(exc))\n"
    )
    parent = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {waiter!r}])\n"
        "time.sleep(1)\n"  # the child is waiting by now
    )
    subprocess.run([sys.executable, "-c", parent], check=True, timeout=10)
    result = tmp_path / "result"
    deadline = time.monotonic() + 10
    while not result.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result.read_text() == "start.sh exited before the warm-up ended"
