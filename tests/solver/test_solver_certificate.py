"""The certified sparse solve equals the all-pairs optimum, on random and adversarial regions.

Adversarial families (where k-nearest pruning alone lost up to 6% with status OPTIMAL):
technicians 40-90 km from the tickets, SLA response due between 10 minutes ago and 40
minutes from now, and far more tickets than queue places. The regions are larger than
``DENSE_PAIRS_MAX`` pairs, so the candidates really are pruned.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import Problem, SolveParams, SolveStatus, certify, solve
from solver.candidates import Candidates, build_candidates, skill_groups
from solver.certify import (
    TECH_BLOCK,
    TICKET_BLOCKS_FROM,
    PairBound,
    PairPrice,
    negative_pairs,
    potentials,
    pricing_groups,
)
from solver.constants import COST_SCALE, DENSE_PAIRS_MAX
from solver.core import Core, _flow, _merged
from solver.cost import drop_penalty, evaluate_pairs, pair_keys, to_scaled
from solver.geo import unit_vectors
from solver.solve import tech_state
from solver.synthetic import random_problem
from tests.solver import builders as b

if TYPE_CHECKING:
    from solver.certify import PricingGroup
    from solver.cost import TechState
    from solver.flow import FlowResult

KM_PER_DEG = 111.0


def adversarial(
    seed: int,
    n: int,
    m: int,
    away_km: float,
    due_min: tuple[float, float] = (-10.0, 40.0),
    capacity: int = 2,
) -> Problem:
    """A seeded region whose technicians sit ``away_km`` north-east of the tickets."""
    p = random_problem(n, m, seed=seed, capacity=capacity, shift_h=12)
    rng = np.random.default_rng(seed + 1)
    k, t = p.technicians, p.tickets
    dlat = away_km / KM_PER_DEG * 0.8
    dlon = away_km / KM_PER_DEG * 0.6 / np.cos(np.radians(42.36))
    due = p.now_s + 60.0 * rng.uniform(*due_min, n)
    return replace(
        p,
        technicians=replace(k, lat_deg=k.lat_deg + dlat, lon_deg=k.lon_deg + dlon),
        tickets=replace(
            t, response_due_s=due, resolution_due_s=due + t.duration_s + 1800.0
        ),
    )


def assert_certified_equals_all_pairs(p: Problem, params: SolveParams) -> None:
    """The certified sparse flow equals the all-pairs flow. ``params`` has
    ``position_rounds=0``: the certificate is about the first-in-queue flow model; the
    position rounds after it are tested in test_solver_position.py."""
    assert params.position_rounds == 0
    assert p.tickets.count * p.technicians.count > DENSE_PAIRS_MAX
    params = replace(params, polish=False)  # the exact core's plan: polish leaves it
    sparse = solve(p, params)
    full = solve(p, replace(params, all_pairs=True))
    cert = sparse.stats.certificate
    assert cert is not None
    assert cert.certified
    assert cert.pairs_priced > 0
    assert sparse.stats.status is SolveStatus.OPTIMAL
    # Both are optimal over the same integer-scaled model: the unscaled objectives can
    # differ only by the rounding of the scaling rule (half a unit per arc).
    tol = p.tickets.count * 0.5 / COST_SCALE
    assert sparse.stats.model_objective == pytest.approx(
        full.stats.model_objective, abs=tol, rel=0
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("away_km", [40.0, 65.0, 90.0])
def test_certified_equals_all_pairs_far_technicians(seed: int, away_km: float) -> None:
    p = adversarial(seed, 600, 60, away_km)
    assert_certified_equals_all_pairs(
        p, SolveParams(allow_overtime=True, position_rounds=0)
    )


@pytest.mark.parametrize("seed", range(3))
def test_certified_equals_all_pairs_tight_sla_overloaded(seed: int) -> None:
    p = adversarial(seed, 900, 50, 0.0, capacity=1)
    assert_certified_equals_all_pairs(
        p, SolveParams(allow_overtime=True, candidates_k=2, position_rounds=0)
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(300, 500),
    m=st.integers(90, 120),
    away_km=st.floats(0.0, 90.0),
    k=st.integers(1, 8),
    capacity=st.integers(1, 4),
)
def test_certified_equals_all_pairs_random(
    seed: int, n: int, m: int, away_km: float, k: int, capacity: int
) -> None:
    p = adversarial(seed, n, m, away_km, capacity=capacity)
    assert_certified_equals_all_pairs(
        p, SolveParams(allow_overtime=True, candidates_k=k, position_rounds=0)
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(200, 400),
    m=st.integers(40, 90),
    away_km=st.floats(0.0, 90.0),
    k=st.integers(1, 6),
    capacity=st.integers(1, 3),
    nowhere=st.floats(0.0, 0.2),
    overtime=st.booleans(),
    slack_units=st.sampled_from([0.0, 50.0, 150.0]),
)
def test_pricing_finds_what_pricing_every_pair_finds(
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
    """The bounds of ``negative_pairs`` only skip pairs that cannot qualify: against the
    potentials of a real sparse flow, it returns exactly the pairs that evaluating every
    (ticket, technician) pair of every skill group finds (not an arc, feasible, cheaper
    than the unassigned arc, reduced cost below the slack), some tickets and technicians
    without a location included."""
    p = _partly_located(
        adversarial(seed, n, m, away_km, capacity=capacity), nowhere, seed
    )
    params = SolveParams(allow_overtime=overtime, candidates_k=k)
    core, groups, keys, pot = _first_flow(p, params)
    slack = slack_units * COST_SCALE
    pricing = pricing_groups(core.state, groups)
    *_, priced, _, neg = _round_finds_every_pair(
        p, params, core, groups, pricing, keys, pot, slack
    )
    assert priced == sum(r.size * e.size for r, e in groups)
    assert neg >= 0


@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(100, 200),
    m=st.integers(3_300, 3_800),
    away_km=st.floats(0.0, 90.0),
    nowhere=st.floats(0.0, 0.1),
    slack_units=st.sampled_from([0.0, 150.0]),
)
def test_pricing_in_ticket_blocks_finds_what_pricing_every_pair_finds(
    seed: int, n: int, m: int, away_km: float, nowhere: float, slack_units: float
) -> None:
    """Against many technicians (``TICKET_BLOCKS_FROM`` blocks or more in a skill
    group), tickets are bounded in blocks before one by one: the pairs returned are
    still exactly those that evaluating every pair finds, in the first round and in a
    later one (``since``)."""
    p = _partly_located(adversarial(seed, n, m, away_km, capacity=1), nowhere, seed)
    params = SolveParams(allow_overtime=True, candidates_k=2)
    core, groups, keys, pot = _first_flow(p, params)
    assert max(-(-e.size // TECH_BLOCK) for _, e in groups) >= TICKET_BLOCKS_FROM
    slack, pricing = slack_units * COST_SCALE, pricing_groups(core.state, groups)
    nt, nk, nc, _, _, neg = _round_finds_every_pair(
        p, params, core, groups, pricing, keys, pot, slack
    )
    assert neg >= 0
    _assert_next_round_finds_every_pair(
        p, params, core, groups, pricing, (nt, nk, nc), pot, slack
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(200, 400),
    m=st.integers(40, 90),
    away_km=st.floats(0.0, 90.0),
    k=st.integers(1, 6),
    capacity=st.integers(1, 3),
    nowhere=st.floats(0.0, 0.2),
    slack_units=st.sampled_from([0.0, 50.0, 150.0]),
)
def test_a_later_round_prices_what_moved_and_finds_what_every_pair_finds(
    seed: int,
    n: int,
    m: int,
    away_km: float,
    k: int,
    capacity: int,
    nowhere: float,
    slack_units: float,
) -> None:
    """The second round of a certification (the pairs the first one found added as arcs,
    the flow solved again) prices only the pairs whose ticket potential rose more than
    their technician's since the first (``since``), and still returns exactly the pairs
    that evaluating every pair against the new potentials finds."""
    p = _partly_located(
        adversarial(seed, n, m, away_km, capacity=capacity), nowhere, seed
    )
    params = SolveParams(allow_overtime=True, candidates_k=k)
    core, groups, keys, first = _first_flow(p, params)
    state, slack = core.state, slack_units * COST_SCALE
    pricing = pricing_groups(state, groups)
    nt, nk, nc, _, _, _ = negative_pairs(p, params, state, pricing, keys, *first, slack)
    neg = _assert_next_round_finds_every_pair(
        p, params, core, groups, pricing, (nt, nk, nc), first, slack
    )
    assert neg >= 0


def _held(p: Problem, seed: int, held: float, pinned: float) -> Problem:
    """``p`` with a fraction ``held`` of its tickets held by a random technician (each
    of those pinned with probability ``pinned``): moving one pays the stability term."""
    rng = np.random.default_rng(seed + 2)
    t, n = p.tickets, p.tickets.count
    on = rng.random(n) < held
    holder = np.where(on, rng.integers(0, p.technicians.count, n), -1)
    return replace(
        p,
        tickets=replace(
            t, current_technician=holder, pinned=on & (rng.random(n) < pinned)
        ),
    )


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(200, 400),
    m=st.integers(40, 90),
    away_km=st.floats(0.0, 90.0),
    k=st.integers(1, 6),
    held=st.floats(0.1, 0.9),
    pinned=st.floats(0.0, 0.3),
    slack_units=st.sampled_from([0.0, 150.0, 1000.0]),
)
def test_pricing_with_held_tickets_finds_what_pricing_every_pair_finds(
    seed: int,
    n: int,
    m: int,
    away_km: float,
    k: int,
    held: float,
    pinned: float,
    slack_units: float,
) -> None:
    """With held tickets (some pinned), whose moves the pair bound charges the stability
    term, ``negative_pairs`` still returns exactly the pairs that evaluating every pair
    finds, in the first round and in a later one (``since``)."""
    p = _held(adversarial(seed, n, m, away_km, capacity=3), seed, held, pinned)
    params = SolveParams(allow_overtime=True, candidates_k=k)
    core, groups, keys, first = _first_flow(p, params)
    state, slack = core.state, slack_units * COST_SCALE
    pricing = pricing_groups(state, groups)
    nt, nk, nc, _, _, neg = _round_finds_every_pair(
        p, params, core, groups, pricing, keys, first, slack
    )
    assert neg >= 0
    _assert_next_round_finds_every_pair(
        p, params, core, groups, pricing, (nt, nk, nc), first, slack
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    away_km=st.floats(0.0, 90.0),
    held=st.floats(0.1, 0.9),
    pinned=st.floats(0.0, 0.3),
    nowhere=st.floats(0.0, 0.2),
)
def test_pair_bound_is_below_the_first_in_queue_cost_of_held_tickets(
    seed: int, away_km: float, held: float, pinned: float, nowhere: float
) -> None:
    """Every movable pair's first-in-queue cost (:func:`solver.cost.evaluate_pairs`) is
    at least its :class:`solver.certify.PairBound`, less the preference bonus the
    pricing adds to its thresholds, with held and pinned tickets: the bound charges the
    stability term to exactly the moves of held, unpinned tickets."""
    p = _partly_located(
        _held(adversarial(seed, 120, 40, away_km, capacity=3), seed, held, pinned),
        nowhere, seed,
    )  # fmt: skip
    params = SolveParams(allow_overtime=True)
    w = params.weights
    state = tech_state(p, w)
    n, m = p.tickets.count, p.technicians.count
    movable = np.flatnonzero(~p.tickets.pinned)
    tix, tech = np.repeat(movable, m), np.tile(np.arange(m), movable.size)
    ev, _ = evaluate_pairs(p, w, state, tix, tech, True)
    t_vec = unit_vectors(p.tickets.lat_deg, p.tickets.lon_deg)
    k_vec = unit_vectors(state.lat_deg, state.lon_deg)
    chord = np.linalg.norm(t_vec[tix] - k_vec[tech], axis=1)
    chord *= np.any(t_vec[tix] != 0, axis=1) & np.any(k_vec[tech] != 0, axis=1)
    bound = PairBound.of(p, w, state).at(tix, tech, np.maximum(chord - 1e-7, 0.0))
    bonus = np.zeros(n)
    bonus[p.tickets.preferred[:, 0]] = w.preference
    above = bound <= COST_SCALE * (ev.total + bonus[tix]) + 1e-6 * np.abs(bound)
    assert np.all(above)


@given(
    keys=st.lists(st.integers(0, 50), max_size=40),
    more=st.lists(st.integers(0, 50), max_size=10),
)
def test_merged_keys_are_the_sorted_keys_of_both(
    keys: list[int], more: list[int]
) -> None:
    """The arc keys a certification keeps from round to round (the new pairs' sorted
    keys merged in) are what sorting every arc's key again gives, repeated keys too."""
    a, b = np.sort(np.asarray(keys, np.int64)), np.sort(np.asarray(more, np.int64))
    assert np.array_equal(_merged(a, b), np.sort(np.concatenate([a, b])))


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(200, 400),
    m=st.integers(40, 90),
    away_km=st.floats(0.0, 90.0),
    k=st.integers(1, 6),
    nowhere=st.floats(0.0, 0.2),
    slack_units=st.sampled_from([0.0, 150.0]),
    later=st.booleans(),
)
def test_pricing_groups_side_by_side_return_what_one_by_one_returns(
    seed: int,
    n: int,
    m: int,
    away_km: float,
    k: int,
    nowhere: float,
    slack_units: float,
    later: bool,
) -> None:
    """The skill groups priced on ``PRICING_THREADS`` threads (here whatever the pairs,
    ``THREADED_FROM``) return the same pairs, in the same order, with the same costs and
    counts as priced one after the other, in a first round and in a later one
    (``since``)."""
    p = _partly_located(adversarial(seed, n, m, away_km), nowhere, seed)
    params = SolveParams(allow_overtime=True, candidates_k=k)
    core, groups, keys, pot = _first_flow(p, params)
    pricing = pricing_groups(core.state, groups)
    assert len(pricing) > 1
    slack = slack_units * COST_SCALE
    since = None
    if later:  # potentials that moved: the tickets' raised, some technicians' too
        rng = np.random.default_rng(seed)
        since = (
            pot[0] - rng.uniform(0.0, 3.0 * slack + 1.0, pot[0].size),
            pot[1] + rng.uniform(-slack, slack + 1.0, pot[1].size),
        )

    def price() -> tuple:
        return negative_pairs(
            p, params, core.state, pricing, keys, *pot, slack, since=since
        )

    threads, threaded_from = certify.PRICING_THREADS, certify.THREADED_FROM
    assert threads > 1
    try:
        certify.PRICING_THREADS = 1
        alone = price()
        certify.PRICING_THREADS, certify.THREADED_FROM = threads, 0  # however small
        side = price()
    finally:
        certify.PRICING_THREADS, certify.THREADED_FROM = threads, threaded_from
    for one, two in zip(alone[:3], side[:3], strict=True):
        np.testing.assert_array_equal(one, two)
    assert alone[3:] == side[3:]


