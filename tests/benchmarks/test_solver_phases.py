"""benchmarks/solver_phases prints every phase and the position rounds' split, whose parts
add up to the position rounds' time; the phases but the shift repairs' total and the
refill (counted in other columns too) add up to the solve's CPU time."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PHASES = (
    "candidates", "certified flow", "shift repairs", "position rounds", "polish",
    "rest of core", "finalize",
)  # fmt: skip


def test_phases_and_the_position_rounds_split_are_printed() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.solver_phases", "--size", "1k", "--repeat", "1",
         "--time-limit-s", "1000"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    lines = out.splitlines()
    phases = {
        name.strip(): float(value)
        for name, value in re.findall(r"([a-z ]+) (\d+\.\d+)", lines[1])
    }
    assert set(PHASES) <= set(phases)
    assert phases["first"] <= phases["shift repairs"]
    cpu = float(re.findall(r"CPU (\d+\.\d+) s", lines[0])[0])
    apart = {
        "shift repairs",
        "refill",
    }  # the first repair is in "first", the refill in both
    parts_sum = sum(value for name, value in phases.items() if name not in apart)
    assert parts_sum == pytest.approx(cpu, abs=0.006)
    assert lines[2].startswith("  position rounds:")
    parts = re.findall(r"(re-pricing|flow|repair|rest) (\d+\.\d+)", lines[2])
    assert [name for name, _ in parts] == ["re-pricing", "flow", "repair", "rest"]
    total = sum(float(value) for _, value in parts)
    assert total == pytest.approx(phases["position rounds"], abs=0.003)
    arcs, live = re.findall(r"\((\d+) arcs worth placing of (\d+) live\)", lines[2])[0]
    assert 0 < int(arcs) <= int(live)
