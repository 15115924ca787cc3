"""benchmarks/loop_cycles replays a region's cycles both ways and prints every figure:
every cycle cold with ``cold_every`` 1, incremental cycles between the cold ones else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_replay_prints_both_modes_and_the_ratio() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.loop_cycles", "--cycles", "8",
         "--technicians", "30", "--per-cycle", "5", "--cold-every", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    cold = next(line for line in out.splitlines() if "cold every cycle:" in line)
    inc = next(line for line in out.splitlines() if "cold every 4:" in line)
    assert "'cold (periodic)': 7" in cold
    assert "'incremental'" not in cold
    assert "'incremental': 6" in inc  # cycles 1-3 and 5-7
    assert "'cold (periodic)': 1" in inc  # cycle 4
    assert "objective ratio mean" in out
    assert "CPU per ticket, cold every cycle / incremental:" in out
