"""Faster computations of the shift repair, refill and polish give what the computations
they replace give, bit for bit (the plans must not change)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import CostWeights, SolveParams
from solver.certify import (
    CHORD_ROUNDING,
    PAIR_CELLS,
    TECH_BLOCK,
    TICKET_BLOCK,
    _blocked_cells,
    _BlockedTechs,
    _distances,
    _lower_bound,
    _paired_distances,
    _passes,
    _ranges,
    _TechBlocks,
    _ticket_block_tables,
    _TicketTerms,
)
from solver.constants import (
    EARTH_RADIUS_KM,
    EXACT_SEQUENCE_MAX,
    PRIORITY_FACTOR,
    RISK_SHARE,
    ROAD_FACTOR,
)
from solver.core import Core, best_first, overrunning, refill
from solver.cost import (
    SKILL_FIT_BLOCK,
    LatePricing,
    TechState,
    deferred_cost,
    drop_penalty,
    late_pricing,
    pair_keys,
    reach_s,
    savable,
    skill_fit,
    skill_holding,
    skill_rows,
    state_vectors,
)
from solver.geo import next_location, travel_time_s, unit_vectors
from solver.local import local_resolve, places, places_total
from solver.model import Problem
from solver.ordering import (
    RADIX_FROM,
    distinct,
    distinct_inverse,
    stable_order,
)
from solver.polish import (
    _allowed,
    _among,
    _disjoint,
    _distinct,
    _neighbours,
    _Plan,
    move_pairs,
)
from solver.sequence import (
    _perms,
    queues_overrun,
    row_legs,
    sequence_queues,
    simulate,
    simulate_local,
)
from solver.solve import cold_core, tech_state
from solver.synthetic import random_problem


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 40),
    m=st.integers(4, 9),
    shift_h=st.sampled_from([1.0, 3.0, 6.0]),
    no_location=st.floats(0.0, 0.4),
)
def test_queues_overrun_is_the_sequencing_overrun(
    seed: int, n: int, m: int, shift_h: float, no_location: float
) -> None:
    """``queues_overrun`` (the refill's check) says a queue overruns exactly when its
    sequenced schedule (``sequence_queues`` without overtime) has an overrun, for queues
    of every length, longer than ``EXACT_SEQUENCE_MAX`` (sequenced by descent) included,
    tickets without a location included."""
    p = random_problem(n, m, seed, shift_h=shift_h, radius_km=30.0)
    rng = np.random.default_rng(seed)
    t = p.tickets
    gone = rng.random(n) < no_location
    t.lat_deg[gone] = np.nan
    t.lon_deg[gone] = np.nan
    w = CostWeights()
    state = tech_state(p, w)
    pricing = late_pricing(p, w)
    # windows and shift ends among the queues' finishes: orders wait differently, and
    # some orders of a queue fit the shift where others do not
    late_start = rng.uniform(0.0, 4 * 3600, n)
    t.window_start_s[:] = np.where(rng.random(n) < 0.5, late_start, -np.inf)
    p.technicians.shift_end_s[:] = (
        state.ready_s + rng.uniform(0.0, 2 * shift_h, m) * 3600
    )
    tech = rng.integers(0, m, n)
    if n > EXACT_SEQUENCE_MAX:  # one queue sequenced by descent
        tech[: EXACT_SEQUENCE_MAX + 1] = 0
    keep = rng.random(n) < 0.9
    rows = np.flatnonzero(keep)
    tech = tech[rows]
    at = (state.lat_deg, state.lon_deg, state.ready_s)
    sch = sequence_queues(p, pricing, rows, tech, *at, False)
    expected = np.bincount(tech[sch.overrun], minlength=m) > 0
    got = queues_overrun(p, pricing, rows, tech, *at)
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 40),
    m=st.integers(1, 8),
    edge=st.sampled_from([0.0, 0.5, 1.0, 1.5, 3.0]),
    clock=st.sampled_from([0.0, 1.7e9, 1e13]),
)
def test_overrunning_without_driving_the_sure_overruns_is_the_sequencing(
    seed: int, n: int, m: int, edge: float, clock: float
) -> None:
    """``overrunning`` decides the queues whose work alone ends past the shift without
    driving them: the same answer as ``queues_overrun`` driving every queue asked for,
    shift ends at, just above and just below a queue's work (the margin's edge), queues
    driven in their work alone (no location, no waiting), near and far clocks, empty
    queues and queues longer than ``EXACT_SEQUENCE_MAX`` included."""
    p = random_problem(n, m, seed, shift_h=3.0, radius_km=30.0)
    rng = np.random.default_rng(seed)
    t, k = p.tickets, p.technicians
    # tickets without location and open windows: queues whose drive is their work alone
    gone = rng.random(n) < 0.5
    t.lat_deg[gone] = t.lon_deg[gone] = np.nan
    t.window_start_s[rng.random(n) < 0.7] = -np.inf
    params = SolveParams()
    state = tech_state(p, params.weights)
    ready = state.ready_s + clock
    tech = rng.integers(-1, m, n)
    if n > EXACT_SEQUENCE_MAX:  # one queue sequenced by descent
        tech[: EXACT_SEQUENCE_MAX + 1] = 0
    work = np.bincount(tech[tech >= 0], t.duration_s[tech >= 0], minlength=m)
    # shift ends around each queue's work: some at it plus ``edge`` seconds, the others
    # anywhere to three hours later (their orders' travel and waiting decide)
    near = rng.random(m) < 0.6
    k.shift_end_s[:] = np.where(
        near, ready + work + edge * rng.choice([-1.0, 1.0], m),
        ready + work + rng.uniform(-3600.0, 3 * 3600.0, m),
    )  # fmt: skip
    state = TechState(state.lat_deg, state.lon_deg, ready, state.load, state.free_slots)
    core = Core.build(p, params, state, cold_core(p, params, 0.0)[0].cands)
    techs = rng.random(m) < 0.8
    rows = np.flatnonzero((tech >= 0) & techs[np.maximum(tech, 0)])
    expected = queues_overrun(
        p, core.late, rows, tech[rows], state.lat_deg, state.lon_deg, ready
    )
    np.testing.assert_array_equal(overrunning(core, tech, techs), expected)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 40),
    m=st.integers(1, 6),
    shape=st.sampled_from([(1, 1), (2, 2), (6, 3), (1, 5)]),
)
def test_drive_without_stops_gives_the_same_totals_and_starts(
    seed: int, n: int, m: int, shape: tuple[int, int]
) -> None:
    """A drive without the per-stop arrays (sequencing's permutations, polish's
    screening) gives the same overruns, lateness, travel and starts as a full drive."""
    p = random_problem(n, m, seed, shift_h=2.0)
    rng = np.random.default_rng(seed)
    w = CostWeights()
    state = tech_state(p, w)
    pricing = late_pricing(p, w)
    orders = rng.integers(0, n, (int(rng.integers(0, 30)), *shape))
    who = rng.permutation(orders.shape[0]) % m
    args = (who, state.lat_deg[who], state.lon_deg[who], state.ready_s[who])
    full = simulate(p, pricing, orders, *args)
    lean = simulate(p, pricing, orders, *args, False)
    for k in (0, 1, 2, 5, 7):  # overruns, lateness, travel, start per stop, risk
        np.testing.assert_array_equal(lean[k], full[k])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 40),
    m=st.integers(1, 8),
    hops=st.integers(1, 2),
    seed_arcs=st.sampled_from([None, 1, 2]),
    dead=st.floats(0.0, 0.6),
)
def test_local_resolve_with_live_arcs_is_the_resolve_of_those_arcs(
    seed: int, n: int, m: int, hops: int, seed_arcs: int | None, dead: float
) -> None:
    """The shift repair hands ``local_resolve`` every arc and the mask of the live ones:
    the same result as handing it the live arcs alone (the old copies)."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(0, 4 * n * m + 1))
    tix = np.sort(rng.integers(0, n, k))
    tech = rng.integers(0, m, k)
    cost = rng.integers(0, 5_000, k)
    penalty = rng.integers(1_000, 8_000, n)
    free = rng.integers(0, 4, m)
    load = rng.integers(0, 2, m)
    tech_of = np.where(rng.random(n) < 0.5, rng.integers(0, m, n), -1)
    seeds = np.flatnonzero(rng.random(n) < 0.3)
    live = rng.random(k) >= dead
    common = (penalty, free, load, 300.0, tech_of, seeds, hops, seed_arcs)
    got = local_resolve(tix, tech, cost, *common, live)
    expected = local_resolve(tix[live], tech[live], cost[live], *common)
    np.testing.assert_array_equal(got[0], expected[0])
    assert got[1:] == expected[1:]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(2**40), 2**40), max_size=300), st.integers(0, 3))
