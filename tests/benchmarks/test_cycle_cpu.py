"""benchmarks/cycle_cpu runs the solve loop's cycles on a private valkey and prints the event
loop's and Redis's CPU per cycle and per ticket; every submitted ticket gets assigned."""

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
    for figure in ("event_loop_cpu_ms_per_cycle", "redis_cpu_ms_per_cycle"):
        assert result[figure]["median"] > 0
    per_ticket = result["event_loop_cpu_ms_per_ticket"]["median"]
    assert (
        abs(per_ticket - result["event_loop_cpu_ms_per_cycle"]["median"] / 5) <= 0.001
    )