def _partly_located(p: Problem, nowhere: float, seed: int) -> Problem:
    """``p`` with about a ``nowhere`` share of its tickets and technicians unlocated."""
    n, m = p.tickets.count, p.technicians.count
    rng = np.random.default_rng(seed)
    t, kk = p.tickets, p.technicians
    t_off, k_off = rng.random(n) < nowhere, rng.random(m) < nowhere
    return replace(
        p,
        tickets=replace(
            t,
            lat_deg=np.where(t_off, np.nan, t.lat_deg),
            lon_deg=np.where(t_off, np.nan, t.lon_deg),
        ),
        technicians=replace(
            kk,
            lat_deg=np.where(k_off, np.nan, kk.lat_deg),
            lon_deg=np.where(k_off, np.nan, kk.lon_deg),
        ),
    )


def _potentials(core: Core, res: FlowResult) -> tuple[np.ndarray, np.ndarray]:
    c, state = core.cands, core.state
    pot = potentials(
        core.problem.tickets.count, c.tix, c.tech, core.arc_cost, res.arc_used,
        core.penalty, core.free, state.load, core.balance_scaled,
    )  # fmt: skip
    assert pot is not None
    return pot


def _first_flow(
    p: Problem, params: SolveParams
) -> tuple[Core, list[tuple[np.ndarray, np.ndarray]], np.ndarray, tuple]:
    """The sparse flow's core, the skill groups, sorted arc keys and potentials."""
    state = tech_state(p, params.weights)
    movable = np.flatnonzero(~p.tickets.pinned)
    core = Core.build(p, params, state, build_candidates(p, params, state, movable))
    pot = _potentials(core, _flow(core))
    groups = skill_groups(p, state, movable)
    c = core.cands
    keys = np.sort(pair_keys(c.tix, c.tech, p.technicians.count))
    return core, groups, keys, pot