def test_polish_memo_keys_distinct_as_numpy_unique(keys: list[int], dup: int) -> None:
    """The polish memo's key dedup gives numpy.unique's distinct keys and inverse, and a
    position of each key (any of its copies)."""
    a = np.asarray(keys * (dup + 1), np.int64)
    uniq, first, back = _distinct(a)
    expected, inverse = np.unique(a, return_inverse=True)
    np.testing.assert_array_equal(uniq, expected)
    np.testing.assert_array_equal(back, inverse.reshape(-1))
    np.testing.assert_array_equal(a[first], uniq)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([0, 1, 7, RADIX_FROM - 1, RADIX_FROM, 3 * RADIX_FROM + 5]),
    bits=st.sampled_from([1, 8, 16, 17, 32, 33, 47, 48, 62]),
    repeats=st.booleans(),
    negative=st.booleans(),
)
def test_stable_order_is_the_stable_argsort(
    seed: int, size: int, bits: int, repeats: bool, negative: bool
) -> None:
    """The radix order of integer keys is numpy's stable argsort, equal keys in position
    order, at every key width (one to three 16-bit passes, the comparison sort past
    them) and with negative keys (the comparison sort)."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 2**bits, size, dtype=np.int64)
    if repeats and size:
        keys = keys[rng.integers(0, max(size // 4, 1), size)]
    if negative and size:
        keys[rng.integers(0, size)] = -1 - keys[0]
    expected = np.argsort(keys, kind="stable")
    np.testing.assert_array_equal(stable_order(keys), expected)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    bound=st.integers(1, 5_000),
    share=st.sampled_from([0.0, 0.01, 0.2, 1.0, 4.0]),
    narrow=st.booleans(),
)
def test_distinct_values_are_numpy_unique(
    seed: int, bound: int, share: float, narrow: bool
) -> None:
    """The distinct rows by a mask of their bound (and each row's index among them) are
    numpy.unique's, dtypes included, from a few values (numpy's unique then) to many
    repeats, spread over the bound or in a corner of it."""
    rng = np.random.default_rng(seed)
    top = max(bound // 50, 1) if narrow else bound
    values = rng.integers(0, top, int(bound * share), dtype=np.int64)
    uniq, inverse = np.unique(values, return_inverse=True)
    got = distinct(values, bound)
    got_uniq, got_inverse = distinct_inverse(values, bound)
    for a, b in ((got, uniq), (got_uniq, uniq), (got_inverse, inverse)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    share=st.floats(0.0, 1.0),
    min_gain=st.sampled_from([0.0, 600.0]),
    overtime=st.booleans(),
)
def test_polish_pair_rules_only_among_arcs(
    seed: int, share: float, min_gain: float, overtime: bool
) -> None:
    """Polish evaluates the pair rules (skills, exclusions, shift, churn) only on the
    pairs among the candidate arcs, or of an unassigned ticket (it may be inserted
    anywhere): its move pairs and its may-hold answers are those of the rules on every
    pair, and-ed with that."""
    p = random_problem(60, 8, seed, assigned_frac=0.4, shift_h=3.0, radius_km=10.0)
    rng = np.random.default_rng(seed)
    m = p.technicians.count
    w = CostWeights(move_min_gain=min_gain)
    state = tech_state(p, w)
    every = pair_keys(np.repeat(np.arange(60), m), np.tile(np.arange(m), 60), m)
    arcs = np.sort(every[rng.random(every.size) < share])
    plan = np.where(rng.random(60) < 0.5, rng.integers(0, m, 60), -1)
    plan[p.tickets.pinned] = -1
    got = move_pairs(p, w, state, plan, overtime, arcs, True)
    movable = np.flatnonzero(~p.tickets.pinned)
    usable = np.flatnonzero(state.free_slots > 0)
    if got is None:
        assert movable.size == 0 or usable.size == 0
        return
    near = _neighbours(p, state, movable, usable)
    pi, pb = np.repeat(movable, near.shape[1]), near.reshape(-1)
    rules = _allowed(p, w, state, pi, pb, overtime)
    ok = rules[0] & (_among(arcs, pi, pb, m) | (plan[pi] < 0))
    for a, b in zip(got, (pi[ok], pb[ok], rules[1][ok]), strict=True):
        np.testing.assert_array_equal(a, b)

    kept = _Plan(p, w, late_pricing(p, w), state, plan, overtime, arcs)
    tix, tech = rng.integers(0, 60, 200), rng.integers(0, m, 200)
    expected = _allowed(p, w, state, tix, tech, overtime)[0] & _among(
        arcs, tix, tech, m
    )
    np.testing.assert_array_equal(kept.may_hold(tix, tech), expected)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 40),
    m=st.integers(3, 9),
    overtime=st.booleans(),
)
def test_sequenced_stops_are_a_drive_of_the_chosen_order(
    seed: int, n: int, m: int, overtime: bool
) -> None:
    """Short queues take their stops from the one drive of all their orders: each
    queue's schedule (travel, arrival, start, finish, overrun) is bit for bit a drive of
    its chosen order alone, queues longer than EXACT_SEQUENCE_MAX included."""
    p = random_problem(n, m, seed, shift_h=2.0, radius_km=30.0)
    rng = np.random.default_rng(seed)
    t = p.tickets
    t.window_start_s[:] = np.where(
        rng.random(n) < 0.4, rng.uniform(0.0, 3 * 3600, n), -np.inf
    )
    w = CostWeights()
    state = tech_state(p, w)
    pricing = late_pricing(p, w)
    tech = rng.integers(0, m, n)
    if n > EXACT_SEQUENCE_MAX:
        tech[: EXACT_SEQUENCE_MAX + 1] = 0
    rows = np.arange(n)
    at = (state.lat_deg, state.lon_deg, state.ready_s)
    sch = sequence_queues(p, pricing, rows, tech, *at, overtime)
    for k in np.unique(tech):
        mine = np.flatnonzero(tech == k)
        by_place = mine[np.argsort(sch.position[mine])]
        one = np.array([k])
        drive = simulate(
            p, pricing, rows[by_place][None, None, :], one, *(x[one] for x in at)
        )
        np.testing.assert_array_equal(sch.position[by_place], np.arange(mine.size))
        times = (sch.travel_s, sch.arrival_s, sch.start_s, sch.finish_s)
        for got, want in zip(times, drive[3:7], strict=True):
            np.testing.assert_array_equal(got[by_place], want[0, 0])
        over = drive[6][0, 0] > p.technicians.shift_end_s[k]
        np.testing.assert_array_equal(sch.overrun[by_place], over & (not overtime))


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), m=st.integers(1, 8))
def test_a_kept_schedule_is_the_schedule_of_the_same_queues(
    seed: int, n: int, m: int
) -> None:
    """``sequence_queues`` keeps its last schedule per problem: every call of a random
    sequence of calls on one problem (three plans, three starts, three pricings, with
    and without overtime, in any order, repeated) returns bit for bit what the same call
    returns on a fresh copy of the problem (nothing kept), the empty plan included."""
    p = random_problem(n, m, seed, shift_h=2.0, radius_km=30.0)
    rng = np.random.default_rng(seed)
    t = p.tickets
    t.window_start_s[:] = np.where(
        rng.random(n) < 0.4, rng.uniform(0.0, 3 * 3600, n), -np.inf
    )
    # due times among the queues' starts: orders are late differently, breaches count
    t.response_due_s[:] = p.now_s + rng.uniform(0.0, 3 * 3600, n)
    w = CostWeights()
    state = tech_state(p, w)
    first = late_pricing(p, w)
    pricings = [  # the second differs in both weights, the third in the breach one only
        first,
        LatePricing(rng.uniform(0.0, 2.0, n), rng.uniform(0.0, 500.0, n)),
        LatePricing(first.per_second, rng.uniform(0.0, 1e6, n)),
    ]
    plans = [rng.integers(-1, m, n) for _ in range(2)] + [np.full(n, -1)]
    if n > EXACT_SEQUENCE_MAX:  # a queue sequenced by descent
        plans[0][: EXACT_SEQUENCE_MAX + 1] = 0
    shifts = [0.0, 600.0, -1e-3]  # the same queues started later, or a hair earlier
    calls = [
        (plan, shift, priced, overtime)
        for plan in range(3)
        for shift in range(3)
        for priced in range(3)
        for overtime in (False, True)
    ]
    for i in rng.choice(len(calls), 40):
        plan, shift, priced, overtime = calls[i]
        rows = np.flatnonzero(plans[plan] >= 0)
        args = (
            pricings[priced], rows, plans[plan][rows],
            state.lat_deg, state.lon_deg, state.ready_s + shifts[shift], overtime,
        )  # fmt: skip
        got = sequence_queues(p, *args)
        fresh = copy.deepcopy(p)
        fresh.memo.clear()
        want = sequence_queues(fresh, *args)
        for name in (
            "position",
            "travel_s",
            "arrival_s",
            "start_s",
            "finish_s",
            "overrun",
        ):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(-(2**40), 2**40)), max_size=200),
    st.integers(0, 3),
)
def test_refill_best_first_is_the_lexsort(
    items: list[tuple[int, int]], wide: int
) -> None:
    """The refill's one sort of its offers (technician, then gain highest first, ties in
    arc order) equals the lexsort it replaces, with gains too wide for the combined key
    (the lexsort then) included."""
    group = np.asarray([g for g, _ in items], np.int64).reshape(-1)
    gain = np.asarray([v for _, v in items], np.int64).reshape(-1)
    gain = gain * (1 + (wide == 3) * 2**21)  # spans beyond int64 with 50 groups
    expected = np.lexsort((np.arange(gain.size), -gain, group))
    np.testing.assert_array_equal(best_first(group, gain), expected)


def _refill_before(
    core: Core, tech_of: np.ndarray, scope: np.ndarray | None, rounds: int
) -> np.ndarray:
    """The refill as it was (arcs compacted every round, gains of every arc): the
    reference its masked rounds must equal."""
    problem, state, c = core.problem, core.state, core.cands
    m = problem.technicians.count
    sub = core.alive & (tech_of[c.tix] < 0)
    if scope is not None:
        sub &= scope[c.tech]
    idx = np.flatnonzero(sub)
    a_tix, a_tech = c.tix[idx], c.tech[idx]
    base_gain = core.penalty[a_tix] - core.arc_cost[idx]
    arc = np.arange(idx.size)
    offered = np.zeros(idx.size, np.bool_)
    sort = True
    for _ in range(rounds):
        count = np.bincount(tech_of[tech_of >= 0], minlength=m)
        room = count < state.free_slots
        place = (count + state.load).astype(np.float64)
        gain = base_gain - np.rint(core.balance_scaled * place[a_tech])
        keep = np.flatnonzero(
            (tech_of[a_tix] < 0) & room[a_tech] & (gain > 0) & ~offered
        )
        if sort:
            keep = keep[np.lexsort((keep, -base_gain[keep], a_tech[keep]))]
            sort = False
        arc, a_tix, a_tech, base_gain, gain = (
            x[keep] for x in (arc, a_tix, a_tech, base_gain, gain)
        )
        if arc.size == 0:
            break
        arcs = np.flatnonzero(np.r_[True, a_tech[1:] != a_tech[:-1]])
        arcs = arcs[np.lexsort((arc[arcs], -gain[arcs], a_tix[arcs]))]
        arcs = arcs[np.r_[True, a_tix[arcs][1:] != a_tix[arcs][:-1]]]
        trial = tech_of.copy()
        trial[a_tix[arcs]] = a_tech[arcs]
        hit = np.zeros(m, np.bool_)
        hit[a_tech[arcs]] = True
        over = overrunning(core, trial, hit)
        good = arcs[~over[a_tech[arcs]]]
        tech_of = tech_of.copy()
        tech_of[a_tix[good]] = a_tech[good]
        offered = np.zeros(arc.size, np.bool_)
        offered[arcs] = True
        now = np.bincount(tech_of[tech_of >= 0], minlength=m)
        core.free = np.maximum(core.free, now)
    return tech_of


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 80),
    m=st.integers(1, 10),
    shift_h=st.sampled_from([1.0, 3.0, 8.0]),
    rounds=st.integers(1, 10),
    scoped=st.booleans(),
    balance=st.sampled_from([0.0, 300.0]),
)
def test_refill_masked_rounds_are_the_compacting_rounds(
    seed: int, n: int, m: int, shift_h: float, rounds: int, scoped: bool, balance: float
) -> None:
    """The refill's rounds on the arcs sorted once, masked round by round, place the
    same tickets and leave the same free places as compacting the arcs every round."""
    p = random_problem(n, m, seed, shift_h=shift_h, assigned_frac=0.3, radius_km=30.0)
    rng = np.random.default_rng(seed)
    params = SolveParams(weights=CostWeights(balance=balance))
    core, _ = cold_core(p, params, 0.0)
    c = core.cands
    core.alive = rng.random(c.tix.size) < 0.8
    core.free = np.minimum(core.free, rng.integers(0, 3, m))
    tech_of = np.full(n, -1, np.int64)
    pick = rng.random(c.tix.size) < 0.2
    tech_of[c.tix[pick]] = c.tech[pick]  # some placed (a ticket's last pick wins)
    scope = rng.random(m) < 0.6 if scoped else None
    before = copy.deepcopy(core)
    got = refill(core, tech_of, scope, rounds)
    expected = _refill_before(before, tech_of, scope, rounds)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(core.free, before.free)


def _arrays(pricing: LatePricing) -> tuple[np.ndarray, np.ndarray]:
    return pricing.per_second, pricing.per_breach


def _skill_fit_before(
    p: Problem, tix: np.ndarray, tech: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The skill fit as computed before (int64 rows per call): the reference."""
    need = np.ascontiguousarray(p.tickets.skill_levels.T, np.int64)
    held = np.ascontiguousarray(p.technicians.skill_levels.T, np.int64)
    ok = np.ones(np.shape(tix), np.bool_)
    surplus = np.zeros(np.shape(tix), np.int64)
    for s in range(need.shape[0]):
        req = need[s].take(tix)
        above = held[s].take(tech)
        above -= req
        ok &= above >= 0
        above *= req > 0
        surplus += above
    return ok, surplus


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=40),
    st.sampled_from([0.0, 1.0, 0.37, 0.5, 2.5, 17.125]),
    st.sampled_from([1.0, 30_000.0, 12_345.678]),
)
def test_places_total_is_the_sum_of_the_places(
    queues: list[tuple[int, int]], balance: float, scale: float
) -> None:
    """:func:`solver.local.places_total` (a table of place costs summed) is the sum of
    the places :func:`solver.local.places` prices, technician by technician (their
    first ``used`` places after their ``load``)."""
    used = np.asarray([u for u, _ in queues], np.int64)
    load = np.asarray([ld for _, ld in queues], np.int64)
    _, cost = places(used, load, balance * scale)
    assert places_total(used, load, balance * scale) == int(cost.sum())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    m=st.integers(1, 12),
    count=st.integers(0, 30),
    levels=st.sampled_from([1, 4_000, 190_000]),
)
def test_skill_holding_is_every_level_held(
    seed: int, m: int, count: int, levels: int
) -> None:
    """:func:`solver.cost.skill_holding` (skill by skill over the transposed levels) is
    the (technicians, skills) reduction of "holds every required level", for random
    requirements at or around the technicians' levels."""
    p = random_problem(5, m, seed)
    p.technicians.skill_levels[:] *= levels
    p = _fresh(p)
    rng = np.random.default_rng(seed)
    held = p.technicians.skill_levels
    need = held[rng.integers(0, m, count)] + rng.integers(-1, 2, (count, held.shape[1]))
    need = np.maximum(need, 0)
    want = (held[None, :, :] >= need[:, None, :]).all(axis=2)
    np.testing.assert_array_equal(skill_holding(p, need), want)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    extra=st.sampled_from([-1, 0, 7, SKILL_FIT_BLOCK + 1]),
    levels=st.sampled_from([1, 190_000]),
    square=st.booleans(),
)
def test_skill_fit_in_blocks_is_the_reference(
    seed: int, extra: int, levels: int, square: bool
) -> None:
    """:func:`solver.cost.skill_fit` over more pairs than one block (and a 2-D array of
    tickets against a row of technicians) is the int64 skill-by-skill reference, pair
    for pair."""
    p = random_problem(30, 9, seed, assigned_frac=0.3)
    p.tickets.skill_levels[:] *= levels
    p.technicians.skill_levels[:] *= levels
    p = _fresh(p)
    rng = np.random.default_rng(seed)
    size = SKILL_FIT_BLOCK + extra
    tix, tech = rng.integers(0, 30, size), rng.integers(0, 9, size)
    if square:
        tix, tech = tix[:900].reshape(30, 30), tech[:30]
        want = _skill_fit_before(p, tix, np.broadcast_to(tech, tix.shape))
    else:
        want = _skill_fit_before(p, tix, tech)
    got = skill_fit(p, tix, tech)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def _fresh(p: Problem) -> Problem:
    """The same instance with an empty memo."""
    return Problem(p.tickets, p.technicians, p.now_s)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 60),
    m=st.integers(1, 8),
    overdue=st.sampled_from([1.0, 0.01, 0.5]),
    breach=st.sampled_from([0.0, 3600.0]),
    calls=st.lists(st.integers(0, 9), min_size=1, max_size=8),
    levels=st.sampled_from([1, 4_000, 190_000]),
)
def test_prices_kept_per_problem_are_the_prices_computed(
    seed: int,
    n: int,
    m: int,
    overdue: float,
    breach: float,
    calls: list[int],
    levels: int,
) -> None:
    """The late pricing (every row, or some rows), the drop penalty, the skill rows and
    whether each ticket is savable kept in ``Problem.memo``, and the deferred cost priced
    through them, are, bit for bit, what a problem with an empty memo computes (every
    row, or some rows), whatever the order of the calls and the weights switched between
    them; the
    skill fit read from the narrow skill rows is the int64 one (skill levels up to the
    validation's 10**6); the kept arrays are read-only."""
    p = random_problem(n, m, seed, assigned_frac=0.3, shift_h=2.0)
    p.tickets.skill_levels[:] *= levels
    p.technicians.skill_levels[:] *= levels
    p = _fresh(p)
    rng = np.random.default_rng(seed)
    both = (CostWeights(overdue=overdue, breach=breach), CostWeights())
    for call in calls:
        w = both[int(rng.integers(0, 2))]
        rows = rng.integers(0, n, int(rng.integers(0, 2 * n)))
        if call == 0:
            got = _arrays(late_pricing(p, w))
            want = _arrays(late_pricing(_fresh(p), w))
        elif call == 1:
            got = _arrays(late_pricing(p, w, rows))
            want = _arrays(late_pricing(_fresh(p), w, rows))
        elif call == 2:
            got = (drop_penalty(p, w),)
            want = (drop_penalty(_fresh(p), w, deferred_cost(_fresh(p), w)),)
        elif call == 3:
            got, want = (
                skill_rows(p),
                (p.tickets.skill_levels.T, p.technicians.skill_levels.T),
            )
        elif call == 4:
            got, want = (reach_s(p),), (reach_s(_fresh(p)),)
        elif call == 5:
            got = skill_fit(p, rows, rows % m)
            want = _skill_fit_before(p, rows, rows % m)
            assert got[1].dtype == np.int64
        elif call == 6:
            got, want = (savable(p),), (savable(_fresh(p)),)
        elif call == 7:
            got, want = (savable(p, rows),), (savable(_fresh(p), rows),)
        elif call == 8:
            got, want = (deferred_cost(p, w),), (deferred_cost(_fresh(p), w),)
        else:
            got = (deferred_cost(p, w, rows),)
            want = (deferred_cost(_fresh(p), w, rows),)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    for _, value in p.memo.values():
        for array in value if isinstance(value, tuple) else (value,):
            if isinstance(array, np.ndarray):
                assert not array.flags.writeable


