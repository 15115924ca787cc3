"""Polish (solver.polish): relocations, swaps, insertions and replacements between queues
by the chained cost."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from solver import CostWeights, SolveParams, SolveStatus, solve
from solver.baselines import baseline_solve
from solver.compiled import SEQUENTIAL_SUM_MAX
from solver.cost import (
    deferred_cost,
    late_pricing,
    late_seconds,
    move_gain,
    pair_keys,
    unassigned_penalty,
)
from solver.polish import (
    _candidates,
    _drive_groups,
    _Memo,
    _pass,
    _Plan,
    _sequenced,
    _sorted_keys,
    _union,
    driven_cost,
    insertions,
    move_pairs,
    plan_cost,
    polish,
    route_pairs,
    screen_insertions,
    screen_orders,
    static_cost,
)
from solver.position import plan_queues
from solver.solve import tech_state
from solver.synthetic import random_problem
from tests.solver import builders as b
from tests.solver.checks import assert_hard_constraints

KM_LON = 1.0 / (111.32 * np.cos(np.radians(b.BOSTON[0])))  # degrees of longitude per km


def _crossed() -> tuple[object, dict[str, int]]:
    """Two technicians on an east-west line at 0 and 10 km, capacity 2 each. Technician
    A alone can do ticket ``a`` at 20 km, B alone ticket ``b`` at -10 km; tickets ``p``
    (18 km) and ``q`` (-8 km) need no skill. Priced first in queue, p is nearer B and q
    nearer A; driven, that crosses the queues (36 + 36 km against 20 + 20 km)."""
    x_km = {"a": 20.0, "b": -10.0, "p": 18.0, "q": -8.0}
    names = list(x_km)
    t = b.tickets(
        4,
        lon_deg=[b.BOSTON[1] + x_km[n] * KM_LON for n in names],
        skill_levels=[[1, 0], [0, 1], [0, 0], [0, 0]],
    )
    k = b.technicians(
        2,
        n_skills=2,
        lon_deg=[b.BOSTON[1], b.BOSTON[1] + 10.0 * KM_LON],
        skill_levels=[[1, 0], [0, 1]],
        capacity=[2, 2],
    )
    return b.problem(t, k), {n: i for i, n in enumerate(names)}


def test_polish_uncrosses_two_queues() -> None:
    """The exact core alone crosses the queues; the solve's plan (polished) does not, and
    says the plan is no longer the flow model's optimum (FEASIBLE, a positive gap)."""
    p, row = _crossed()
    params = SolveParams(weights=CostWeights(balance=0.0))
    sol = solve(p, params)  # type: ignore[arg-type]
    assert_hard_constraints(p, params, sol)  # type: ignore[arg-type]
    assert sol.technician[row["p"]] == 0
    assert sol.technician[row["q"]] == 1
    assert sol.stats.status is SolveStatus.FEASIBLE
    assert sol.stats.model_gap_pct is not None
    assert sol.stats.model_gap_pct > 0


def test_polish_swaps_a_crossed_plan_and_lowers_its_cost() -> None:
    """On the crossed plan itself, polish swaps p and q and the chained cost drops by
    about 32 km of travel."""
    p, _ = _crossed()
    w = CostWeights(balance=0.0)
    state = tech_state(p, w)  # type: ignore[arg-type]
    pricing = late_pricing(p, w)  # type: ignore[arg-type]
    crossed = np.array([0, 1, 1, 0], np.int64)  # a->A, b->B, p->B, q->A
    after = polish(p, w, pricing, state, crossed, False)  # type: ignore[arg-type]
    np.testing.assert_array_equal(after, [0, 1, 0, 1])
    before_cost = plan_cost(p, w, pricing, state, crossed, False)[0].sum()  # type: ignore[arg-type]
    after_cost = plan_cost(p, w, pricing, state, after, False)[0].sum()  # type: ignore[arg-type]
    saved_s = 32.0 * 1.3 / 30.0 * 3600.0  # 32 km of road at 30 km/h
    assert before_cost - after_cost > 0.9 * saved_s


KM_LAT = 1.0 / 110.57  # degrees of latitude per km