def _assert_next_round_finds_every_pair(
    p: Problem,
    params: SolveParams,
    core: Core,
    groups: list[tuple[np.ndarray, np.ndarray]],
    pricing: list[PricingGroup],
    added: tuple[np.ndarray, np.ndarray, np.ndarray],
    first: tuple[np.ndarray, np.ndarray],
    slack: float,
) -> int:
    """A later round of a certification: the pairs ``added`` (tickets, technicians,
    costs) become arcs, the flow is solved again, and ``negative_pairs``, pricing only
    what moved since the ``first`` potentials, returns exactly the pairs that evaluating
    every pair against the new potentials finds. Returns that pricing's negative count
    (``negative_pairs``)."""
    nt, nk, nc = added
    c = core.cands
    core.cands = Candidates(
        np.concatenate([c.tix, nt]), np.concatenate([c.tech, nk]),
        np.concatenate([c.cost, nc]), c.any_feasible,
    )  # fmt: skip
    core.arc_cost = np.concatenate([core.arc_cost, to_scaled(nc)])
    pot = _potentials(core, _flow(core))
    keys = np.sort(pair_keys(core.cands.tix, core.cands.tech, p.technicians.count))
    return _round_finds_every_pair(
        p, params, core, groups, pricing, keys, pot, slack, since=first
    )[5]