def _travel_before(lat1, lon1, lat2, lon2, speed):  # type: ignore[no-untyped-def]
    """The travel time as computed before the in-place steps: the reference."""
    phi1, phi2 = (
        np.radians(np.asarray(lat1, np.float64)),
        np.radians(np.asarray(lat2, np.float64)),
    )
    half_dp = np.subtract(phi2, phi1)
    half_dp *= 0.5
    dl = np.radians(np.asarray(lon2, np.float64) - np.asarray(lon1, np.float64))
    dl *= 0.5
    h = np.asarray(
        np.square(np.sin(half_dp)) + np.cos(phi1) * np.cos(phi2) * np.square(np.sin(dl))
    )
    np.clip(h, 0.0, 1.0, out=h)
    km = np.arcsin(np.sqrt(h, out=h), out=h)
    km *= 2.0 * EARTH_RADIUS_KM
    km[np.isnan(km)] = 0.0
    km = km * ROAD_FACTOR
    return np.asarray(km / np.asarray(speed, np.float64) * 3600.0)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shapes=st.sampled_from(
        [((), (), ()), ((5,), (5,), (5,)), ((4, 1), (3,), (4, 3)), ((3,), (), (2, 3))]
    ),
    no_location=st.floats(0.0, 0.5),
)
def test_travel_in_place_is_the_travel(
    seed: int, shapes: tuple[tuple[int, ...], ...], no_location: float
) -> None:
    """The travel time computed step by step in place equals, bit for bit, the one it
    replaces: scalars, broadcast shapes, a speed wider than the points, points without
    location, antipodes."""
    rng = np.random.default_rng(seed)
    a_shape, b_shape, v_shape = shapes

    def points(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        lat = rng.uniform(-90.0, 90.0, shape)
        lat = np.where(rng.random(shape) < no_location, np.nan, lat)
        return lat, rng.uniform(-180.0, 180.0, shape)

    (lat1, lon1), (lat2, lon2) = points(a_shape), points(b_shape)
    if a_shape == b_shape and rng.random() < 0.3:  # antipodes
        lat2, lon2 = -lat1, np.where(lon1 > 0, lon1 - 180.0, lon1 + 180.0)
    speed = rng.uniform(5.0, 90.0, v_shape)
    got = travel_time_s(lat1, lon1, lat2, lon2, speed)
    want = _travel_before(lat1, lon1, lat2, lon2, speed)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_array_equal(got, want)


def _drive_inputs(
    seed: int, n: int, m: int, no_location: float
) -> tuple[Problem, np.random.Generator, TechState, LatePricing]:
    """A random problem with a share ``no_location`` of its tickets without location,
    the generator that drew them (to draw the drives from), the technicians' state and
    the lateness pricing the drives use."""
    p = random_problem(n, m, seed, shift_h=2.0, pinned_frac=0.2)
    rng = np.random.default_rng(seed)
    gone = rng.random(n) < no_location
    p.tickets.lat_deg[gone] = p.tickets.lon_deg[gone] = np.nan
    p = Problem(p.tickets, p.technicians, p.now_s)
    w = CostWeights(breach=3600.0)
    return p, rng, tech_state(p, w), late_pricing(p, w)


def _simulate_before(p, pricing, orders, tech, lat0, lon0, t0, stops=True):  # type: ignore[no-untyped-def]
    """The drive as it was (every stop's terms computed per step): the reference."""
    t, k = p.tickets, p.technicians
    due = np.minimum(t.resolution_due_s, t.window_end_s)
    shape = orders.shape[:2]
    now = np.broadcast_to(t0[:, None], shape)
    lat = np.broadcast_to(lat0[:, None], shape)
    lon = np.broadcast_to(lon0[:, None], shape)
    speed = k.speed_kmh[tech][:, None]
    shift_end = k.shift_end_s[tech][:, None]
    late, travel, overrun = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    risk, work = np.zeros(shape), np.zeros(shape)
    st_all = np.empty(orders.shape)
    tt_all, arr_all, fin_all = (
        np.empty(orders.shape if stops else (0, 0, 0)) for _ in range(3)
    )
    for s in range(orders.shape[2]):
        tk = orders[:, :, s]
        tt = _travel_before(lat, lon, t.lat_deg[tk], t.lon_deg[tk], speed)
        arr = now + tt
        st_ = np.maximum(arr, t.window_start_s[tk])
        fin = st_ + t.duration_s[tk]
        late += pricing.cost(
            tk,
            np.maximum(st_ - t.response_due_s[tk], 0.0)
            + np.maximum(fin - due[tk], 0.0),
        )
        travel += tt
        # an overrun: more than a whole queue's priority factors, plus its own
        factor = PRIORITY_FACTOR[t.priority[tk]]
        overrun += (fin > shift_end) * (factor + 8.0 * orders.shape[2] + 1.0)
        # at risk: the start or finish later by RISK_SHARE of the work before or up to it
        at_risk = st_ + RISK_SHARE * work > t.response_due_s[tk]
        work = work + t.duration_s[tk]
        at_risk |= fin + RISK_SHARE * work > np.minimum(due[tk], shift_end)
        risk += at_risk * factor
        st_all[:, :, s] = st_
        if stops:
            tt_all[:, :, s], arr_all[:, :, s], fin_all[:, :, s] = tt, arr, fin
        now = fin
        lat, lon = next_location(lat, lon, t.lat_deg[tk], t.lon_deg[tk])
    return overrun, late, travel, tt_all, arr_all, st_all, fin_all, risk


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 40),
    m=st.integers(1, 6),
    shape=st.sampled_from([(1, 1), (2, 2), (6, 3), (1, 5), (24, 4)]),
    no_location=st.sampled_from([0.0, 0.3, 1.0]),
    stops=st.booleans(),
    at_risk=st.booleans(),
)
def test_drive_of_kept_stops_is_the_drive(
    seed: int,
    n: int,
    m: int,
    shape: tuple[int, int],
    no_location: float,
    stops: bool,
    at_risk: bool,
) -> None:
    """The drive reading each ticket's terms computed once per problem (and moving the
    technician's point as a whole) gives, bit for bit, every array of the drive it
    replaces; tickets and technicians without location included. Without ``at_risk``
    the same arrays, the priority at risk 0."""
    p, rng, state, pricing = _drive_inputs(seed, n, m, no_location)
    orders = rng.integers(0, n, (int(rng.integers(0, 30)), *shape))
    who = rng.permutation(orders.shape[0]) % m
    lat0 = np.where(rng.random(who.size) < no_location / 2, np.nan, state.lat_deg[who])
    args = (who, lat0, np.where(np.isnan(lat0), np.nan, state.lon_deg[who]))
    got = simulate(p, pricing, orders, *args, state.ready_s[who], stops, at_risk)
    want = _simulate_before(p, pricing, orders, *args, state.ready_s[who], stops)
    for a, b in zip(got, _risk_kept(want, at_risk), strict=True):
        np.testing.assert_array_equal(a, b)


