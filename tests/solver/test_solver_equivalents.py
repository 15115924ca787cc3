"""Faster computations of the shift repair, refill and polish give what the computations
they replace give, bit for bit (the plans must not change)."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import CostWeights, SolveParams
from solver.constants import EXACT_SEQUENCE_MAX
from solver.core import Core, best_first, overrunning, refill
from solver.cost import late_pricing, pair_keys
from solver.local import local_resolve
from solver.polish import _allowed, _among, _distinct, _neighbours, _Plan, move_pairs
from solver.sequence import queues_overrun, sequence_queues, simulate
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
    for k in (0, 1, 2, 5):  # overruns, lateness, travel, start per stop
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
    pairs among the candidate arcs: its move pairs and its may-hold answers are those of
    the rules on every pair, and-ed with being an arc."""
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
    ok = rules[0] & _among(arcs, pi, pb, m)
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
        for got, want in zip(times, drive[3:], strict=True):
            np.testing.assert_array_equal(got[by_place], want[0, 0])
        over = drive[6][0, 0] > p.technicians.shift_end_s[k]
        np.testing.assert_array_equal(sch.overrun[by_place], over & (not overtime))


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