def test_polish_sends_four_tickets_off_one_queue_to_four_nearer_queues() -> None:
    """Technician A at Boston holds four tickets, each next to one of four other
    technicians (20 km north, east, south, west) whose queues are empty. Each relocation
    to the ticket's own technician saves travel, but all four take from A's queue and a
    pass keeps one move per technician: polish makes all four (the chained travel of the
    plan is that of four short trips), not three."""
    east = [0.0, 20.0, 0.0, -20.0]
    north = [20.0, 0.0, -20.0, 0.0]
    lat = [b.BOSTON[0] + n * KM_LAT for n in north]
    lon = [b.BOSTON[1] + e * KM_LON for e in east]
    t = b.tickets(4, lat_deg=[x + 0.5 * KM_LAT for x in lat], lon_deg=lon)
    k = b.technicians(
        5,
        lat_deg=[b.BOSTON[0], *lat],
        lon_deg=[b.BOSTON[1], *lon],
        capacity=[4, 1, 1, 1, 1],
        shift_end_s=[12 * 3600.0] * 5,
    )
    p = b.problem(t, k)
    w = CostWeights()
    state = tech_state(p, w)  # type: ignore[arg-type]
    pricing = late_pricing(p, w)  # type: ignore[arg-type]
    start = np.zeros(4, np.int64)  # all four on A
    after = polish(p, w, pricing, state, start, False)  # type: ignore[arg-type]
    np.testing.assert_array_equal(after, [1, 2, 3, 4])


def test_polish_moves_a_ticket_onto_a_route_passing_by_though_its_start_is_far() -> (
    None
):
    """Ticket x (skill 1) lies 0.5 km past ticket y (skill 2), which technician B holds;
    B starts 20.5 km from x, x's holder A 29.5 km on the other side. The seven technicians
    nearest x (4.5-10.5 km) hold neither skill, so B is not among x's nearest starts, and
    the pair (x, B) is no arc. B's route passes by x (:func:`solver.polish.route_pairs`):
    polish moves x to B, after y, saving about 29 km of travel."""
    east_km = {"x": 20.5, "y": 20.0, "A": 50.0, "B": 0.0}
    t = b.tickets(
        2,
        lon_deg=[b.BOSTON[1] + east_km[n] * KM_LON for n in "xy"],
        skill_levels=[[1, 0], [0, 1]],
    )
    decoys_km = [25.0 + d for d in range(7)]
    k = b.technicians(
        9,
        n_skills=2,
        lon_deg=[b.BOSTON[1] + e * KM_LON for e in [50.0, 0.0, *decoys_km]],
        skill_levels=[[3, 0], [3, 3]] + [[0, 0]] * 7,
        capacity=[1, 2] + [1] * 7,
        shift_end_s=[12 * 3600.0] * 9,
    )
    p = b.problem(t, k)
    w = CostWeights()
    state = tech_state(p, w)  # type: ignore[arg-type]
    pricing = late_pricing(p, w)  # type: ignore[arg-type]
    start = np.array([0, 1], np.int64)  # x on A, y on B
    arcs = np.sort(pair_keys(np.array([0, 1]), start, k.count))  # the plan's own pairs
    after = polish(p, w, pricing, state, start, False, arcs=arcs)  # type: ignore[arg-type]
    np.testing.assert_array_equal(after, [1, 1])
    saved_s = 29.0 * 1.3 / 30.0 * 3600.0  # 29 km of road at 30 km/h
    before_cost = plan_cost(p, w, pricing, state, start, False)[0].sum()  # type: ignore[arg-type]
    after_cost = plan_cost(p, w, pricing, state, after, False)[0].sum()  # type: ignore[arg-type]
    assert before_cost - after_cost > 0.8 * saved_s


def _one_place(held_by_a: bool, j_due_s: float) -> tuple[object, CostWeights]:
    """Technician A at Boston with one place, holding ticket j (P3, 5 km east, response
    due at ``j_due_s``); ticket i (P2, 5 km west, response due in 30 min, 13 min away:
    on time if A serves it now) is unassigned."""
    t = b.tickets(
        2,
        lon_deg=[b.BOSTON[1] + 5.0 * KM_LON, b.BOSTON[1] - 5.0 * KM_LON],
        priority=[3, 2],
        response_due_s=[j_due_s, 1800.0],
        current_technician=[0 if held_by_a else -1, -1],
    )
    k = b.technicians(1, capacity=[1])
    return b.problem(t, k), CostWeights()


