"""``e2e_latency``'s run-queue figure: a process's seconds on a core and seconds waiting for
one, its descendants included (``benchmarks.results.sched_s``), read from the kernel's schedstat."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.results import sched_s

SPIN = """
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
end = time.process_time() + 0.15
while time.process_time() < end:
    pass
time.sleep(30)
"""


@pytest.mark.skipif(
    not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/schedstat"),
    reason="the kernel keeps no schedstat",
)
def test_two_busy_processes_on_one_core_wait_for_it() -> None:
    core = min(os.sched_getaffinity(0))
    spin = f"{sys.executable} -c '{SPIN}' {core}"
    # a shell whose two children spin 0.15 s of CPU each on the same core: each waits
    # while the other runs
    parent = subprocess.Popen(["sh", "-c", f"{spin} & {spin} & wait"])
    try:
        deadline = time.monotonic() + 20
        on_core = waiting = 0.0
        while time.monotonic() < deadline and on_core < 0.29:
            time.sleep(0.05)
            on_core, waiting = sched_s(parent.pid)
        assert on_core >= 0.29  # both children's CPU, through the shell
        assert waiting >= 0.08  # each waited for the core while the other ran
        own_core, own_wait = sched_s(parent.pid, main_thread=True)
        assert own_core < 0.1  # the shell alone: it only waits for its children
        assert own_wait < 0.1
        assert sched_s(parent.pid, descendants=False)[0] < 0.1
    finally:
        children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
        with contextlib.suppress(OSError):
            for child in children.read_text().split():
                os.kill(int(child), signal.SIGKILL)
        parent.kill()
        parent.wait()