def _risk_kept(drive: tuple[np.ndarray, ...], at_risk: bool) -> tuple[np.ndarray, ...]:
    """A drive's arrays as a drive with ``at_risk`` returns them: the priority at risk
    (the last) 0 without it."""
    return drive if at_risk else (*drive[:-1], np.zeros_like(drive[-1]))


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 40),
    m=st.integers(1, 6),
    size=st.integers(1, 7),
    kind=st.sampled_from(["permutations", "shared", "per row"]),
    no_location=st.sampled_from([0.0, 0.3, 1.0]),
    stops=st.booleans(),
    given_legs=st.booleans(),
    at_risk=st.booleans(),
)
def test_drive_of_row_legs_is_the_drive(
    seed: int,
    n: int,
    m: int,
    size: int,
    kind: str,
    no_location: float,
    stops: bool,
    given_legs: bool,
    at_risk: bool,
) -> None:
    """Orders made of each row's own tickets (a queue's permutations, any shared or
    per-row orders of them, tickets repeated), driven from each row's legs computed once
    (``simulate_local``, with or without the caller's ``row_legs``), give bit for bit
    every array of the drive of the orders themselves; tickets and technicians without
    location included (their orders are driven as they are); without ``at_risk`` the
    priority at risk 0."""
    p, rng, state, pricing = _drive_inputs(seed, n, m, no_location)
    rows = int(rng.integers(0, 30))
    base = rng.integers(0, n, (rows, size))
    q = int(rng.integers(1, size + 1))
    if kind == "permutations":
        pattern = _perms(size)
        orders = base[:, pattern]
    elif kind == "shared":
        pattern = rng.integers(0, size, (int(rng.integers(1, 8)), q))
        orders = base[:, pattern]
    else:
        pattern = rng.integers(0, size, (rows, int(rng.integers(1, 4)), q))
        orders = np.take_along_axis(base[:, None, :], pattern, axis=2)
    who = rng.permutation(rows) % m
    lat0 = np.where(rng.random(rows) < no_location / 2, np.nan, state.lat_deg[who])
    args = (who, lat0, np.where(np.isnan(lat0), np.nan, state.lon_deg[who]))
    legs = None
    if given_legs and not np.isnan(p.tickets.lat_deg[base]).any():
        legs = row_legs(p, base, *args)
    got = simulate_local(
        p, pricing, base, pattern, *args, state.ready_s[who], stops, legs, at_risk
    )
    want = simulate(p, pricing, orders, *args, state.ready_s[who], stops)
    for a, b in zip(got, _risk_kept(want, at_risk), strict=True):
        np.testing.assert_array_equal(a, b)


