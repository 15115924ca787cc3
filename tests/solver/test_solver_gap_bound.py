"""GAP bounds and plans (``solver.gap_lagrange``, ``solver.gap_local``,
``solver.gap.solve_gap``): the knapsacks are exact, every Lagrangian value and every
reported bound is at most the optimum (brute force, or CP-SAT run to a proof), the reported
bound is the tighter source, the Lagrangian bound beats the LP relaxation's on type D, and
local search keeps plans feasible and stops at a local optimum."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from benchmarks.gap_chu_beasley import constraint_matrices
from solver.gap import (
    CHU_BEASLEY_TYPES,
    GapInstance,
    chu_beasley,
    plan_fits,
    solve_gap,
)
from solver.gap_lagrange import (
    MULTIPLIER_SCALE,
    SMOOTHING,
    knapsacks,
    lagrangian_bound,
    lagrangian_value,
)
from solver.gap_local import improve
from solver.model import SolveStatus
from tests.solver.test_solver_gap import (
    _assert_plan,
    _brute_force,
    _ints,
    gap_instances,
)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 3), st.integers(1, 8), st.data())
def test_knapsacks_match_brute_force(m: int, n: int, data: st.DataObject) -> None:
    """Each agent's best profit is the best over every subset that fits, and its picks
    fit and earn it."""
    profit = data.draw(_ints((m, n), -20, 30))
    weight = data.draw(_ints((m, n), 0, 15))
    capacity = data.draw(_ints((m,), 0, 40))
    gain, picks = knapsacks(profit, weight, capacity)
    for i in range(m):
        best = max(
            int(profit[i, list(s)].sum())
            for k in range(n + 1)
            for s in itertools.combinations(range(n), k)
            if int(weight[i, list(s)].sum()) <= capacity[i]
        )
        assert gain[i] == best
        assert int(weight[i, picks[i]].sum()) <= capacity[i]
        assert int(profit[i, picks[i]].sum()) == best


def _one_knapsack(profit: Any, weight: Any, capacity: int) -> int:
    """The best profit within ``capacity``, by the textbook DP over one agent's items."""
    best = [0] * (capacity + 1)
    for p, w in zip(profit.tolist(), weight.tolist(), strict=True):
        for k in range(capacity, w - 1, -1):
            best[k] = max(best[k], best[k - w] + p)
    return best[capacity]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40), st.data())
def test_knapsacks_of_agents_with_different_capacities_match_one_at_a_time(
    m: int, n: int, data: st.DataObject
) -> None:
    """Beyond brute force's reach (up to 40 jobs, capacities up to 120, different per
    agent): each agent's best profit is the one within its own capacity (a textbook
    one-agent DP says so), and its picks fit and earn it."""
    profit = data.draw(_ints((m, n), -30, 60))
    weight = data.draw(_ints((m, n), 0, 25))
    capacity = data.draw(_ints((m,), 0, 120))
    gain, picks = knapsacks(profit, weight, capacity)
    for i in range(m):
        assert gain[i] == _one_knapsack(profit[i], weight[i], int(capacity[i]))
        assert int(weight[i, picks[i]].sum()) <= capacity[i]
        assert int(profit[i, picks[i]].sum()) == gain[i]


@settings(max_examples=60, deadline=None)
@given(gap_instances(), st.data())
def test_lagrangian_values_and_bound_are_below_the_optimum(
    arrays: tuple[Any, Any, Any], data: st.DataObject
) -> None:
    """L(u) <= optimum for any multipliers (drawn at random here), and so is the bound
    column generation returns."""
    inst = GapInstance(*arrays)
    best = _brute_force(inst)
    if best is None:
        return  # no plan: nothing to bound
    n = inst.cost.shape[1]
    scaled_u = data.draw(_ints((n,), -100 * MULTIPLIER_SCALE, 100 * MULTIPLIER_SCALE))
    value, _ = lagrangian_value(inst.cost, inst.weight, inst.capacity, scaled_u)
    assert value <= best * MULTIPLIER_SCALE
    smoothing = data.draw(st.sampled_from([0.0, 0.5, SMOOTHING, 0.99]))
    lag = lagrangian_bound(
        inst.cost, inst.weight, inst.capacity, 5.0, smoothing=smoothing
    )
    assert lag is not None
    assert lag.bound <= best


