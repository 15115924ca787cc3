"""``e2e_latency --cycle-log`` reads the solve loop's own per-cycle DEBUG line: a few real
cycles (bench cycle_cpu) logged the way ``dispatcher serve`` logs are parsed into the phases
of every cycle."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks.e2e_latency import _cycle_phases

ROOT = Path(__file__).resolve().parents[2]

RUN = """
import sys
from dispatcher.runtime.logging_setup import configure_logging
from benchmarks import cycle_cpu
configure_logging("DEBUG")
sys.argv = ["cycle_cpu", "--cycles", "4", "--warm-up", "1", "--technicians", "10",
            "--per-cycle", "3", "--hold", "1", "--rate", "100"]
cycle_cpu.main()
"""


def test_the_cycle_lines_of_the_loop_are_parsed(tmp_path: Path) -> None:
    log = tmp_path / "solver0.log"
    start = time.time() - 1
    with log.open("w") as out:
        subprocess.run(
            [sys.executable, "-c", RUN], cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=out, timeout=300, check=True,
        )  # fmt: skip
    phases = _cycle_phases([log], (start, time.time() + 1))
    assert phases["n"] >= 5  # the first (empty) cycle logs nothing; 1 + 4 with tickets
    for name in ("slot_wait", "read_build", "solve", "solver", "commit"):
        assert phases[f"{name}_ms"]["p50"] >= 0
    assert phases["solve_ms"]["p99"] >= phases["solver_ms"]["p50"] > 0
    assert _cycle_phases([log], (0, start - 10))["n"] == 0  # outside the window
