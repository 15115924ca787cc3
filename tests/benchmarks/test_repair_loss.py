"""benchmarks/repair_loss prices the first plan as the solver does, and its loss is never
negative (the second solve keeps the committed plan unless it finds a cheaper one)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from solver import SolveParams, solve
from solver.synthetic import random_problem

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(
    r"200x20-s(\d+): CPU [\d.]+ s, driven (\d+), second (\d+) \(loss (-?[\d.]+)%,"
    r" moved (\d+);"
)


def test_each_instance_prints_its_loss_and_the_first_plan_is_the_solvers() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.repair_loss", "--sizes", "200x20",
         "--seeds", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    found = LINE.findall(out)
    assert [int(seed) for seed, *_ in found] == [0, 1]
    for seed, first, second, loss, moved in found:
        d0, d1 = float(first), float(second)
        assert float(loss) >= 0.0
        assert float(loss) == pytest.approx(100 * (d0 - d1) / d0, abs=1e-3)
        if int(moved) == 0:
            assert d1 == d0
        # no pinned or held tickets: the objective is the plan's cost as driven
        sol = solve(random_problem(200, 20, seed=int(seed), capacity=3), SolveParams(
            time_limit_s=1000.0))  # fmt: skip
        assert d0 == pytest.approx(sol.objective, abs=1.0)
    assert "200x20 mean of 2:" in out
