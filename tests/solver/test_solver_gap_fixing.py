"""Lagrangian variable fixing (``solver.gap_fixing``) and large-neighbourhood search
(``solver.gap_lns``) for the GAP, against brute force: the forced Lagrangian values are
exact, fixing never removes a plan cheaper than the given cost, and LNS keeps plans
feasible, never costlier, and reaches the optimum when it may free every job."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.gap import GapInstance, chu_beasley, plan_fits, solve_gap
from solver.gap_fixing import (
    allowed_pairs,
    forced_values,
    placed_values,
)
from solver.gap_lagrange import (
    MULTIPLIER_SCALE,
    knapsacks,
    lagrangian_bound,
    lagrangian_value,
)
from solver.gap_lns import lns_improve, slacks
from solver.gap_local import improve
from solver.model import SolveStatus
from tests.solver.test_solver_gap import _brute_force, _ints, gap_instances
from tests.solver.test_solver_gap_bound import plans_that_fit


def _best_subset(
    profit: Any, weight: Any, capacity: int, j: int, taken: bool
) -> int | None:
    """Best profit over the subsets within ``capacity`` that take job j (or leave it)."""
    n = profit.size
    best = None
    for k in range(n + 1):
        for subset in itertools.combinations(range(n), k):
            if (j in subset) != taken or int(weight[list(subset)].sum()) > capacity:
                continue
            value = int(profit[list(subset)].sum())
            best = value if best is None else max(best, value)
    return best


@settings(max_examples=60, deadline=None)
@given(gap_instances(), st.data())
def test_forced_values_match_brute_force(
    arrays: tuple[Any, Any, Any], data: st.DataObject
) -> None:
    """L(u) with one pair forced to 1 (or to 0) equals L(u) with that agent's knapsack
    re-solved by brute force over every subset taking (or leaving) the job."""
    cost, weight, capacity = arrays
    m, n = cost.shape
    scaled_u = data.draw(_ints((n,), -60 * MULTIPLIER_SCALE, 60 * MULTIPLIER_SCALE))
    value, one, zero = forced_values(cost, weight, capacity, scaled_u)
    profit = scaled_u[None, :] - MULTIPLIER_SCALE * cost
    gain, _ = knapsacks(profit, weight, capacity)
    assert value == int(scaled_u.sum()) - int(gain.sum())
    for i, j in itertools.product(range(m), range(n)):
        for taken, got in ((True, one[i, j]), (False, zero[i, j])):
            best = _best_subset(profit[i], weight[i], int(capacity[i]), j, taken)
            if best is None:
                assert taken
                assert got == np.iinfo(np.int64).max
            else:
                assert got == value + int(gain[i]) - best


@settings(max_examples=40, deadline=None)
@given(gap_instances(), st.data())
def test_placed_values_match_brute_force(
    arrays: tuple[Any, Any, Any], data: st.DataObject
) -> None:
    """L(u) with job j placed on agent i equals sum(u) less every agent's best knapsack
    by brute force (agent i taking j, the others leaving it)."""
    cost, weight, capacity = arrays
    m, n = cost.shape
    scaled_u = data.draw(_ints((n,), -60 * MULTIPLIER_SCALE, 60 * MULTIPLIER_SCALE))
    placed = placed_values(cost, weight, capacity, scaled_u)
    profit = scaled_u[None, :] - MULTIPLIER_SCALE * cost
    for i, j in itertools.product(range(m), range(n)):
        bests = [
            _best_subset(profit[k], weight[k], int(capacity[k]), j, k == i)
            for k in range(m)
        ]
        if bests[i] is None:
            assert placed[i, j] == np.iinfo(np.int64).max
        else:
            assert placed[i, j] == int(scaled_u.sum()) - sum(
                b for b in bests if b is not None
            )


def _plans(inst: GapInstance) -> list[tuple[int, Any]]:
    """Every plan that fits, with its cost."""
    m, n = inst.cost.shape
    jobs = np.arange(n)
    out = []
    for agents in itertools.product(range(m), repeat=n):
        a = np.array(agents, np.int64)
        if plan_fits(inst, a):
            out.append((int(inst.cost[a, jobs].sum()), a))
    return out


@settings(max_examples=60, deadline=None)
@given(gap_instances(), st.integers(0, 40), st.booleans(), st.data())
def test_fixing_keeps_every_plan_cheaper_than_the_given_cost(
    arrays: tuple[Any, Any, Any], above: int, converged: bool, data: st.DataObject
) -> None:
    """For multipliers from column generation or drawn at random, and any cost above
    the optimum: every plan cheaper than it uses only pairs ``allowed_pairs`` keeps (so
    the optimum is never removed)."""
    inst = GapInstance(*arrays)
    plans = _plans(inst)
    if not plans:
        return
    n = inst.cost.shape[1]
    if converged:
        lag = lagrangian_bound(inst.cost, inst.weight, inst.capacity, 5.0)
        assert lag is not None
        scaled_u = lag.scaled_u
    else:
        scaled_u = data.draw(_ints((n,), -60 * MULTIPLIER_SCALE, 60 * MULTIPLIER_SCALE))
    upper = min(total for total, _ in plans) + above
    allowed = allowed_pairs(inst.cost, inst.weight, inst.capacity, scaled_u, upper)
    for total, agent in plans:
        if total < upper:
            assert allowed[agent, np.arange(n)].all()


def test_fixing_removes_pairs_when_the_plan_is_close_to_the_bound() -> None:
    """Chu & Beasley type C, 20 x 100 (seed 1): a cost 6 above the converged
    Lagrangian bound leaves under a third of the 2,000 pairs."""
    inst = chu_beasley("C", 20, 100, np.random.default_rng(1))
    lag = lagrangian_bound(inst.cost, inst.weight, inst.capacity, 120.0)
    assert lag is not None
    assert lag.converged
    allowed = allowed_pairs(
        inst.cost, inst.weight, inst.capacity, lag.scaled_u, lag.bound + 6
    )
    assert allowed.sum() < 2000 / 3
    assert allowed.any(axis=0).all()  # every job keeps an agent


@settings(max_examples=40, deadline=None)
@given(
    plans_that_fit(max_agents=3, max_jobs=7),
    st.booleans(),
    st.sampled_from(["jobs", "agents", "slack"]),
)
def test_lns_reaches_the_optimum_of_small_instances(
    case: tuple[GapInstance, Any], lagrangian: bool, mode: str
) -> None:
    """With fewer jobs (or agents, ``by_agents``, drawn uniformly or by their slack)
    than a round frees, LNS re-solves the whole instance: its plan fits, costs no more
    than the start and is optimal (brute force), also when pruned by multipliers and
    fixing; it stops early on that proof."""
    inst, start = case
    n = inst.cost.shape[1]
    jobs = np.arange(n)
    begin = int(inst.cost[start, jobs].sum())
    scaled_u = allowed = None
    if lagrangian:
        lag = lagrangian_bound(inst.cost, inst.weight, inst.capacity, 5.0)
        assert lag is not None
        scaled_u = lag.scaled_u
        allowed = allowed_pairs(inst.cost, inst.weight, inst.capacity, scaled_u, begin)
    t0 = time.perf_counter()
    res = lns_improve(
        inst.cost,
        inst.weight,
        inst.capacity,
        start,
        deadline=t0 + 30.0,
        scaled_u=scaled_u,
        allowed=allowed,
        by_agents=mode != "jobs",
        by_slack=mode == "slack",
    )
    assert time.perf_counter() - t0 < 20.0  # stopped on the proof, not the deadline
    assert plan_fits(inst, res.agent)
    total = int(inst.cost[res.agent, jobs].sum())
    assert total <= begin
    assert total == _brute_force(inst)


@settings(max_examples=40, deadline=None)
@given(plans_that_fit(max_agents=4, max_jobs=8), st.booleans())
def test_lns_goes_on_from_a_cheaper_plan_it_adopts(
    case: tuple[GapInstance, Any], by_agents: bool
) -> None:
    """``adopt`` hears the cost of the plan LNS holds; a cheaper plan it gives (here
    local search's from the same start) is the one LNS goes on from: after one round
    from it (``stop`` is set at once) the result fits and costs no more than it; each
    plan ``on_plan`` hears fits and costs what it says."""
    inst, start = case
    jobs = np.arange(inst.cost.shape[1])
    other, _ = improve(inst.cost, inst.weight, inst.capacity, start, time_limit_s=10)
    stop = threading.Event()
    asked: list[int] = []

    def adopt(value: int) -> Any:
        asked.append(value)
        stop.set()  # the round under way is the last
        return other if int(inst.cost[other, jobs].sum()) < value else None

    told: list[tuple[int, Any]] = []
    res = lns_improve(
        inst.cost,
        inst.weight,
        inst.capacity,
        start,
        deadline=time.perf_counter() + 30.0,
        stop=stop,
        adopt=adopt,
        on_plan=lambda value, plan: told.append((value, plan)),
        by_agents=by_agents,
    )
    assert asked == [int(inst.cost[start, jobs].sum())]
    assert plan_fits(inst, res.agent)
    assert int(inst.cost[res.agent, jobs].sum()) <= int(inst.cost[other, jobs].sum())
    for value, plan in told:
        assert plan_fits(inst, plan)
        assert value == int(inst.cost[plan, jobs].sum())


@pytest.mark.slow  # three LNS runs on a type D plan (~6.5 s each): the slow step's
@pytest.mark.parametrize("mode", ["jobs", "agents", "slack"])
def test_lns_improves_a_type_d_plan_and_reports_each_step(mode: str) -> None:
    """Chu & Beasley type D, 10 x 60 (seed 1), from CP-SAT's plan after 1 s: LNS (random
    jobs, or every job of a few agents freed, drawn uniformly or by their slack at the
    converged multipliers) lowers the cost, each reported cost is a plan it held (the
    last one its result) and the plan fits."""
    inst = chu_beasley("D", 10, 60, np.random.default_rng(1))
    n = inst.cost.shape[1]
    jobs = np.arange(n)
    first = solve_gap(
        inst,
        time_limit_s=1.0,
        num_workers=1,
        lagrangian=False,
        highs=False,
        local_search=False,
        lns=False,
    )
    assert first.status is SolveStatus.FEASIBLE
    lag = lagrangian_bound(inst.cost, inst.weight, inst.capacity, 60.0)
    assert lag is not None
    heard: list[int] = []
    res = lns_improve(
        inst.cost,
        inst.weight,
        inst.capacity,
        first.agent,
        deadline=time.perf_counter() + 5.0,
        on_plan=lambda value, _plan: heard.append(value),
        by_agents=mode != "jobs",
        by_slack=mode == "slack",
        scaled_u=lag.scaled_u if mode == "slack" else None,
    )
    total = int(inst.cost[res.agent, jobs].sum())
    assert res.improvements == len(heard) > 0
    assert heard == sorted(heard, reverse=True)
    assert heard[-1] == total < first.objective
    assert plan_fits(inst, res.agent)


@settings(max_examples=60, deadline=None)
@given(plans_that_fit(), st.data())
def test_slacks_add_up_to_the_plan_less_the_lagrangian_value(
    case: tuple[GapInstance, Any], data: st.DataObject
) -> None:
    """For any multipliers, each agent's slack under a plan that fits is >= 0 and they
    add up to the plan's cost less L(u) (both x ``MULTIPLIER_SCALE``): what LNS's
    ``by_slack`` draws agents by."""
    inst, plan = case
    m, n = inst.cost.shape
    scaled_u = np.array(
        data.draw(st.lists(st.integers(-40_000, 40_000), min_size=n, max_size=n)),
        np.int64,
    )
    value, _ = lagrangian_value(inst.cost, inst.weight, inst.capacity, scaled_u)
    gain, _ = knapsacks(
        scaled_u[None, :] - MULTIPLIER_SCALE * inst.cost, inst.weight, inst.capacity
    )
    slack = slacks(inst.cost, scaled_u, plan, gain)
    assert slack.shape == (m,)
    assert np.all(slack >= 0)
    total = int(inst.cost[plan, np.arange(n)].sum())
    assert MULTIPLIER_SCALE * total == value + int(slack.sum())
