"""benchmarks/cycle_cpu runs the solve loop's cycles on a private valkey and prints the event
loop's, the solver worker's and Redis's CPU per cycle and per ticket, and the whole cycle's;
every submitted ticket gets assigned."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_run_assigns_every_ticket_and_prints_the_cpu() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.cycle_cpu", "--cycles", "6", "--warm-up", "2",
         "--technicians", "20", "--per-cycle", "5", "--hold", "2", "--rate", "100"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    result = json.loads(out[: out.index("load average")])
    assert result["cycles"] == 6
    assert result["assigned_per_cycle_mean"] == 5.0
    parts = ("event_loop", "worker", "redis")
    for part in parts:
        assert result[f"{part}_cpu_ms_per_cycle"]["median"] > 0
    # the whole cycle is the sum of the three, cycle by cycle (so their means add up)
    whole = result["cycle_cpu_ms_per_cycle"]["mean"]
    assert (
        abs(whole - sum(result[f"{p}_cpu_ms_per_cycle"]["mean"] for p in parts))
        <= 0.003
    )
    per_ticket = result["event_loop_cpu_ms_per_ticket"]["median"]
    assert (
        abs(per_ticket - result["event_loop_cpu_ms_per_cycle"]["median"] / 5) <= 0.001
    )