def _disjoint_before(moves: np.ndarray) -> np.ndarray:
    """Polish's choice of disjoint moves as it was (a loop over numpy rows): the
    reference."""
    order = np.lexsort((moves[:, 1], moves[:, 0]))
    used: set[int] = set()
    taken: set[int] = set()
    picked = []
    for row in moves[order]:
        i, a, b = int(row[1]), int(row[4]), int(row[5])
        if a in used or b in used or i in taken:
            continue
        used.update((a, b) if a >= 0 else (b,))
        taken.add(i)
        picked.append((i, int(row[2]), int(row[3])))
    return np.asarray(picked, np.int64).reshape(-1, 3)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 60), spread=st.integers(1, 8))
def test_disjoint_moves_over_python_ints_are_the_row_loop(
    seed: int, n: int, spread: int
) -> None:
    """Polish's best-first disjoint moves, read as Python ints, are those of the loop
    over numpy rows: ties in gain and ticket, unassigned tickets (A = -1), swaps and
    relocations (j = -1), shared technicians and tickets."""
    rng = np.random.default_rng(seed)
    tickets, techs = rng.integers(1, 3 * spread + 2, 2)
    b = rng.integers(0, techs, n)
    moves = np.column_stack(
        [
            -rng.integers(1, spread + 1, n).astype(np.float64),  # tied gains
            rng.integers(0, tickets, n),
            b,
            np.where(rng.random(n) < 0.5, -1, rng.integers(0, tickets, n)),
            np.where(rng.random(n) < 0.3, -1, rng.integers(0, techs, n)),
            b,
        ]
    ).astype(np.float64)
    np.testing.assert_array_equal(_disjoint(moves), _disjoint_before(moves))


