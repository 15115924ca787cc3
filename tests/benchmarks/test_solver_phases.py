"""benchmarks/solver_phases prints every phase and the position rounds' split, whose parts
add up to the position rounds' time; the phases but the shift repairs' total and the
refill (counted in other columns too) add up to the solve's CPU time."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.solver_phases import tiled
from solver.synthetic import random_problem

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
    solves, flows = re.findall(
        r"min-cost flows: (\d+) solves, CPU (\d+\.\d+) s", lines[3]
    )[0]
    assert int(solves) >= 2  # the certified flow, the position round's
    assert 0.0 < float(flows) <= cpu


def test_tiled_regions_keep_each_part_and_its_references() -> None:
    """``--size 5x10k``'s problem: each part's rows in order, moved east by its offset,
    its holders, excluded and preferred pairs pointing at its own rows."""
    parts = [
        random_problem(
            60, 9, seed=s, assigned_frac=0.3, excluded_frac=0.3, preferred_frac=0.3
        )
        for s in (3, 4, 5)
    ]
    whole = tiled(parts, apart_deg=2.0)
    t0 = k0 = 0
    for i, p in enumerate(parts):
        t, k = p.tickets, p.technicians
        rows, techs = slice(t0, t0 + t.count), slice(k0, k0 + k.count)
        assert np.array_equal(whole.tickets.lat_deg[rows], t.lat_deg)
        assert np.array_equal(whole.tickets.lon_deg[rows], t.lon_deg + 2.0 * i)
        assert np.array_equal(whole.technicians.lon_deg[techs], k.lon_deg + 2.0 * i)
        assert np.array_equal(whole.technicians.skill_levels[techs], k.skill_levels)
        held = whole.tickets.current_technician[rows]
        assert np.array_equal(
            held, np.where(t.current_technician >= 0, t.current_technician + k0, -1)
        )
        for name in ("excluded", "preferred"):
            pairs = getattr(whole.tickets, name)
            mine = (pairs[:, 0] >= t0) & (pairs[:, 0] < t0 + t.count)
            assert np.array_equal(pairs[mine], getattr(t, name) + np.array([t0, k0]))
        t0, k0 = t0 + t.count, k0 + k.count
    assert (whole.tickets.count, whole.technicians.count) == (t0, k0)
