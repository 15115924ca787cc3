"""The GAP's pool of near-optimal job sets (``solver.gap_pool``) and the LP dive over it
(``solver.gap_dive``), against brute force: the pool lists exactly the sets within the
slack, each fits its agent and holds the agent's best set; every dive plan fits; and
solve_gap with the dive keeps bound <= optimum <= objective when races run side by side."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.gap import GapInstance, GapResult, chu_beasley, plan_fits, solve_gap
from solver.gap_dive import dive_plan
from solver.gap_lagrange import MULTIPLIER_SCALE, knapsacks, lagrangian_bound
from solver.gap_pool import agent_sets, column_pool
from tests.solver.test_solver_gap import _brute_force, _ints
from tests.solver.test_solver_gap_bound import plans_that_fit


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 9).flatmap(
        lambda n: st.tuples(_ints((n,), -30, 30), _ints((n,), 0, 12))
    ),
    st.integers(0, 30),
    st.integers(0, 40),
    st.integers(1, 40),
)
def test_agent_sets_are_every_set_within_the_slack(
    rows: tuple[Any, Any], capacity: int, slack: int, limit: int
) -> None:
    """Exactly the subsets that fit and whose profit is within ``slack`` of the best,
    each once; None when they are more than ``limit``."""
    profit, weight = rows
    n = profit.size
    subsets = [
        np.array(bits, np.bool_)
        for bits in itertools.product((False, True), repeat=n)
        if weight[np.array(bits, np.bool_)].sum() <= capacity
    ]
    best = max(int(profit[s].sum()) for s in subsets)
    want = {tuple(s) for s in subsets if profit[s].sum() >= best - slack}
    got = agent_sets(profit, weight, capacity, slack, limit)
    if len(want) > limit:
        assert got is None
        return
    assert got is not None
    assert len(got) == len(want)
    assert {tuple(row) for row in got} == want


@settings(max_examples=60, deadline=None)
@given(plans_that_fit(max_agents=4, max_jobs=8), st.data())
def test_column_pool_sets_fit_and_hold_each_agents_best(
    case: tuple[GapInstance, Any], data: st.DataObject
) -> None:
    """Each set fits its agent; every agent with sets has one of its knapsack's best
    profit (profit ``u_j - c_ij``); at most ``budget`` sets per agent."""
    inst, _ = case
    m, n = inst.cost.shape
    scaled_u = data.draw(_ints((n,), -40 * MULTIPLIER_SCALE, 40 * MULTIPLIER_SCALE))
    budget = data.draw(st.integers(1, 50))
    agent_of, sets = column_pool(
        inst.cost, inst.weight, inst.capacity, scaled_u, budget
    )
    profit = scaled_u[None, :] - MULTIPLIER_SCALE * inst.cost
    best, _ = knapsacks(profit, inst.weight, inst.capacity)
    for i in range(m):
        own = sets[agent_of == i]
        assert len(own) <= budget
        assert np.all((own * inst.weight[i]).sum(axis=1) <= inst.capacity[i])
        if len(own):
            assert (own * profit[i]).sum(axis=1).max() == best[i]


@settings(max_examples=40, deadline=None)
@given(plans_that_fit(max_agents=4, max_jobs=8), st.booleans(), st.data())
def test_dive_plans_fit(
    case: tuple[GapInstance, Any], converged: bool, data: st.DataObject
) -> None:
    """Whatever the multipliers (converged or random), a dive plan puts every job on one
    agent within every capacity, and costs no less than the optimum; on these small
    instances (a plan exists) it finds one."""
    inst, _ = case
    n = inst.cost.shape[1]
    if converged:
        lag = lagrangian_bound(inst.cost, inst.weight, inst.capacity, 10.0)
        assert lag is not None
        scaled_u = lag.scaled_u
    else:
        scaled_u = data.draw(_ints((n,), -40 * MULTIPLIER_SCALE, 40 * MULTIPLIER_SCALE))
    plan = dive_plan(
        inst.cost,
        inst.weight,
        inst.capacity,
        scaled_u,
        deadline=time.perf_counter() + 30,
    )
    assert plan is not None
    assert plan_fits(inst, plan)
    optimum = _brute_force(inst)
    assert optimum is not None
    assert int(inst.cost[plan, np.arange(n)].sum()) >= optimum


def test_races_side_by_side_build_their_models_safely() -> None:
    """Three races at once (each with its own HiGHS, Lagrangian and dive threads, all
    building MathOpt models) each return a checked plan: no thread raises."""
    instances = [chu_beasley("D", 5, 30, np.random.default_rng(s)) for s in (1, 2, 3)]
    results: list[GapResult | BaseException] = []

    def race(inst: GapInstance) -> None:
        try:
            results.append(solve_gap(inst, time_limit_s=3, seed=1))
        except BaseException as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=race, args=(inst,)) for inst in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for res in results:
        assert isinstance(res, GapResult), res


def _cost(inst: GapInstance, plan: Any) -> int:
    return int(inst.cost[plan, np.arange(plan.size)].sum())


def _told_plans(
    inst: GapInstance, deadline_s: float, stop_after: int
) -> tuple[Any, list[Any]]:
    """The dive's plan on ``inst`` from the converged multipliers, and the plans it
    told, ``stop`` set once it has told ``stop_after`` of them."""
    lag = lagrangian_bound(inst.cost, inst.weight, inst.capacity, 60.0)
    assert lag is not None
    assert lag.converged
    told: list[Any] = []
    stop = threading.Event()

    def on_plan(plan: Any) -> None:
        told.append(plan)
        if len(told) >= stop_after:
            stop.set()

    plan = dive_plan(
        inst.cost,
        inst.weight,
        inst.capacity,
        lag.scaled_u,
        deadline=time.perf_counter() + deadline_s,
        on_plan=on_plan,
        stop=stop,
    )
    return plan, told


def _assert_told_plans_improve(inst: GapInstance, plan: Any, told: list[Any]) -> None:
    assert plan is not None
    assert told
    assert all(plan_fits(inst, p) for p in told)
    costs = [_cost(inst, p) for p in told]
    assert costs == sorted(set(costs), reverse=True)  # each cheaper than the last
    assert np.array_equal(plan, told[-1])


@pytest.mark.slow  # three dives to the end (up to ~10 s each): the slow step's
@pytest.mark.parametrize(("m", "n", "seed"), [(8, 50, 1), (10, 60, 2), (10, 80, 3)])
def test_dive_tells_each_better_plan_and_returns_the_last(
    m: int, n: int, seed: int
) -> None:
    """With ``on_plan`` the dive tells its first plan, then each cheaper one CP-SAT
    finds on the residual until the deadline (here the residual's first plan is
    usually its optimum already): every plan told fits, each is cheaper than the one
    before, and the plan returned is the last told."""
    inst = chu_beasley("D", m, n, np.random.default_rng(seed))
    plan, told = _told_plans(inst, 20.0, stop_after=10)
    _assert_told_plans_improve(inst, plan, told)


@pytest.mark.slow
def test_dive_improves_its_residual_after_the_first_plan() -> None:
    """Type D 10 x 100 (seed 2): the residual's first plan (6276-6280 after
    ``RESIDUAL_WORK``; bound 6246) is not its optimum, and CP-SAT, going on from it,
    finds a cheaper one (6271 at 7.4 CPU s; this test stops there)."""
    inst = chu_beasley("D", 10, 100, np.random.default_rng(2))
    plan, told = _told_plans(inst, 120.0, stop_after=2)
    _assert_told_plans_improve(inst, plan, told)
    assert len(told) >= 2


def test_a_set_stop_ends_the_dive_at_its_first_plan() -> None:
    """``stop`` already set: the dive still finds and tells its first plan (the residual
    within its deterministic work), then returns it without improving it."""
    inst = chu_beasley("D", 10, 60, np.random.default_rng(2))
    lag = lagrangian_bound(inst.cost, inst.weight, inst.capacity, 30.0)
    assert lag is not None
    stop = threading.Event()
    stop.set()
    told: list[Any] = []
    plan = dive_plan(
        inst.cost,
        inst.weight,
        inst.capacity,
        lag.scaled_u,
        deadline=time.perf_counter() + 30,
        on_plan=told.append,
        stop=stop,
    )
    assert plan is not None
    assert len(told) == 1
    assert np.array_equal(plan, told[0])
