"""The driven plan does not depend on the candidate pruning.

The first flow is certified over all pairs (test_solver_certificate.py). The phases after
it are too: each position round's flow is certified over all pairs at the places it
prices (:func:`solver.core.round_flow`), and polish moves along its neighbourhoods, not
the candidate arcs. So a sparse solve (``candidates_k``) and an all-pairs one return the
same plan, but where two optima of a flow tie and the two solves pick different ones.
Adversarial families as in test_solver_certificate.py: technicians 40-90 km from the
tickets, SLA due -10..+40 min, far more tickets than places.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import Problem, SolveParams, solve
from solver.certify import PairBound, negative_pairs, potentials
from solver.constants import COST_SCALE
from solver.core import (
    Core,
    _at_places,
    _flow_arcs,
    _round_arcs,
    certified_flow,
    flow_decision,
    round_flow,
)
from solver.cost import pair_keys
from solver.geo import unit_vectors
from solver.position import place_costs, plan_queues
from solver.solve import cold_core
from solver.synthetic import random_problem
from tests.solver.test_solver_certificate import (
    _every_pair_finds,
    _partly_located,
    adversarial,
)

CAPACITY_SHORT = [(2, 0.5), (1, 0.5), (0, 0.5), (2, 0.3), (2, 0.0)]
"""(seed, degrees north) of 857 tickets x 187 technicians, the technicians shifted north
(and 0.1 degree east when shifted), overtime allowed: where the driven plans of k = 8
and all pairs differed by -1.1% .. +0.9% while the certified flows were equal."""


def _shifted(seed: int, dlat: float) -> Problem:
    p = random_problem(857, 187, seed=seed, shift_h=12)
    k = p.technicians
    east = 0.1 if dlat > 0 else 0.0
    return replace(
        p, technicians=replace(k, lat_deg=k.lat_deg + dlat, lon_deg=k.lon_deg + east)
    )


def _assert_same_plan(p: Problem, params: SolveParams) -> None:
    sparse = solve(p, params)
    full = solve(p, replace(params, all_pairs=True))
    cert = sparse.stats.certificate
    assert cert is not None
    assert cert.certified
    assert cert.pairs_priced > 0  # the candidates really were pruned
    assert sparse.objective == pytest.approx(full.objective, rel=1e-12, abs=1e-6)
    np.testing.assert_array_equal(sparse.technician, full.technician)


@pytest.mark.parametrize(("seed", "dlat"), CAPACITY_SHORT)
def test_driven_plan_equals_all_pairs_capacity_short(seed: int, dlat: float) -> None:
    _assert_same_plan(_shifted(seed, dlat), SolveParams(allow_overtime=True))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("away_km", [40.0, 90.0])
def test_driven_plan_equals_all_pairs_far_technicians(
    seed: int, away_km: float
) -> None:
    p = adversarial(seed, 600, 60, away_km)
    _assert_same_plan(p, SolveParams(allow_overtime=True))


def _cores(
    p: Problem, params: SolveParams
) -> tuple[Core, Core, np.ndarray, tuple[np.ndarray, object]]:
    """A sparse and an all-pairs core after their first (certified) flows, and the
    sparse flow's plan with its sequenced queues."""
    sparse, _ = cold_core(p, params, time.perf_counter())
    full, _ = cold_core(p, replace(params, all_pairs=True), time.perf_counter())
    plan = flow_decision(sparse, certified_flow(sparse))
    certified_flow(full)
    assert sparse.certificate is not None
    assert sparse.certificate.certified
    assert sparse.certificate.rounds > 0  # priced: the candidates are pruned
    return sparse, full, plan, plan_queues(p, sparse.late, sparse.state, plan)


@pytest.mark.slow  # ~9-10 s: the slow step's (the default step is near 10 min)
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(300, 450),
    m=st.integers(100, 130),
    away_km=st.floats(0.0, 90.0),
    k=st.integers(1, 8),
    capacity=st.integers(1, 3),
    overtime=st.booleans(),
    assigned=st.sampled_from([0.0, 0.3]),
)
def test_round_flow_is_the_all_pairs_round_optimum(
    seed: int,
    n: int,
    m: int,
    away_km: float,
    k: int,
    capacity: int,
    overtime: bool,
    assigned: float,
) -> None:
    """On the same plan, a position round's flow in a sparse solve costs what the same
    round costs over every pair (the all-pairs solve's round): its certificate left no
    pair out that would lower it. Held tickets (the churn rule at places) included."""
    p = adversarial(seed, n, m, away_km, capacity=capacity)
    t = p.tickets
    held = np.random.default_rng(seed).random(n) < assigned
    cur = np.where(held, np.arange(n) % m, -1)
    p = replace(p, tickets=replace(t, current_technician=cur))
    params = SolveParams(allow_overtime=overtime, candidates_k=k)
    sparse, full, plan, queues = _cores(p, params)
    a, b = round_flow(sparse, plan, queues), round_flow(full, plan, queues)
    assert a is not None
    assert b is not None
    assert a[1].cost == b[1].cost