def _pricing_inputs(
    seed: int, n: int, nk: int, no_location: float, second_round: bool
) -> tuple[_TicketTerms, np.ndarray, np.ndarray, np.ndarray]:
    """Random ticket terms of a pricing (thresholds around the bounds, some tickets
    without location, potentials moved or not) and technician data."""
    rng = np.random.default_rng(seed)

    def unit(size: int) -> np.ndarray:
        v = rng.normal(size=(size, 3))
        v /= np.linalg.norm(v, axis=1)[:, None]
        v[:, 2] = np.abs(v[:, 2]) * 0.2 + 0.8  # one region of the sphere
        v /= np.linalg.norm(v, axis=1)[:, None]
        v[rng.random(size) < no_location] = 0.0
        return v

    tvec = unit(n)
    moved = (
        rng.choice([-1.0, 0.0, 5.0, np.inf, np.nan], n)
        if second_round
        else np.full(n, np.inf)
    )
    tt = _TicketTerms(
        rng.uniform(0, 4e6, n), rng.uniform(0, 4e6, n), rng.uniform(0, 10, n),
        rng.uniform(0, 8e3, n), rng.uniform(0, 8e3, n), tvec, tuple(tvec.T.copy()),
        np.any(tvec != 0.0, axis=1), moved, rng.uniform(0, 1e6, n),
    )  # fmt: skip
    kvec = unit(nk)
    return tt, kvec, np.any(kvec != 0.0, axis=1), rng.uniform(-1.0, 6.0, nk)