@pytest.mark.parametrize("smoothing", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_smoothing_is_refused(smoothing: float) -> None:
    inst = chu_beasley("D", 2, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="smoothing"):
        lagrangian_bound(
            inst.cost, inst.weight, inst.capacity, 1.0, smoothing=smoothing
        )


def _cp_sat_optimum(inst: GapInstance, maximize: bool) -> int | None:
    """The optimum proven by CP-SAT alone (one worker, ample time); None: infeasible."""
    res = solve_gap(
        inst,
        maximize=maximize,
        time_limit_s=60,
        num_workers=1,
        lagrangian=False,
        highs=False,
    )
    if res.status is SolveStatus.INFEASIBLE:
        return None
    assert res.status is SolveStatus.OPTIMAL
    return res.objective


@settings(max_examples=20, deadline=None)
@given(
    st.sampled_from(CHU_BEASLEY_TYPES),
    st.integers(2, 5),
    st.integers(6, 16),
    st.integers(0, 2**32),
    st.booleans(),
    st.sampled_from([0.02, 0.1, 0.5]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_reported_bound_brackets_the_optimum(
    kind: str,
    m: int,
    n: int,
    seed: int,
    maximize: bool,
    limit_s: float,
    lagrangian: bool,
    highs: bool,
    local_search: bool,
    lns: bool,
    dive: bool,
) -> None:
    """Under any limit and any mix of searches: bound <= optimum <= objective (reversed
    when maximising), the gap from them, the bound the tightest of its sources (CP-SAT's,
    the Lagrangian one, each job at its cheapest agent)."""
    inst = chu_beasley(kind, m, n, np.random.default_rng(seed))
    optimum = _cp_sat_optimum(inst, maximize)
    res = solve_gap(
        inst,
        maximize=maximize,
        time_limit_s=limit_s,
        lagrangian=lagrangian,
        highs=highs,
        local_search=local_search,
        lns=lns,
        dive=dive,
    )
    if optimum is None:  # no plan exists: proven so, or not proven in time
        assert res.status in (SolveStatus.INFEASIBLE, SolveStatus.TIMEOUT)
        assert res.bound is None
        return
    if res.status is SolveStatus.TIMEOUT:
        assert res.bound is None
        return
    _assert_plan(inst, res, maximize)
    assert res.bound is not None
    sign = -1 if maximize else 1
    assert sign * res.bound <= sign * optimum <= sign * res.objective
    for source in (res.cp_sat_bound, res.lagrangian_bound):
        assert source is None or sign * source <= sign * optimum
    if not lagrangian:
        assert res.lagrangian_bound is None
    if not highs:
        assert res.plan_source != "highs"
    if not local_search:
        assert res.local_moves == 0
    if not (lns and highs):
        assert res.plan_source != "lns"
    if not (dive and lagrangian):
        assert res.plan_source != "dive"
    cheapest = sign * int((sign * inst.cost).min(axis=0).sum())  # capacities ignored
    sources = {
        "cp-sat": res.cp_sat_bound,
        "lagrangian": res.lagrangian_bound,
        "cheapest": cheapest,
    }
    tightest = max(sign * b for b in sources.values() if b is not None)
    if res.status is SolveStatus.FEASIBLE:
        assert res.bound_source is not None
        assert sign * res.bound == tightest == sign * sources[res.bound_source]  # type: ignore[operator]


def _lp_bound(inst: GapInstance) -> float:
    """The LP relaxation's optimum, by scipy's HiGHS (an independent reference)."""
    one_agent, load = constraint_matrices(inst)
    res = linprog(
        inst.cost.ravel().astype(float),
        A_ub=load,
        b_ub=inst.capacity.astype(float),
        A_eq=one_agent,
        b_eq=np.ones(inst.cost.shape[1]),
        bounds=(0, 1),
    )
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize(("m", "n"), [(20, 100), (10, 100)])
def test_lagrangian_bound_beats_the_lp_bound_on_type_d(m: int, n: int) -> None:
    """Chu & Beasley type D, seed 1: column generation converges, and its bound is above
    the LP relaxation's (the knapsacks are not integral: the Lagrangian dual is the
    Dantzig-Wolfe bound). The LP comes from scipy, independently."""
    inst = chu_beasley("D", m, n, np.random.default_rng(1))
    lag = lagrangian_bound(inst.cost, inst.weight, inst.capacity, 120.0)
    assert lag is not None
    assert lag.converged
    assert lag.bound > math.ceil(_lp_bound(inst))


@st.composite
def plans_that_fit(
    draw: st.DrawFn, max_agents: int = 4, max_jobs: int = 9
) -> tuple[GapInstance, Any]:
    """A small GAP and a plan that fits it (capacities = the plan's loads + slack)."""
    m, n = draw(st.integers(1, max_agents)), draw(st.integers(1, max_jobs))
    cost = draw(_ints((m, n), -30, 30))
    weight = draw(_ints((m, n), 0, 12))
    agent = draw(_ints((n,), 0, m - 1))
    load = np.bincount(agent, weights=weight[agent, np.arange(n)], minlength=m)
    slack = draw(_ints((m,), 0, 15))
    return GapInstance(cost, weight, load.astype(np.int64) + slack), agent


@settings(max_examples=80, deadline=None)
@given(plans_that_fit())
def test_local_search_keeps_the_plan_feasible_and_ends_at_a_local_optimum(
    case: tuple[GapInstance, Any],
) -> None:
    """The plan still fits, costs no more, and no single shift, swap or ejection (job
    j1 onto j2's agent, j2 to any other agent; all tried by brute force) lowers its
    cost further."""
    inst, start = case
    m, n = inst.cost.shape
    jobs = np.arange(n)
    plan, moves = improve(inst.cost, inst.weight, inst.capacity, start, time_limit_s=10)

    def total(a: Any) -> int:
        return int(inst.cost[a, jobs].sum())

    assert plan_fits(inst, plan)
    assert total(plan) <= total(start)
    assert (moves == 0) == (total(plan) == total(start))
    for j in range(n):
        for i in range(m):
            moved = plan.copy()
            moved[j] = i
            assert not (plan_fits(inst, moved) and total(moved) < total(plan))
    for j1, j2 in itertools.combinations(range(n), 2):
        swapped = plan.copy()
        swapped[j1], swapped[j2] = plan[j2], plan[j1]
        assert not (plan_fits(inst, swapped) and total(swapped) < total(plan))
    for j1, j2 in itertools.permutations(range(n), 2):
        for i in range(m):
            if plan[j1] == plan[j2] or i == plan[j2]:
                continue
            ejected = plan.copy()
            ejected[j1], ejected[j2] = plan[j2], i
            assert not (plan_fits(inst, ejected) and total(ejected) < total(plan))
