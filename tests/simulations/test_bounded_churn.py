"""Bounded churn in the simulator: every move the engine counts gains >= move_min_gain."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from simulations.engine import Engine
from simulations.kpi import run_kpis
from simulations.runner import build_roster, build_stream
from simulations.scenario import load_scenario
from solver.model import NO_TECHNICIAN
from solver.policies import make_policy
from solver.position import move_gains
from solver.solve import tech_state

if TYPE_CHECKING:
    from solver import Problem, Solution, SolveParams

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"


class GainRecorder:
    """The optimizer, recording what each move it makes gains at the places it takes
    (``solver.position.move_gains``)."""

    def __init__(self, params: SolveParams) -> None:
        self.inner = make_policy("optimizer", params)
        self.params = params
        self.gains: list[float] = []

    def solve(self, problem: Problem, previous: Solution | None) -> Solution:
        sol = self.inner.solve(problem, previous)
        plan = np.where(problem.tickets.pinned, NO_TECHNICIAN, sol.technician)
        w = self.params.weights
        gain = move_gains(
            problem, w, tech_state(problem, w), plan.astype(np.int64),
            self.params.allow_overtime,
        )  # fmt: skip
        self.gains.extend(gain[~np.isnan(gain)].tolist())
        return sol


def _run(min_gain: float, seed: int = 2) -> tuple[GainRecorder, dict[str, float]]:
    sc = load_scenario("smoke")
    rng = np.random.default_rng(seed)
    stream = build_stream(sc, rng, seed)
    roster = build_roster(sc, stream, rng)
    base = sc.policy.solve_params()
    # no stability cost: the threshold alone bounds the churn
    w = dataclasses.replace(base.weights, stability=0.0, move_min_gain=min_gain)
    policy = GainRecorder(dataclasses.replace(base, weights=w, seed=seed))
    result = Engine(sc, stream, roster, policy).run()
    return policy, run_kpis(result)


@pytest.mark.slow
def test_every_simulated_move_clears_the_threshold() -> None:
    """With move_min_gain = 600, no move the engine counts gains less; without it, some do
    (so the check can fail), and the threshold lowers the churn."""
    bounded, k_bounded = _run(600.0)
    free, k_free = _run(0.0)
    assert k_bounded["reassignments"] == len(bounded.gains)
    assert all(g >= 600.0 for g in bounded.gains), sorted(bounded.gains)[:5]
    assert any(g < 600.0 for g in free.gains)
    assert k_bounded["reassignments"] < k_free["reassignments"]


def test_the_scenario_policy_carries_the_threshold(tmp_path: Path) -> None:
    """A scenario's [weights] move_min_gain reaches the solver's params (one policy model)."""
    text = (SCENARIOS / "smoke.toml").read_text(encoding="utf-8")
    path = tmp_path / "smoke.toml"
    path.write_text(
        text.replace("[weights]\n", "[weights]\nmove_min_gain = 123.5\n", 1),
        encoding="utf-8",
    )
    assert load_scenario(path).policy.solve_params().weights.move_min_gain == 123.5
