"""Ruin and recreate (solver.recreate): batch planning's re-packing of neighbouring queues."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import CostWeights, SolveParams, solve
from solver.baselines import baseline_solve
from solver.cost import late_pricing, late_seconds
from solver.polish import driven_cost, plan_cost, polish
from solver.position import movable_plan, plan_queues
from solver.recreate import missed_if_left_out, recreate
from solver.solve import tech_state
from solver.synthetic import random_problem

if TYPE_CHECKING:
    from solver import Problem
    from solver.cost import LatePricing, TechState


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 10_000),
    st.booleans(),
    st.sampled_from(["nearest", "round_robin", "least_loaded"]),
    st.integers(0, 3),
)
def test_recreate_keeps_every_rule_and_never_costs_more(
    seed: int, overtime: bool, start: str, rr_seed: int
) -> None:
    """From a baseline's plan: the cost as driven never rises; the plan misses no more
    tickets (served late, or left out while a due passes within the plan's horizon);
    capacity, skills, exclusions and shift ends hold; pinned tickets stay out and held
    ones stay where they are; a ticket the plan left out and recreate serves is on time;
    the same seed gives the same plan."""
    p = random_problem(
        80, 12, seed, assigned_frac=0.3, pinned_frac=0.1, radius_km=8, shift_h=4.0
    )
    w = CostWeights()
    t, k = p.tickets, p.technicians
    params = SolveParams(weights=w, allow_overtime=overtime)
    plan = baseline_solve(p, params, start)[0].technician.copy()
    plan[t.pinned] = -1
    state = tech_state(p, w)
    pricing = late_pricing(p, w)
    cost0 = driven_cost(p, w, pricing, state, plan, overtime)
    _, over0, _, _ = plan_cost(p, w, pricing, state, plan, overtime)
    after = recreate(p, w, pricing, state, plan, overtime, seed=rr_seed)
    again = recreate(p, w, pricing, state, plan, overtime, seed=rr_seed)
    np.testing.assert_array_equal(after, again)
    assert driven_cost(p, w, pricing, state, after, overtime) <= cost0 + 1e-6
    assert _missed(p, pricing, state, after) <= _missed(p, pricing, state, plan)
    _, over1, _, _ = plan_cost(p, w, pricing, state, after, overtime)
    if not overtime:
        assert not (over1 & ~over0).any()
    on = np.flatnonzero(after >= 0)
    assert not t.pinned[on].any()
    held = (t.current_technician >= 0) & ~t.pinned
    np.testing.assert_array_equal(after[held], plan[held])
    count = np.bincount(after[on], minlength=k.count)
    before = np.bincount(plan[plan >= 0], minlength=k.count)
    assert np.all(count <= np.maximum(state.free_slots, before))
    assert np.all((k.skill_levels[after[on]] >= t.skill_levels[on]).all(axis=1))
    ex = {(int(r), int(c)) for r, c in t.excluded}
    assert not any((int(r), int(after[r])) in ex for r in on if after[r] != plan[r])
    served = np.flatnonzero((plan < 0) & (after >= 0))
    rows, sch = plan_queues(p, pricing, state, after)
    at = np.searchsorted(rows, served)
    assert np.all(late_seconds(p, served, sch.start_s[at], sch.finish_s[at]) <= 0)


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.booleans())
def test_recreate_misses_no_more_tickets(seed: int, overtime: bool) -> None:
    """From a polished batch plan of a snapshot (scarce places, many tickets due): a
    re-packed neighbourhood is kept only when it serves late and leaves out while due no
    more tickets than before, whatever it saves in cost (cheaper plans that miss more
    exist: the unassigned penalty weighs priority, the count does not)."""
    p = random_problem(60, 6, seed)
    w = CostWeights()
    state, pricing = tech_state(p, w), late_pricing(p, w)
    plan = baseline_solve(p, SolveParams(weights=w), "nearest")[0].technician.copy()
    plan = polish(p, w, pricing, state, plan, overtime, inserts=True)
    after = recreate(p, w, pricing, state, plan, overtime)
    assert _missed(p, pricing, state, after) <= _missed(p, pricing, state, plan)


def _missed(
    p: Problem, pricing: LatePricing, state: TechState, plan: np.ndarray
) -> int:
    """Movable tickets the plan serves late, or leaves out while a due passes within its
    horizon (:func:`solver.recreate.missed_if_left_out`)."""
    rows, sch = plan_queues(p, pricing, state, plan)
    late = late_seconds(p, rows, sch.start_s, sch.finish_s) > 0
    out = (plan < 0) & ~p.tickets.pinned & missed_if_left_out(p)
    return int(late.sum() + out.sum())


def test_a_batch_plan_takes_a_chain_of_moves_polish_alone_misses() -> None:
    """Random snapshot 12 x 2 (seed 5), batch planning. Polish alone stops at tech 0:
    [0, 4], tech 1: [2, 6]: each single move costs more or overruns a shift (ticket 6
    behind 0 and 4 overruns tech 0's, swapping 0 and 6 overruns tech 1's, the P4 ticket 5
    in 6's place costs more). The chain of three (6 takes 0's place, 0 is left out, 5
    takes 6's place: tech 0 [4, 6], tech 1 [2, 5]) serves as many tickets, misses no more
    and drives less; re-packing both queues at once finds it. It needs the tickets left
    out too: with only tickets 0, 2, 4, 5 and 6 the flow finds that plan by itself."""
    p = random_problem(12, 2, seed=5)
    params = SolveParams(batch=True)
    w = params.weights
    sol = solve(p, params)
    state, pricing = tech_state(p, w), late_pricing(p, w)
    witness = np.full(12, -1, np.int64)
    witness[[4, 6]] = 0
    witness[[2, 5]] = 1
    plan = movable_plan(p, sol.technician)
    cost = driven_cost(p, w, pricing, state, witness, params.allow_overtime)
    assert driven_cost(p, w, pricing, state, plan, params.allow_overtime) <= cost
    assert _missed(p, pricing, state, plan) <= _missed(p, pricing, state, witness)