def _near_before(
    tt,
    moved_t,
    k_xyz,
    located_k,
    slope,
    dt_k,
    moved_k,
    elig,
    r,
    cut_t,
    ii,
    blk,
    everywhere,
):  # type: ignore[no-untyped-def]
    """The pair stage of the pricing as it was (cells expanded pair by pair): the
    reference."""
    kb = TECH_BLOCK
    cols = (blk[:, None] * kb + np.arange(kb)).ravel()
    at = np.repeat(ii, kb)[cols < elig.size]
    p_t, p_k = r[at], elig[cols[cols < elig.size]]
    keep = moved_t[p_t] > moved_k[p_k]
    p_t, p_k, at = p_t[keep], p_k[keep], at[keep]
    dot = tt.xyz[0][p_t] * k_xyz[0][p_k]
    dot += tt.xyz[1][p_t] * k_xyz[1][p_k]
    dot += tt.xyz[2][p_t] * k_xyz[2][p_k]
    dot *= -2.0
    dot += 2.0
    chord = np.sqrt(np.maximum(dot, 0.0, out=dot), out=dot) - CHORD_ROUNDING
    np.maximum(chord, 0.0, out=chord)
    if not everywhere:
        chord *= tt.located[p_t] & located_k[p_k]
    near = chord * slope[p_k] + dt_k[p_k] < cut_t[at]
    return p_t[near], p_k[near], chord[near], at[near]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 80),
    nk=st.integers(1, 70),
    no_location=st.sampled_from([0.0, 0.2]),
    second_round=st.booleans(),
)
def test_blocked_pair_bounds_are_the_pair_bounds(
    seed: int, n: int, nk: int, no_location: float, second_round: bool
) -> None:
    """The pricing's pairs of passing (ticket, technician block) cells bounded on one
    (cells, TECH_BLOCK) table give the pairs, chords and cell indices, in the same order,
    of the cells expanded pair by pair; a short last block, moved potentials (NaN and
    infinite included) and technicians without location included."""
    tt, kvec, located_k, moved_k = _pricing_inputs(
        seed, n, nk, no_location, second_round
    )
    rng = np.random.default_rng(seed + 1)
    m = nk + 5
    elig = rng.permutation(m)[:nk]
    k_xyz = tuple(np.zeros((3, m)))
    for c in range(3):
        k_xyz[c][elig] = kvec[:, c]
    loc_k = np.zeros(m, np.bool_)
    loc_k[elig] = located_k
    mv_k = np.zeros(m)
    mv_k[elig] = moved_k
    slope, dt_k = rng.uniform(1e6, 1.5e8, m), rng.uniform(-1e5, 1e6, m)
    everywhere = bool(tt.located.all() and loc_k.all())
    r = rng.permutation(n)[: int(rng.integers(1, n + 1))]
    cut_t = tt.cut[r]
    nb = -(-nk // TECH_BLOCK)
    cells = int(rng.integers(0, 3 * r.size * nb + 1))
    ii, blk = rng.integers(0, r.size, cells), rng.integers(0, nb, cells)
    techs = _BlockedTechs.of(elig, k_xyz, slope, dt_k, mv_k, loc_k)
    got = techs.near(tt, tt.moved, r, cut_t, ii, blk, everywhere)
    want = _near_before(
        tt, tt.moved, k_xyz, loc_k, slope, dt_k, mv_k, elig, r, cut_t, ii, blk,
        everywhere,
    )  # fmt: skip
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def _blocked_cells_before(tt, b, part_rows, bsel):  # type: ignore[no-untyped-def]
    """The (ticket, technician block) cells as they were (block pairs expanded ticket by
    ticket): the reference."""
    tb = _ticket_block_tables(tt, part_rows)
    rows, first, t_cen, t_rad, blk = tb.rows, tb.first, tb.centre, tb.radius, tb.block
    last = np.append(first[1:], rows.size)
    step = max(1, PAIR_CELLS // (bsel.size * TICKET_BLOCK))
    for a in range(0, first.size, step):
        nb = np.arange(a, min(a + step, first.size))
        gap = _distances(t_cen, nb, b.centre[:, bsel])
        gap -= t_rad[nb][:, None] + b.radius[bsel][None, :] + CHORD_ROUNDING
        np.maximum(gap, 0.0, out=gap)
        lb = _lower_bound(b, bsel[None, :], gap, blk, nb[:, None])
        bi, bb = np.nonzero(_passes(b, bsel[None, :], lb, blk, nb[:, None]))
        lo = first[a]
        ii = _ranges(first[a + bi] - lo, last[a + bi] - lo)
        bb = np.repeat(bb, last[a + bi] - first[a + bi])
        r = rows[lo:]
        p_r, e_b = r[ii], bsel[bb]
        gap_p = _paired_distances(tt.xyz, p_r, b.centre[:, e_b])
        gap_p = np.maximum(gap_p - b.radius[e_b], 0.0) * tt.located[p_r]
        lb_p = _lower_bound(b, e_b, gap_p, tt, p_r)
        keep = _passes(b, e_b, lb_p, tt, p_r)
        yield r, tt.cut[r], tt.pen[r], ii[keep], bb[keep]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 120),
    nb=st.integers(1, 12),
    no_location=st.sampled_from([0.0, 0.2]),
    second_round=st.booleans(),
)
def test_blocked_ticket_cells_are_the_ticket_cells(
    seed: int, n: int, nb: int, no_location: float, second_round: bool
) -> None:
    """The (ticket, technician block) cells of passing (ticket block, technician block)
    pairs bounded on one (block pairs, TICKET_BLOCK) table are, chunk by chunk and in
    order, those bounded ticket by ticket: short ticket blocks, blocks without location
    (infinite radius) and moved potentials included."""
    tt, kvec, _, _ = _pricing_inputs(seed, n, nb, no_location, second_round)
    rng = np.random.default_rng(seed + 2)
    radius = np.where(np.any(kvec != 0.0, axis=1), rng.uniform(0, 0.01, nb), np.inf)
    b = _TechBlocks(
        kvec.T.copy(), radius, rng.uniform(1e6, 1.5e8, nb), rng.uniform(0, 1e5, nb),
        rng.uniform(-1e5, 1e6, nb), rng.uniform(0, 3600, nb),
        rng.uniform(3e5, 6e5, nb), rng.choice([-np.inf, 0.0, 3.0], nb),
    )  # fmt: skip
    part_rows = np.sort(rng.permutation(n)[: int(rng.integers(1, n + 1))])
    bsel = np.sort(rng.permutation(nb)[: int(rng.integers(1, nb + 1))])
    got = list(_blocked_cells(tt, b, part_rows, bsel))
    want = list(_blocked_cells_before(tt, b, part_rows, bsel))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        for a, c in zip(g, w, strict=True):
            np.testing.assert_array_equal(a, c)


def test_a_replaced_tech_state_computes_its_locations_anew() -> None:
    """What a technician state keeps per location (``TechState.memo``) is not carried to a
    state made from it by ``dataclasses.replace`` with other locations."""
    p = random_problem(20, 6, 3)
    state = tech_state(p, CostWeights())
    before = state_vectors(state)
    moved = dataclasses.replace(state, lat_deg=state.lat_deg[::-1].copy())
    np.testing.assert_array_equal(
        state_vectors(moved), unit_vectors(moved.lat_deg, moved.lon_deg)
    )
    assert not np.array_equal(state_vectors(moved), before)
