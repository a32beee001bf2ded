"""Ctrl-C and SIGTERM stop ``lossproof verify -j 2`` and its worker processes (issue 11,
item 8): the process group is empty within seconds, the exit status is 130 / 143, and the
message is one line.  A parent killed outright (SIGKILL) leaves no workers either: they
watch their parent.

Processes are found in ``/proc`` (Linux): no psutil.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

# SIGINT's disposition is inherited; a test run in the background may have it ignored, and
# Python then keeps ignoring it.  The child restores Python's handler and runs the CLI.
CHILD = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
         "from derive.cli import main; sys.exit(main(sys.argv[1:]))")
STARTUP = 180.0  # seconds for the workers to appear (imports, on a loaded 2-core machine)
GONE = 10.0  # seconds for every process of the group to be gone after the signal


def _stat(pid: str) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of ``pid``, or None if it has gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid, pgrp = text[text.rindex(")") + 2:].split()[:3]
    return state, int(ppid), int(pgrp)


def _live(field: int, value: int) -> list[int]:
    """Live (not zombie) processes whose parent (field 1) or group (field 2) is ``value``."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (st := _stat(pid)) is not None and st[0] != "Z" and (
                st[field] == value):
            out.append(int(pid))
    return out


def _wait_until(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def running(tmp_path):
    """``lossproof verify -j 2 --no-cache`` in its own session, once its 2 workers exist."""
    env = {**os.environ, "LOSSPROOF_CACHE_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, "verify", "-j", "2", "--no-cache"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        assert _wait_until(lambda: len(_live(1, proc.pid)) >= 2, STARTUP), "no workers"
        time.sleep(1.0)  # let them get to work
        assert proc.poll() is None and len(_live(1, proc.pid)) >= 2
        yield proc
    finally:
        if proc.poll() is None:  # the test failed: leave nothing behind
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        for pid in _live(2, proc.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
class TestSignals:
    @pytest.mark.parametrize(("sig", "to_group", "status", "word"), [
        (signal.SIGINT, True, 130, "interrupted"),  # Ctrl-C: the terminal signals the group
        (signal.SIGINT, False, 130, "interrupted"),
        (signal.SIGTERM, False, 143, "terminated"),  # `kill PID`
        (signal.SIGTERM, True, 143, "terminated"),
    ])
    def test_stops_verify_and_its_workers(self, running, sig, to_group, status, word):
        workers = _live(1, running.pid)
        (os.killpg if to_group else os.kill)(running.pid, sig)
        _, err = running.communicate(timeout=GONE)
        assert running.returncode == status, err[-2000:]
        assert _wait_until(lambda: not _live(2, running.pid), GONE), _live(2, running.pid)
        assert all(_stat(str(w)) is None or _stat(str(w))[0] == "Z" for w in workers)
        assert err.splitlines()[-1] == f"lossproof: {word}"
        assert "Traceback" not in err

    def test_workers_exit_when_the_parent_is_killed_outright(self, running):
        os.kill(running.pid, signal.SIGKILL)
        running.communicate(timeout=GONE)
        assert _wait_until(lambda: not _live(2, running.pid), GONE), _live(2, running.pid)
