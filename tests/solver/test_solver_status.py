"""Honest statuses: OPTIMAL only when the plan attains the certified first-in-queue optimum
(``stats.model_bound``); the model gap says how far above it the plan lies."""

from __future__ import annotations

import pytest

from solver import SolveParams, SolveStatus, solve
from solver.constants import COST_SCALE
from solver.synthetic import random_problem


@pytest.mark.parametrize("seed", range(4))
def test_repair_that_changes_the_plan_gives_feasible_with_bound_and_gap(
    seed: int,
) -> None:
    """Short shifts make the sequenced queues overrun: the repair moves the plan above
    the flow's optimum, so the status is FEASIBLE with that optimum as the bound."""
    p = random_problem(1500, 150, seed=seed, capacity=4, shift_h=3)
    sol = solve(p, SolveParams())
    bound, gap = sol.stats.model_bound, sol.stats.model_gap_pct
    model = sol.stats.model_objective
    assert bound is not None
    assert gap is not None
    assert model is not None
    tol = p.tickets.count / COST_SCALE  # the scaling rule's rounding
    assert bound <= model + tol
    assert gap == pytest.approx(100 * (model - bound) / abs(model), abs=1e-9)
    assert sol.stats.status is SolveStatus.FEASIBLE
    assert gap > 0


@pytest.mark.parametrize("seed", range(3))
def test_optimal_means_the_bound_is_attained(seed: int) -> None:
    """Without shift ends to repair (no position rounds, no polish) the flow's plan is
    returned: OPTIMAL, gap 0."""
    p = random_problem(1500, 150, seed=seed, capacity=3)
    sol = solve(p, SolveParams(allow_overtime=True, position_rounds=0, polish=False))
    assert sol.stats.status is SolveStatus.OPTIMAL
    assert sol.stats.model_bound == pytest.approx(sol.stats.model_objective, abs=1e-6)
    assert sol.stats.model_gap_pct == pytest.approx(0.0, abs=1e-9)


def test_every_optimal_status_has_zero_gap() -> None:
    for seed in range(6):
        p = random_problem(800, 80, seed=seed, capacity=3, shift_h=4 + seed)
        sol = solve(p, SolveParams())
        if sol.stats.status is SolveStatus.OPTIMAL:
            assert sol.stats.model_gap_pct == pytest.approx(0.0, abs=1e-9)
        else:
            assert sol.stats.status is SolveStatus.FEASIBLE


def test_time_limit_stops_the_certificate_and_says_so() -> None:
    """Anytime: past the limit, the best plan found so far, FEASIBLE, nothing proven."""
    p = random_problem(3000, 300, seed=2, capacity=2, shift_h=12)
    quick = solve(
        p,
        SolveParams(
            allow_overtime=True, time_limit_s=1e-9, position_rounds=0, polish=False
        ),
    )
    cert = quick.stats.certificate
    assert cert is not None
    assert not cert.certified
    assert quick.stats.status is SolveStatus.FEASIBLE
    assert quick.stats.model_bound is None
    full = solve(
        p,
        SolveParams(
            allow_overtime=True, time_limit_s=600.0, position_rounds=0, polish=False
        ),
    )
    assert full.stats.status is SolveStatus.OPTIMAL
    assert full.stats.model_objective is not None
    assert quick.stats.model_objective is not None
    tol = p.tickets.count / COST_SCALE
    assert full.stats.model_objective <= quick.stats.model_objective + tol