def _round_finds_every_pair(
    p: Problem,
    params: SolveParams,
    core: Core,
    groups: list[tuple[np.ndarray, np.ndarray]],
    pricing: list[PricingGroup],
    keys: np.ndarray,
    pot: tuple[np.ndarray, np.ndarray],
    slack: float,
    since: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
    """One pricing round (``negative_pairs`` against ``pot``, since the potentials
    ``since`` when given), checked to return exactly the pairs that evaluating every
    pair finds; its returns."""
    out = negative_pairs(p, params, core.state, pricing, keys, *pot, slack, since=since)
    found = set(zip(out[0].tolist(), out[1].tolist(), strict=True))
    assert found == _every_pair_finds(p, params, core.state, groups, keys, pot, slack)
    return out


def _every_pair_finds(
    p: Problem,
    params: SolveParams,
    state: TechState,
    groups: list[tuple[np.ndarray, np.ndarray]],
    keys: np.ndarray,
    pot: tuple[np.ndarray, np.ndarray],
    slack: float,
    price: PairPrice | None = None,
) -> set[tuple[int, int]]:
    """The pairs of ``groups`` not in ``keys``, feasible, cheaper than the unassigned
    arc, with a reduced cost below ``slack``: by evaluating every pair (first in queue
    in ``state``, or by ``price``)."""
    m = p.technicians.count
    expected: set[tuple[int, int]] = set()
    pen = drop_penalty(p, params.weights)
    for rows, elig in groups:
        tix, tech = np.repeat(rows, elig.size), np.tile(elig, rows.size)
        if price is None:
            ev, _ = evaluate_pairs(
                p, params.weights, state, tix, tech, params.allow_overtime
            )
            total, ok = ev.total, ev.feasible
        else:
            total, ok = price(tix, tech)
        red = to_scaled(total) + pot[1][tech] - pot[0][tix]
        new = ~np.isin(pair_keys(tix, tech, m), keys)
        good = new & ok & (total < pen[tix]) & (red < slack)
        expected |= set(zip(tix[good].tolist(), tech[good].tolist(), strict=True))
    return expected


def test_pricing_finds_a_pair_at_the_technicians_own_location() -> None:
    """A ticket exactly where its technician is, one scaled unit below the threshold,
    is found: the chord of two equal unit vectors, from their dot product, is not 0 in
    float64 (about 2e-8 here), and the pair bound must not turn that into a cost."""
    lat = next(
        la
        for la in 42.36 + 1e-3 * np.arange(1000)
        if float(np.sum(unit_vectors(np.array([la]), np.array([-71.06]))[0] ** 2)) < 1.0
    )
    p = b.problem(
        b.tickets(1, lat_deg=[lat], lon_deg=[-71.06]),
        b.technicians(1, lat_deg=[lat], lon_deg=[-71.06], free_at_s=[600.0]),
    )
    params = SolveParams()
    state = tech_state(p, params.weights)
    one = np.array([0])
    ev, _ = evaluate_pairs(p, params.weights, state, one, one, False)
    assert ev.feasible[0]
    assert ev.travel_s[0] == 0.0
    d_ticket = to_scaled(ev.total).astype(np.float64) + 1.0  # reduced cost -1
    nt, nk, _, _, _, neg = negative_pairs(
        p, params, state, pricing_groups(state, [(one, one)]),
        np.zeros(0, np.int64), d_ticket, np.zeros(1),
    )  # fmt: skip
    assert (nt.tolist(), nk.tolist(), neg) == ([0], [0], 1)