def _polished(p: object, w: CostWeights, plan: list[int]) -> tuple[object, ...]:
    state = tech_state(p, w)  # type: ignore[arg-type]
    pricing = late_pricing(p, w)  # type: ignore[arg-type]
    start = np.array(plan, np.int64)
    after = polish(p, w, pricing, state, start, False, inserts=True)  # type: ignore[arg-type]
    costs = (
        driven_cost(p, w, pricing, state, x, False)  # type: ignore[arg-type]
        for x in (start, after)
    )
    return (after, *costs)


def test_polish_ejects_a_ticket_late_anyway_for_one_it_saves() -> None:
    """A's one place holds j, already overdue; i can still be served on time there.
    Polish ejects j and serves i on time, and the cost as driven (queues + penalties of
    the unassigned) drops. (Before insert/eject moves polish never touched i.)"""
    p, w = _one_place(held_by_a=False, j_due_s=-600.0)
    after, before_cost, after_cost = _polished(p, w, [0, -1])
    np.testing.assert_array_equal(after, [-1, 0])
    assert after_cost < before_cost  # type: ignore[operator]


def test_polish_ejects_a_lower_priority_ticket_for_one_it_saves() -> None:
    """j (P3) is on time but due only in 6 h; i (P2) is due in 30 min: i replaces j."""
    p, w = _one_place(held_by_a=False, j_due_s=6 * 3600.0)
    after, before_cost, after_cost = _polished(p, w, [0, -1])
    np.testing.assert_array_equal(after, [-1, 0])
    assert after_cost < before_cost  # type: ignore[operator]


def test_polish_never_ejects_a_ticket_from_its_holder() -> None:
    """The same, but A holds j (ASSIGNED to it): sending j back to the pool is churn, j
    stays."""
    p, w = _one_place(held_by_a=True, j_due_s=-600.0)
    after, _, _ = _polished(p, w, [0, -1])
    np.testing.assert_array_equal(after, [0, -1])


def test_polish_inserts_an_on_time_ticket_into_a_free_place_but_no_late_one() -> None:
    """A has two free places; i (on time) is inserted, an overdue ticket is not: inserting
    serves tickets that can still be saved, not one more breach."""
    t = b.tickets(
        2,
        lon_deg=[b.BOSTON[1] - 5.0 * KM_LON, b.BOSTON[1] + 5.0 * KM_LON],
        priority=[2, 1],
        response_due_s=[1800.0, -600.0],
    )
    p = b.problem(t, b.technicians(1, capacity=[2]))
    after, before_cost, after_cost = _polished(p, CostWeights(), [-1, -1])
    np.testing.assert_array_equal(after, [0, -1])
    assert after_cost < before_cost  # type: ignore[operator]


KM_LAT = 1.0 / 110.57  # degrees of latitude per km


def _east_north(east_km: list[float], north_km: list[float]) -> dict[str, list[float]]:
    """Ticket coordinates ``east_km`` / ``north_km`` from Boston."""
    return {
        "lat_deg": [b.BOSTON[0] + n * KM_LAT for n in north_km],
        "lon_deg": [b.BOSTON[1] + e * KM_LON for e in east_km],
    }


def test_batch_solve_serves_a_ticket_its_free_place_fits_below_the_penalty() -> None:
    """One technician at Boston with two places and a 10 h shift; a P1 at 59 km east and
    a P4 at 60 km. Priced first in the queue the P4 costs 60 km of travel, more than its
    penalty: the flow leaves it out (no candidate arc), and so does the live solve.
    Driven after the P1 it is 1 km away: the batch solve serves both (polish inserts it,
    outside the flow's arcs)."""
    t = b.tickets(2, priority=[1, 4], **_east_north([59.0, 60.0], [0.0, 0.0]))
    p = b.problem(t, b.technicians(1, capacity=[2], shift_end_s=[10 * 3600.0]))
    live = solve(p, SolveParams())
    np.testing.assert_array_equal(live.technician, [0, -1])
    params = SolveParams(batch=True)
    sol = solve(p, params)
    assert_hard_constraints(p, params, sol)
    np.testing.assert_array_equal(sol.technician, [0, 0])
    np.testing.assert_array_equal(sol.position, [0, 1])
    assert sol.objective < live.objective


