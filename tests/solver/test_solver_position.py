"""Position-aware pricing (issue 13 item 6): a ticket is priced at the start it would
really get in its technician's sequenced queue, not as if it came first."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import CostWeights, Problem, SolveParams, SolveStatus, solve
from solver.candidates import build_candidates
from solver.constants import COST_SCALE
from solver.core import Core, _flow, worth_placing
from solver.cost import PAIR_TERMS, drop_penalty, terms_at
from solver.geo import next_location, travel_time_s
from solver.solve import tech_state
from solver.synthetic import random_problem
from tests.solver.builders import BOSTON, problem, technicians, tickets

if TYPE_CHECKING:
    from solver.model import Solution

KM_PER_DEG = 111.0
# the position rounds alone (polish, which runs after them: test_solver_polish.py)
POSITION = SolveParams(polish=False)
FIRST_IN_QUEUE = replace(POSITION, position_rounds=0)


def two_urgent_tickets() -> Problem:
    """Two 1-hour P3 tickets whose work must start within 40 minutes. Technician 0 is
    5 minutes away, technician 1 20 minutes away (30 km/h, road factor 1.3). In first
    place both are on time with technician 0, so first-in-queue pricing gives it both
    (15 minutes of travel saved outweigh the second place's balance cost); the second
    of them then starts after the first one's hour of work: 25 minutes late."""
    near = 2.5 / 1.3 / KM_PER_DEG  # 2.5 km of road
    far = 10.0 / 1.3 / KM_PER_DEG
    k = technicians(
        2,
        lat_deg=[BOSTON[0] + near, BOSTON[0] + far],
        lon_deg=[BOSTON[1], BOSTON[1]],
    )
    t = tickets(2, duration_s=[3600.0, 3600.0], response_due_s=[2400.0, 2400.0])
    return problem(t, k)


def test_first_in_queue_pricing_puts_the_second_ticket_in_a_breaching_place() -> None:
    sol = solve(two_urgent_tickets(), FIRST_IN_QUEUE)
    assert sol.technician.tolist() == [0, 0]
    assert sorted(sol.sla_met.tolist()) == [False, True]
    assert sol.stats.status is SolveStatus.OPTIMAL


def test_position_aware_pricing_saves_the_second_ticket() -> None:
    p = two_urgent_tickets()
    sol = solve(p, POSITION)
    assert sorted(sol.technician.tolist()) == [0, 1]
    assert sol.sla_met.all()
    # Above the certified first-in-queue optimum, and says so, with that optimum as bound.
    blind = solve(p, FIRST_IN_QUEUE)
    assert sol.stats.status is SolveStatus.FEASIBLE
    assert sol.stats.model_bound == pytest.approx(
        blind.stats.model_objective, abs=2 / COST_SCALE
    )
    assert sol.stats.model_gap_pct is not None
    assert sol.stats.model_gap_pct > 0


def test_a_third_place_breach_moves_to_a_free_technician() -> None:
    """Three urgent tickets, technician 0 near with three places, technician 1 far and
    idle: the third place breaches, the far technician is in time."""
    near = 1.0 / 1.3 / KM_PER_DEG
    far = 12.0 / 1.3 / KM_PER_DEG
    k = technicians(
        2, lat_deg=[BOSTON[0] + near, BOSTON[0] + far], lon_deg=[BOSTON[1]] * 2
    )
    t = tickets(3, duration_s=[1200.0] * 3, response_due_s=[2400.0] * 3)
    p = problem(t, k)
    blind = solve(p, FIRST_IN_QUEUE)
    assert blind.technician.tolist() == [0, 0, 0]
    assert not blind.sla_met.all()
    sol = solve(p, POSITION)
    assert sol.sla_met.all()
    assert sorted(sol.technician.tolist()) == [0, 0, 1]


def test_without_a_later_ticket_the_certified_plan_stays() -> None:
    """No deadlines: no ticket can be later in its queue than in first place, so the
    rounds do not run and the certified first-in-queue plan is returned, OPTIMAL."""
    p = random_problem(1500, 150, seed=4, capacity=3)
    t = p.tickets
    never = np.full(t.count, np.inf)
    p = replace(p, tickets=replace(t, response_due_s=never, resolution_due_s=never))
    sol = solve(p, replace(POSITION, allow_overtime=True))
    blind = solve(p, replace(FIRST_IN_QUEUE, allow_overtime=True))
    np.testing.assert_array_equal(sol.technician, blind.technician)
    assert sol.stats.status is SolveStatus.OPTIMAL


def driven_cost(p: Problem, params: SolveParams, sol: Solution) -> float:
    """The plan's cost as its queues run (movable tickets): each ticket's terms at the
    travel chained from the previous stop in ``sol.position`` order and its sequenced
    start and finish, the places' balance and the unassigned penalties."""
    t, w = p.tickets, params.weights
    state = tech_state(p, w)
    rows = np.flatnonzero((sol.technician >= 0) & ~t.pinned)
    rows = rows[np.lexsort((sol.position[rows], sol.technician[rows]))]
    tech = sol.technician[rows]
    lat, lon = state.lat_deg.copy(), state.lon_deg.copy()
    travel = np.zeros(rows.size)
    for i, (r, j) in enumerate(zip(rows.tolist(), tech.tolist(), strict=True)):
        travel[i] = travel_time_s(
            lat[j], lon[j], t.lat_deg[r], t.lon_deg[r], p.technicians.speed_kmh[j]
        )
        lat[j], lon[j] = next_location(lat[j], lon[j], t.lat_deg[r], t.lon_deg[r])
    terms = terms_at(p, w, rows, tech, travel, sol.start_s[rows], sol.finish_s[rows])
    pair = sum(float(np.sum(terms[name])) for name in PAIR_TERMS)
    count = np.bincount(tech, minlength=p.technicians.count)
    place = sum(
        w.balance * (state.load[j] + s)
        for j in range(count.size)
        for s in range(count[j])
    )
    off = (sol.technician < 0) & ~t.pinned
    return pair + place + float(drop_penalty(p, w)[off].sum())


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(20, 160),
    m=st.integers(3, 30),
    capacity=st.integers(1, 4),
    shift_h=st.floats(2.0, 10.0),
    due_min=st.floats(10.0, 240.0),
)
def test_position_rounds_never_drive_worse_and_keep_the_bound(
    seed: int, n: int, m: int, capacity: int, shift_h: float, due_min: float
) -> None:
    """Against the certified first-in-queue plan: the returned plan never costs more as
    its queues run; the bound is the same certified optimum; OPTIMAL only at gap 0."""
    p = random_problem(
        n, m, seed=seed, capacity=capacity, shift_h=shift_h, radius_km=10.0
    )
    rng = np.random.default_rng(seed)
    due = p.now_s + 60.0 * rng.uniform(0.0, due_min, n)
    p = replace(p, tickets=replace(p.tickets, response_due_s=due))
    blind = solve(p, FIRST_IN_QUEUE)
    sol = solve(p, POSITION)
    tol = n / COST_SCALE  # the scaling rule's rounding
    assert driven_cost(p, POSITION, sol) <= driven_cost(p, FIRST_IN_QUEUE, blind) + tol
    if blind.stats.model_bound is None:
        assert sol.stats.model_bound is None
    else:
        assert sol.stats.model_bound == pytest.approx(blind.stats.model_bound, abs=tol)
    if sol.stats.status is SolveStatus.OPTIMAL:
        assert sol.stats.model_gap_pct == pytest.approx(0.0, abs=1e-9)
    if not np.array_equal(sol.technician, blind.technician):
        assert sol.stats.status is not SolveStatus.OPTIMAL


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(20, 200),
    m=st.integers(2, 30),
    capacity=st.integers(1, 4),
    pinned_frac=st.floats(0.0, 0.5),
    balance=st.floats(0.0, 2_000.0),
    unassigned=st.floats(300.0, 7_200.0),
)
def test_arcs_worth_placing_keep_every_flow_optimum(
    seed: int,
    n: int,
    m: int,
    capacity: int,
    pinned_frac: float,
    balance: float,
    unassigned: float,
) -> None:
    """The position round's flow leaves out the arcs no optimum can use
    (:func:`solver.core.worth_placing`): same optimal cost, and the flow over every
    arc uses none of them."""
    p = random_problem(
        n, m, seed=seed, capacity=capacity, pinned_frac=pinned_frac, radius_km=60.0
    )
    weights = CostWeights(balance=balance, unassigned=unassigned)
    params = SolveParams(weights=weights)
    state = tech_state(p, params.weights)
    movable = np.flatnonzero(~p.tickets.pinned)
    core = Core.build(p, params, state, build_candidates(p, params, state, movable))
    worth = worth_placing(core)
    full, pruned = _flow(core), _flow(core, worth)
    assert pruned.status is full.status is SolveStatus.OPTIMAL
    assert pruned.cost == full.cost
    assert not np.any(full.arc_used & ~worth)
