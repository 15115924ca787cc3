"""`python -m dispatcher.backend.embedded_cluster` as a real process: a signal stops its nodes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

START_TIMEOUT_S = 60.0  # generous: the machine is shared


def _children(pid: int) -> set[int]:
    """PIDs whose parent is ``pid`` (read from /proc: this process did not start them)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name in parentheses may hold spaces: fields follow the last ')'
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigterm_stops_every_node() -> None:
    """The command prints a seed URL of 6 nodes; SIGTERM to it alone (what a supervisor or
    `kill` sends) stops all 6 valkey-servers and it exits 0. (SIGINT took the same path
    before already.)"""
    process = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.backend.embedded_cluster"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    nodes: set[int] = set()
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()  # blocks until the cluster is ready
        assert url.startswith("redis+cluster://"), url
        ports = [int(a.rsplit(":", 1)[1]) for a in urlsplit(url).netloc.split(",")]
        assert len(ports) == 6
        for port in ports:
            with redis.Redis(host="127.0.0.1", port=port) as client:
                assert client.ping()
        nodes = _children(process.pid)
        assert len(nodes) == 6, nodes

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=START_TIMEOUT_S) == 0
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in nodes) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in nodes if _alive(pid)]
        for port in ports:
            with (
                redis.Redis(
                    host="127.0.0.1", port=port, socket_connect_timeout=1
                ) as client,
                pytest.raises(redis.ConnectionError),
            ):
                client.ping()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        for pid in nodes:  # a failed run must not leave its nodes behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
