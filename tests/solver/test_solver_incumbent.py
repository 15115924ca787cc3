"""The incumbent plan as a candidate answer: solve, commit the plan, solve again cold at
the same clock; the new plan never costs more as driven than keeping the committed one."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import Problem, Solution, SolveParams, SolveStatus, solve
from solver.candidates import Candidates
from solver.constants import COST_SCALE
from solver.cost import late_pricing
from solver.finalize import finalize
from solver.incumbent import held_decision
from solver.solve import tech_state
from solver.synthetic import random_problem
from tests.solver.checks import assert_hard_constraints


def _committed(problem: Problem, sol: Solution) -> Problem:
    """``problem`` with ``sol``'s plan as the queues the technicians hold."""
    t = problem.tickets
    cur = np.where(t.pinned, t.current_technician, sol.technician)
    return dataclasses.replace(
        problem, tickets=dataclasses.replace(t, current_technician=cur)
    )


def _kept(problem: Problem, params: SolveParams, sol: Solution) -> Solution:
    """The committed plan ``sol`` as it is, evaluated as a solve evaluates its plan."""
    none = np.zeros(0, np.int64)
    no_arcs = Candidates(none, none, np.zeros(0), np.zeros(problem.tickets.count, bool))
    plan = np.where(problem.tickets.pinned, -1, sol.technician)
    return finalize(
        problem, params, tech_state(problem, params.weights), no_arcs, plan,
        SolveStatus.FEASIBLE, {}, time.perf_counter(),
    )  # fmt: skip


def _resolve_vs_keep(
    n: int, m: int, seed: int, radius_km: float, shift_h: float, params: SolveParams
) -> tuple[Problem, Solution, Solution]:
    p = random_problem(
        n, m, seed, assigned_frac=0.2, pinned_frac=0.1, radius_km=radius_km,
        shift_h=shift_h,
    )  # fmt: skip
    first = solve(p, params)
    p1 = _committed(p, first)
    return p1, solve(p1, params), _kept(p1, params, first)


def _assert_not_costlier(
    p: Problem, params: SolveParams, again: Solution, keep: Solution
) -> None:
    assert_hard_constraints(p, params, again)
    # the two sums add the same terms in another order: a float rounding apart
    assert again.objective <= keep.objective + 1e-9 * abs(keep.objective), (
        again.objective,
        keep.objective,
    )
    assert again.stats.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
    bound, model = again.stats.model_bound, again.stats.model_objective
    if again.stats.status is SolveStatus.FEASIBLE:
        assert bound is not None
        assert model is not None
        assert again.stats.model_gap_pct is not None
        assert bound <= model + p.tickets.count / COST_SCALE  # the scaling's rounding


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(30, 120),
    m=st.integers(5, 25),
    radius_km=st.floats(5.0, 40.0),
    shift_h=st.floats(2.0, 8.0),
    overtime=st.booleans(),
)
def test_a_cold_resolve_never_costs_more_than_keeping_the_committed_plan(
    seed: int, n: int, m: int, radius_km: float, shift_h: float, overtime: bool
) -> None:
    params = SolveParams(allow_overtime=overtime)
    p1, again, keep = _resolve_vs_keep(n, m, seed, radius_km, shift_h, params)
    _assert_not_costlier(p1, params, again, keep)


@pytest.mark.parametrize(
    ("n", "m", "seed", "radius_km", "shift_h"),
    [  # re-solves that cost 3.5-18% more than keeping, before the incumbent candidate
        (43, 8, 131060, 39.971, 5.914),
        (61, 14, 903511, 7.248, 6.075),
        (43, 16, 18517, 20.283, 3.22),
        (62, 19, 806215, 20.699, 6.794),
        (566, 103, 844231, 7.128, 5.334),  # verify14's: keep 4.66M, re-solve 6.22M
    ],
)
def test_seeded_resolves_keep_the_cheaper_plan(
    n: int, m: int, seed: int, radius_km: float, shift_h: float
) -> None:
    params = SolveParams()
    p1, again, keep = _resolve_vs_keep(n, m, seed, radius_km, shift_h, params)
    _assert_not_costlier(p1, params, again, keep)


def test_held_decision_keeps_what_the_holder_may_still_take() -> None:
    """Held rows stay; a technician gone unavailable or over capacity lets them go (the
    cheapest stay); pinned and unheld rows are not in it."""
    p = random_problem(60, 6, 3, assigned_frac=0.6, pinned_frac=0.1, capacity=3)
    t, k = p.tickets, p.technicians
    params = SolveParams()
    held = (t.current_technician >= 0) & ~t.pinned
    gone = int(t.current_technician[np.flatnonzero(held)[0]])
    avail = k.available.copy()
    avail[gone] = False
    p = dataclasses.replace(p, technicians=dataclasses.replace(k, available=avail))
    state = tech_state(p, params.weights)
    plan = held_decision(p, params.weights, state, late_pricing(p, params.weights))
    assert np.all(plan[~held] == -1)
    assert np.all(plan[held & (t.current_technician == gone)] == -1)
    kept = plan >= 0
    assert np.all(plan[kept] == t.current_technician[kept])
    count = np.bincount(plan[kept], minlength=k.count)
    assert np.all(count <= state.free_slots)
    full = np.bincount(t.current_technician[held], minlength=k.count) > state.free_slots
    assert np.all(count[full & avail] == state.free_slots[full & avail])