def test_batch_solve_takes_a_nearer_ticket_of_the_same_priority_for_an_on_time_one() -> (
    None
):
    """Two places, a P1 at 50 km east and two on-time P3s: j 10 km north, i 51 km east.
    Priced first in the queue j is the cheaper (10 km against 51), and the live solve
    serves it; driven, i costs ~9 km less (Boston -> P1 -> i, 51 km, against Boston -> j
    -> P1, ~61 km). The batch solve serves i and leaves j (on time, equal priority)."""
    t = b.tickets(
        3, priority=[1, 3, 3], **_east_north([50.0, 0.0, 51.0], [0.0, 10.0, 0.0])
    )
    p = b.problem(t, b.technicians(1, capacity=[2], shift_end_s=[10 * 3600.0]))
    live = solve(p, SolveParams())
    np.testing.assert_array_equal(live.technician, [0, 0, -1])
    params = SolveParams(batch=True)
    sol = solve(p, params)
    assert_hard_constraints(p, params, sol)
    np.testing.assert_array_equal(sol.technician, [0, -1, 0])
    assert sol.objective < live.objective


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.0, 1800.0, 7200.0]))
def test_a_one_shot_plan_prices_a_ticket_left_out_at_its_unassigned_penalty_alone(
    seed: int, now_s: float
) -> None:
    """A plan made once is not made again an hour later: leaving a ticket out of a batch
    plan costs its unassigned penalty, without the lateness it would have when planned
    again (``Problem.replan_after_s``), which the live solve adds. Checked on the
    objective each reports; the clock runs past some tickets' dues."""
    p = random_problem(200, 20, seed, now_s=now_s, shift_h=4.0)
    w = CostWeights()
    deferred = deferred_cost(p, w)
    live, batch = solve(p, SolveParams()), solve(p, SolveParams(batch=True))
    out = live.technician < 0
    assume(deferred[out].sum() > 0)  # a ticket the live plan leaves out pays a deferral
    np.testing.assert_allclose(
        live.objective_terms["unassigned"],
        (unassigned_penalty(p, w) + deferred)[out].sum(),
    )
    np.testing.assert_allclose(
        batch.objective_terms["unassigned"],
        unassigned_penalty(p, w)[batch.technician < 0].sum(),
    )


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.booleans(), st.sampled_from([0.0, 900.0]))
def test_batch_solve_keeps_every_hard_rule(
    seed: int, overtime: bool, min_gain: float
) -> None:
    """Batch planning (polish's inserts and replacements) on regions with pinned and
    held tickets: capacity, skills, exclusions, availability, pinned tickets and shift
    ends hold (:func:`tests.solver.checks.assert_hard_constraints`)."""
    p = random_problem(
        90, 10, seed, assigned_frac=0.3, pinned_frac=0.1, radius_km=10, shift_h=4.0
    )
    params = SolveParams(
        weights=CostWeights(move_min_gain=min_gain), allow_overtime=overtime, batch=True
    )
    assert_hard_constraints(p, params, solve(p, params))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 10_000),
    st.sampled_from([0.0, 300.0, 3000.0]),  # 0: no threshold
    st.sampled_from([0.0, 900.0]),
    st.booleans(),
    st.sampled_from(["nearest", "round_robin", "least_loaded"]),
    st.booleans(),
    st.booleans(),
)
def test_polish_keeps_every_rule_and_never_costs_more(
    seed: int,
    min_gain: float,
    stability: float,
    overtime: bool,
    start: str,
    inserts: bool,
    half_arcs: bool,
) -> None:
    """From a baseline's plan: the cost as driven (queues + unassigned penalties) never
    rises; capacity, skills, exclusions and shift ends hold; pinned tickets stay out; a
    ticket polish inserts is on time where it ends; no held ticket is ejected (sent back
    to the pool); a held ticket joins another technician only for a move_gain
    >= move_min_gain (or when forced). With ``arcs`` (every other pair), an assigned
    ticket moves only along them or the route pairs of the plan it starts from (an
    unassigned one may be inserted anywhere)."""
    p = random_problem(
        80, 12, seed, assigned_frac=0.4, pinned_frac=0.1, radius_km=8, shift_h=4.0
    )
    w = CostWeights(move_min_gain=min_gain, stability=stability)
    params = SolveParams(weights=w, allow_overtime=overtime)
    t, k = p.tickets, p.technicians
    plan = baseline_solve(p, params, start)[0].technician.copy()
    plan[t.pinned] = -1  # polish sees the movable decision only
    state = tech_state(p, w)
    pricing = late_pricing(p, w)
    cost0 = driven_cost(p, w, pricing, state, plan, overtime)
    _, over0, _, _ = plan_cost(p, w, pricing, state, plan, overtime)
    arcs = None
    if half_arcs:
        keys = np.arange(t.count * k.count, dtype=np.int64)  # pair_keys of every pair
        arcs = keys[(keys // k.count + keys % k.count) % 2 == 0]
    after = polish(p, w, pricing, state, plan, overtime, arcs=arcs, inserts=inserts)
    if arcs is not None:
        went = np.flatnonzero((plan >= 0) & (after >= 0) & (after != plan))
        along = np.union1d(arcs, route_pairs(p, state, plan, np.flatnonzero(plan >= 0)))
        assert np.isin(pair_keys(went, after[went], k.count), along).all()
    cost1 = driven_cost(p, w, pricing, state, after, overtime)
    _, over1, _, _ = plan_cost(p, w, pricing, state, after, overtime)
    assert cost1 <= cost0 + 1e-6
    on = np.flatnonzero(after >= 0)
    assert not t.pinned[on].any()
    count = np.bincount(after[on], minlength=k.count)
    before_count = np.bincount(plan[plan >= 0], minlength=k.count)
    assert np.all(count <= np.maximum(state.free_slots, before_count))
    assert np.all((k.skill_levels[after[on]] >= t.skill_levels[on]).all(axis=1))
    ex = {(int(r), int(c)) for r, c in t.excluded}
    assert not any((int(r), int(after[r])) in ex for r in on)
    if not overtime:
        assert not (over1 & ~over0).any()  # no queue that fitted overruns now
    inserted = np.flatnonzero((plan < 0) & (after >= 0))
    rows, sch = plan_queues(p, pricing, state, after)
    at = np.searchsorted(rows, inserted)
    late = late_seconds(p, inserted, sch.start_s[at], sch.finish_s[at])
    assert np.all(late <= 0), late
    cur = t.current_technician
    ejected = np.flatnonzero((plan >= 0) & (after < 0))
    assert not np.any(cur[ejected] >= 0)
    if not inserts:
        np.testing.assert_array_equal(after < 0, plan < 0)  # same tickets assigned
    moved = np.flatnonzero((after != plan) & (cur >= 0) & (after != cur) & (after >= 0))
    if min_gain > 0:
        gain = move_gain(p, w, state, moved, after[moved], overtime)
        assert np.all(gain >= min_gain), (min_gain, np.sort(gain)[:5])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.booleans(), st.booleans())
def test_polish_plan_advanced_pass_by_pass_equals_a_fresh_one(
    seed: int, overtime: bool, inserts: bool
) -> None:
    """Polish keeps its plan (queues, places, breaches, costs, screening costs) across
    passes, re-sequencing only the queues a pass changed and reusing the screening drives
    of the others: after every pass it equals the plan built afresh from the new
    decision; and the pairs it screens next (the ``live`` ones) find the same moves as
    every pair would."""
    p = random_problem(
        120, 15, seed, assigned_frac=0.4, pinned_frac=0.1, radius_km=8, shift_h=4.0
    )
    w = CostWeights()
    params = SolveParams(weights=w, allow_overtime=overtime)
    plan = baseline_solve(p, params, "nearest")[0].technician.copy()
    plan[p.tickets.pinned] = -1
    state = tech_state(p, w)
    pricing = late_pricing(p, w)
    pairs = move_pairs(p, w, state, plan, overtime, None, inserts)
    assert pairs is not None
    kept = _Plan(p, w, pricing, state, plan, overtime)
    tried = np.zeros(0, np.int64)
    inserted = np.zeros(plan.size, np.bool_)
    live: np.ndarray | None = np.ones(pairs[0].size, np.bool_)
    for _ in range(4):
        assert live is not None
        tried, live = _pass(kept, pairs, live, plan, tried, inserted)
        if live is not None:
            every = _candidates(kept, pairs, plan, tried)
            screened = _candidates(kept, tuple(x[live] for x in pairs), plan, tried)  # type: ignore[arg-type]
            assert _rows(screened) == _rows(every)
        fresh = _Plan(p, w, pricing, state, plan, overtime)
        busy = fresh.qlen > 0
        np.testing.assert_array_equal(kept.qlen, fresh.qlen)
        width = fresh.queue.shape[1]
        np.testing.assert_array_equal(kept.queue[:, :width], fresh.queue)
        assert (kept.queue[:, width:] == -1).all()
        np.testing.assert_array_equal(kept.place, fresh.place)
        np.testing.assert_array_equal(kept.late, fresh.late)
        on = np.flatnonzero(plan >= 0)  # static terms where each ticket is held
        np.testing.assert_array_equal(kept.held[on], fresh.held[on])
        np.testing.assert_array_equal(kept.held[on], static_cost(p, w, on, plan[on]))
        np.testing.assert_array_equal(kept.count, fresh.count)
        np.testing.assert_array_equal(kept.cost, fresh.cost)
        np.testing.assert_array_equal(kept.screen[busy], fresh.screen[busy])
        assert (kept.screen[~busy] == 0).all()
        if live is None:
            break


def _rows(moves: np.ndarray) -> list[tuple[float, ...]]:
    """Candidate moves (:func:`solver.polish._candidates`) as sorted tuples."""
    return sorted(map(tuple, moves.tolist()))


def test_polish_screening_memo_keeps_edits_of_long_queues_apart() -> None:
    """The memo of screening drives keys an edit by (technician, place dropped, ticket
    added): a queue longer than any technician's free places (a plan given from outside)
    still gets its own drive for every edit, the same as driven without the memo."""
    p = random_problem(30, 4, 3, capacity=1, radius_km=8, shift_h=24.0)
    w = CostWeights()
    state = tech_state(p, w)
    plan = np.full(p.tickets.count, -1, np.int64)
    plan[[0, 1, 2]] = 0  # three tickets on a technician with at most one free place
    plan[[3]] = 1
    plan[p.tickets.pinned] = -1
    assert state.free_slots.max() <= 1
    kept = _Plan(p, w, late_pricing(p, w), state, plan, True)
    assert kept.qlen[0] == 3
    tech = np.array([0, 0, 0, 0, 1, 1], np.int64)
    drop = np.array([-1, 0, 1, 2, -1, 0], np.int64)
    add = np.full(tech.size, -1, np.int64)
    busy = kept.qlen[tech] > drop  # edits of places the queue has
    tech, drop, add = tech[busy], drop[busy], add[busy]
    np.testing.assert_array_equal(
        kept.edited(tech, drop, add), kept._edited(tech, drop, add)
    )


def test_screening_memo_drives_a_changed_queue_afresh() -> None:
    """Once queues change (:meth:`solver.polish._Plan.advance`), every edit of them is
    driven on the new queue, none read from the drives of the old one: each edit's
    screening cost equals its drive without the memo, before and after."""
    p = random_problem(40, 6, 5, capacity=3, radius_km=8, shift_h=24.0)
    w = CostWeights()
    state = tech_state(p, w)
    pricing = late_pricing(p, w)
    movable = np.flatnonzero(~p.tickets.pinned)
    plan = np.full(p.tickets.count, -1, np.int64)
    plan[movable[:12]] = np.arange(12) % 6
    kept = _Plan(p, w, pricing, state, plan, True)
    m = p.technicians.count
    tech = np.repeat(np.arange(m), 3)
    drop = np.tile(np.array([-1, 0, -1]), m)
    add = np.tile(np.array([-1, movable[20], movable[21]]), m)

    def edits_as_driven() -> None:
        busy = kept.qlen[tech] > drop
        t, d, a = tech[busy], drop[busy], add[busy]
        np.testing.assert_array_equal(kept.edited(t, d, a), kept._edited(t, d, a))

    edits_as_driven()
    moved = plan.copy()
    moved[movable[0]], moved[movable[1]] = 2, 3  # from queues 0 and 1 to 2 and 3
    changed = np.zeros(m, np.bool_)
    changed[[0, 1, 2, 3]] = True
    _, rows, sch = _sequenced(p, pricing, state, moved, True)
    kept.advance(changed, rows, moved[rows], sch, None)
    edits_as_driven()


_KEYS = st.lists(st.integers(-50, 50), max_size=30).map(lambda x: np.array(x, np.int64))


@settings(max_examples=200, deadline=None)
@given(st.lists(_KEYS, max_size=8), st.sampled_from([1, 2, 8, 1024]))
def test_memo_answers_every_key_as_computed_and_computes_a_kept_key_once(
    rounds: list[np.ndarray], slots: int
) -> None:
    """:class:`solver.polish._Memo` over rounds of look-ups: every key's value is the one
    computed for it, a key is computed once, and the memo holds exactly the keys asked
    for (in no order: a hash table), each with its value; from any first size of its
    table (it grows as it fills)."""
    memo = _Memo(np.float64, slots)
    kept: set[int] = set()
    asked: list[int] = []  # the keys computed in a round
    for keys in rounds:
        asked.clear()

        def compute(at: np.ndarray, keys: np.ndarray = keys) -> np.ndarray:
            asked.extend(keys[at].tolist())
            return keys[at] * 0.5 + 1.0

        values = memo.get(keys, compute)
        np.testing.assert_array_equal(values, keys * 0.5 + 1.0)
        assert sorted(asked) == sorted(set(keys.tolist()) - kept)  # each new key once
        kept |= set(keys.tolist())
        assert sorted(memo.keys.tolist()) == sorted(kept)
        np.testing.assert_array_equal(memo.values, memo.keys * 0.5 + 1.0)


@settings(max_examples=200, deadline=None)
@given(_KEYS, _KEYS)
def test_sorted_keys_and_union_are_numpys_unique_and_union(
    keys: np.ndarray, more: np.ndarray
) -> None:
    """:func:`solver.polish._sorted_keys` is :func:`numpy.unique`, and
    :func:`solver.polish._union` of two such key sets is :func:`numpy.union1d`."""
    np.testing.assert_array_equal(_sorted_keys(keys), np.unique(keys))
    union = _union(_sorted_keys(keys), _sorted_keys(more))
    np.testing.assert_array_equal(union, np.union1d(keys, more))
    assert union.dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 10_000),
    st.lists(
        st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 4)),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_screening_drives_grouped_equal_each_job_driven_alone(
    seed: int, shapes: list[tuple[int, int, int]], overtime: bool
) -> None:
    """The screening's jobs driven in :func:`solver.polish._drive_groups` (one length's
    orders padded into one drive while it is small) give each candidate the best place
    cost each job gives when driven alone."""
    p = random_problem(30, 12, seed, radius_km=8, shift_h=4.0)
    w = CostWeights()
    state = tech_state(p, w)
    pricing = late_pricing(p, w)
    rng = np.random.default_rng(seed)
    total = sum(t for t, _, _ in shapes)
    spots = rng.permutation(total)
    jobs, start = [], 0
    for rows, places, q in shapes:
        orders = rng.integers(0, p.tickets.count, (rows, places, q))
        tk = rng.integers(0, p.technicians.count, rows)
        jobs.append((spots[start : start + rows], orders, tk))
        start += rows

    def drive(orders: np.ndarray, tk: np.ndarray) -> np.ndarray:
        return screen_orders(p, w, pricing, state, overtime, orders, tk).min(axis=1)

    alone, grouped = np.zeros(total), np.zeros(total)
    for at, orders, tk in jobs:
        alone[at] = drive(orders, tk)
    groups = _drive_groups(jobs)
    for at, orders, tk in groups:
        grouped[at] = drive(orders, tk)
    np.testing.assert_array_equal(grouped, alone)
    assert len(groups) == len({q for _, _, q in shapes})  # all small: one per length


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(1, SEQUENTIAL_SUM_MAX - 1),
    st.integers(0, 40),
    st.integers(1, 6),
    st.booleans(),
    st.booleans(),
)
def test_insertions_screened_from_shared_legs_are_screen_orders(
    seed: int, q: int, rows: int, bases: int, overtime: bool, keyed: bool
) -> None:
    """Insertions screened in the compiled loop from their bases' legs
    (:func:`solver.polish.screen_insertions`) cost at their best places bit for bit what
    :func:`solver.polish.screen_orders` gives the orders themselves: rows sharing a base
    (one technician, one base, many new tickets), tickets repeated, short shifts that
    overrun with and without overtime."""
    p = random_problem(30, 12, seed, radius_km=8, shift_h=4.0)
    w = CostWeights()
    state = tech_state(p, w)
    pricing = late_pricing(p, w)
    rng = np.random.default_rng(seed)
    base_rows = rng.integers(0, p.tickets.count, (bases, q))
    base_tech = rng.integers(0, p.technicians.count, bases)
    of = rng.integers(0, bases, rows)
    base, tech = base_rows[of], base_tech[of]
    new = rng.integers(0, p.tickets.count, rows)
    key = of.astype(np.int64) if keyed else None
    got = screen_insertions(p, w, pricing, state, overtime, base, new, tech, key)
    orders = insertions(base, new)
    want = screen_orders(p, w, pricing, state, overtime, orders, tech).min(axis=1)
    np.testing.assert_array_equal(got, want)