@pytest.mark.slow  # ~10 s: the slow step's (the default step is near 10 min)
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(300, 450),
    m=st.integers(100, 130),
    away_km=st.floats(0.0, 90.0),
    k=st.integers(1, 6),
    capacity=st.integers(1, 3),
    nowhere=st.floats(0.0, 0.2),
    overtime=st.booleans(),
    slack_units=st.sampled_from([0.0, 150.0]),
)
def test_pricing_at_places_finds_what_pricing_every_pair_finds(
    seed: int,
    n: int,
    m: int,
    away_km: float,
    k: int,
    capacity: int,
    nowhere: float,
    overtime: bool,
    slack_units: float,
) -> None:
    """Against the potentials of a position round's flow over the candidate arcs, the
    pricing at places (bounds from the places' ready times, :func:`_at_places`) returns
    exactly the pairs that pricing every (ticket, technician) pair of every skill group
    at its place finds: not an arc, feasible, cheaper than the unassigned arc, reduced
    cost below the slack. Some tickets and technicians without a location."""
    p = _partly_located(
        adversarial(seed, n, m, away_km, capacity=capacity), nowhere, seed
    )
    params = SolveParams(allow_overtime=overtime, candidates_k=k)
    sparse, _, plan, queues = _cores(p, params)
    groups = sparse.pricing
    sparse.pricing = None  # the round's flow over the candidates alone
    solved = round_flow(sparse, plan, queues)
    assert solved is not None
    trial, res = solved
    tix, tech, cost = _flow_arcs(trial, _round_arcs(trial))
    pot = potentials(
        n, tix, tech, cost, res.arc_used, trial.penalty, trial.free,
        trial.state.load, trial.balance_scaled,
    )  # fmt: skip
    assert pot is not None
    assert groups is not None
    bounds, price = _at_places(trial, plan, queues)
    c, slack = trial.cands, slack_units * COST_SCALE
    keys = np.sort(pair_keys(c.tix, c.tech, m))
    nt, nk, _, _, _, neg = negative_pairs(
        p, params, bounds, groups, keys, *pot, slack, pair_price=price
    )
    assert neg >= 0
    every = [(g.rows, g.elig) for g in groups]
    expected = _every_pair_finds(p, params, bounds, every, keys, pot, slack, price)
    assert set(zip(nt.tolist(), nk.tolist(), strict=True)) == expected


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    away_km=st.floats(0.0, 90.0),
    capacity=st.integers(1, 4),
    nowhere=st.floats(0.0, 0.2),
)
def test_place_costs_are_above_the_bound_at_the_places_ready_times(
    seed: int, away_km: float, capacity: int, nowhere: float
) -> None:
    """Every pair's cost at the place it would take in a plan's sequenced queues is at
    least the pair bound the pricing at places uses (:class:`PairBound` with the ready
    times of :func:`solver.certify.later_ready`), less the preference bonus the pricing
    adds to its thresholds. Not the plan's own pairs (priced at their sequenced times,
    maybe before the place a joining ticket takes): they are arcs, never priced."""
    p = _partly_located(
        adversarial(seed, 120, 40, away_km, capacity=capacity), nowhere, seed
    )
    params = SolveParams(allow_overtime=True)
    core, _ = cold_core(p, params, time.perf_counter())
    plan = flow_decision(core, certified_flow(core))
    queues = plan_queues(p, core.late, core.state, plan)
    bounds, _ = _at_places(core, plan, queues)
    n, m = p.tickets.count, p.technicians.count
    tix, tech = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    w = params.weights
    cost = place_costs(p, w, core.state, core.free, tix, tech, plan, queues)
    t_vec = unit_vectors(p.tickets.lat_deg, p.tickets.lon_deg)
    k_vec = unit_vectors(bounds.lat_deg, bounds.lon_deg)
    chord = np.linalg.norm(t_vec[tix] - k_vec[tech], axis=1)
    chord *= np.any(t_vec[tix] != 0, axis=1) & np.any(k_vec[tech] != 0, axis=1)
    bound = PairBound.of(p, w, bounds).at(tix, tech, np.maximum(chord - 1e-7, 0.0))
    bonus = np.zeros(n)
    bonus[p.tickets.preferred[:, 0]] = w.preference
    joins = plan[tix] != tech
    above = bound <= COST_SCALE * (cost + bonus[tix]) + 1e-6 * np.abs(bound)
    assert np.all(above[joins])
