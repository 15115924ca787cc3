"""Where a benchmark's figures go: one JSON file per run under ``benchmarks/results/``,
with the machine and commit they were measured on (the directory is not committed)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"


def uptime() -> str:
    """The machine's ``uptime`` line, to quote the load beside a figure."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def machine() -> dict[str, Any]:
    """What a figure depends on: Python, cores, platform, load averages and the commit."""
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg": os.getloadavg(),
        "commit": commit,
    }


def child_pids(pid: int) -> list[int]:
    """The live child processes of ``pid``, of any of its threads (Linux /proc)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    return children


def sched_s(
    pid: int, descendants: bool = True, main_thread: bool = False
) -> tuple[float, float]:
    """Seconds on a core and seconds runnable but waiting for one (the run queue) of a
    process's threads and (by default) its live descendants, from Linux's
    ``/proc/<pid>/task/<tid>/schedstat`` (ns; 0 where the kernel keeps none). On a full
    machine each hop of a ticket (load generator, API, Redis, solve loop, solver worker
    and back) waits there: the wait per second tells how much of the latency is waiting
    for a core rather than work. ``main_thread``: the main thread alone (a solver
    process's event loop), no descendant."""
    threads = [pid]
    if not main_thread:
        with contextlib.suppress(OSError):
            threads = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    on_core = waiting = 0.0
    for tid in threads:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
            on_core += int(fields[0]) / 1e9
            waiting += int(fields[1]) / 1e9
    if descendants and not main_thread:
        for child in child_pids(pid):
            child_on, child_waiting = sched_s(child)
            on_core, waiting = on_core + child_on, waiting + child_waiting
    return on_core, waiting


def write_results(name: str, data: object, out: Path | None = None) -> Path:
    """Write ``data`` as JSON to ``out``, by default to ``benchmarks/results/<name>-<UTC
    time>.json`` so that no run overwrites another; print and return the path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out or RESULTS_DIR / f"{name}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"wrote {path}")
    return path
