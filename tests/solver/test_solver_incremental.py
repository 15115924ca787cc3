"""Incremental re-solve: reuses work after appended tickets, keeps constraints, does not churn."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from solver import CostWeights, Problem, SolveParams, SolveStatus, solve
from solver.candidates import build_candidates, skill_groups
from solver.certify import pricing_groups
from solver.constants import COST_SCALE, DENSE_PAIRS_MAX
from solver.core import Core, certified_flow, model_cost
from solver.cost import (
    drop_penalty,
    evaluate_pairs,
    grow_reach_s,
    grow_skill_rows,
    late_pricing,
    memo_of,
    reach_s,
    savable,
    skill_rows,
    to_scaled,
)
from solver.incremental import IncrementalSolver, _same
from solver.incremental_plan import _plan_arcs, flow_core, plan_step
from solver.local import places
from solver.position import movable_plan, moves_below
from solver.row_prices import RowPrices
from solver.solve import tech_state
from solver.synthetic import random_problem
from tests.solver.checks import assert_hard_constraints

if TYPE_CHECKING:
    from collections.abc import Iterator

    from solver.model import Solution


def append_tickets(p: Problem, src: Problem, count: int) -> Problem:
    """``p`` with the first ``count`` tickets of ``src`` appended (unassigned, unpinned)."""
    t, s = p.tickets, src.tickets
    skip = ("excluded", "preferred")
    cols = {
        f.name: np.concatenate([getattr(t, f.name), getattr(s, f.name)[:count]])
        for f in dataclasses.fields(t)
        if f.name not in skip
    }
    cols["current_technician"][t.count :] = -1
    cols["pinned"][t.count :] = False
    return dataclasses.replace(p, tickets=dataclasses.replace(t, **cols))


def commit(p: Problem, decision: np.ndarray) -> Problem:
    """The caller committed ``decision``: assigned tickets now have it as incumbent."""
    cur = np.where(p.tickets.pinned, p.tickets.current_technician, decision)
    return dataclasses.replace(
        p, tickets=dataclasses.replace(p.tickets, current_technician=cur)
    )


def test_one_new_ticket_is_incremental_and_close_to_cold() -> None:
    """After one appended ticket the re-solve is incremental, feasible and within 1% of cold."""
    base = random_problem(
        2000, 200, 1, assigned_frac=0.1, pinned_frac=0.05, radius_km=10
    )
    extra = random_problem(5, 200, 2, radius_km=10)
    for _, sol, cold in re_solves(SolveParams(), base, extra, [1, 1, 1]):
        assert sol.objective <= cold.objective * 1.01


def re_solves(
    params: SolveParams, p: Problem, extra: Problem, batches: list[int]
) -> Iterator[tuple[Problem, Solution, Solution]]:
    """A cold solve of ``p``, committed; then per batch the next tickets of ``extra``
    appended, re-solved incrementally (checked: incremental and feasible) and cold; the
    re-solve is committed before the next batch. Yields (problem, re-solve, cold solve)."""
    inc = IncrementalSolver(params)
    first = inc.solve(p)
    assert inc.last_mode == "cold"
    p = commit(p, first.technician)
    used = 0
    for b in batches:
        p = append_tickets(p, _shift(extra, used), b)
        used += b
        sol = inc.solve(p)
        assert inc.last_mode == "incremental"
        assert "incremental" in sol.stats.phases_s
        assert_hard_constraints(p, params, sol)
        yield p, sol, solve(p, params)
        p = commit(p, sol.technician)


def _shift(p: Problem, k: int) -> Problem:
    t = p.tickets
    cols = {
        f.name: getattr(t, f.name)[k:]
        for f in dataclasses.fields(t)
        if f.name not in ("excluded", "preferred")
    }
    return dataclasses.replace(
        p,
        tickets=dataclasses.replace(
            t, **cols, excluded=t.excluded[:0], preferred=t.preferred[:0]
        ),
    )


def test_places_without_a_location_stay_incremental() -> None:
    """Remote tickets and agents (no location: NaN) are unchanged in the next call, so a
    help desk's re-solve after a new ticket is incremental too (NaN != NaN made it cold)."""
    base = random_problem(600, 60, 4, assigned_frac=0.1, pinned_frac=0.05, radius_km=10)
    t, k = base.tickets, base.technicians
    remote = np.arange(t.count) % 3 == 0
    agent = np.arange(k.count) % 4 == 0
    base = dataclasses.replace(
        base,
        tickets=dataclasses.replace(
            t,
            lat_deg=np.where(remote, np.nan, t.lat_deg),
            lon_deg=np.where(remote, np.nan, t.lon_deg),
        ),
        technicians=dataclasses.replace(
            k,
            lat_deg=np.where(agent, np.nan, k.lat_deg),
            lon_deg=np.where(agent, np.nan, k.lon_deg),
        ),
    )
    extra = random_problem(2, 60, 5, radius_km=10)
    assert len(list(re_solves(SolveParams(), base, extra, [1, 1]))) == 2


@settings(max_examples=300, deadline=None)
@given(
    dtype=st.sampled_from([np.float64, np.float32, np.int64, np.int16, np.bool_]),
    shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=6),
    data=st.data(),
)
def test_same_is_array_equal_with_nan(
    dtype: type, shape: tuple[int, ...], data: st.DataObject
) -> None:
    """The compatibility check's comparison (bits first) answers as
    ``np.array_equal(equal_nan=True)``: NaN equals NaN, -0.0 equals 0.0, on contiguous
    arrays and strided views of them alike."""
    values = (
        st.sampled_from([0.0, -0.0, 1.5, np.nan, -np.inf])
        if np.dtype(dtype).kind == "f"
        else None
    )
    a = data.draw(hnp.arrays(dtype, shape, elements=values))
    b = data.draw(
        st.one_of(st.just(a.copy()), hnp.arrays(dtype, shape, elements=values))
    )
    want = bool(np.array_equal(a, b, equal_nan=np.dtype(dtype).kind == "f"))
    assert _same(a, b) is want
    assert _same(a[::2], b[::2]) is bool(
        np.array_equal(a[::2], b[::2], equal_nan=np.dtype(dtype).kind == "f")
    )


def test_other_changes_solve_cold() -> None:
    """A moved clock or a changed technician makes the next call a cold solve."""
    p = random_problem(300, 30, 3)
    inc = IncrementalSolver(SolveParams())
    inc.solve(p)
    inc.solve(dataclasses.replace(p, now_s=p.now_s + 60.0))
    assert inc.last_mode == "cold"
    k = p.technicians
    moved = dataclasses.replace(k, lat_deg=k.lat_deg + 0.01)
    inc.solve(dataclasses.replace(p, technicians=moved))
    assert inc.last_mode == "cold"
    inc.solve(dataclasses.replace(p, technicians=moved))
    assert inc.last_mode == "incremental"


def test_no_churn_without_gain_above_stability() -> None:
    """With committed incumbents and a prohibitive stability cost, no old ticket moves to
    another technician. (The shift repair may still send a held ticket back to the queue,
    as a cold solve of the same problem does: the repair is not stability-aware.)"""
    params = SolveParams(weights=CostWeights(stability=1e6))
    base = random_problem(1500, 150, 5, radius_km=10)
    inc = IncrementalSolver(params)
    p = commit(base, inc.solve(base).technician)
    before = inc.solve(p).technician
    after = inc.solve(
        append_tickets(p, random_problem(3, 150, 6, radius_km=10), 3)
    ).technician
    assert inc.last_mode == "incremental"
    kept = (before >= 0) & (after[: before.size] >= 0)
    np.testing.assert_array_equal(after[: before.size][kept], before[kept])


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@example(74, [3, 3], False)  # 2.47% worse than cold before the repair state was reset
@example(428, [1, 3], False)  # 2.23%
@example(250, [3, 3], False)  # 2.98%
@example(150, [1, 1, 3, 4], False)  # 2.6% before the churn rule was re-applied
@example(158, [1, 3], True)  # a higher flow optimum than cold's: stale arcs
@given(
    st.integers(0, 1000),
    st.lists(st.integers(1, 4), min_size=1, max_size=4),
    st.booleans(),
)
def test_random_appends_equal_cold_when_every_pair_is_an_arc(
    seed: int, batches: list[int], overtime: bool
) -> None:
    """Random batches of new tickets, committed in between, in a region small enough that
    every feasible pair is a candidate arc (``DENSE_PAIRS_MAX``): the incremental plan is
    the cold solve's plan, technician for technician."""
    params = SolveParams(allow_overtime=overtime)
    p = random_problem(400, 40, seed, assigned_frac=0.2, pinned_frac=0.1, radius_km=8)
    assert (p.tickets.count + 4 * 4) * p.technicians.count <= DENSE_PAIRS_MAX
    extra = random_problem(sum(batches), 40, seed + 1, radius_km=8)
    for _, sol, cold in re_solves(params, p, extra, batches):
        np.testing.assert_array_equal(sol.technician, cold.technician)
        assert sol.objective == cold.objective


@pytest.mark.slow  # ~11 s; the default run keeps test_sparse_appends_flow_equals_cold
@settings(max_examples=5, deadline=None)
# the cold plan sent a ticket back to its holder by no arc, which was mispriced:
@example(356, True)
@given(st.integers(0, 1000), st.booleans())
def test_sparse_appends_keep_the_cold_bound(seed: int, overtime: bool) -> None:
    """Beyond ``DENSE_PAIRS_MAX`` the arcs differ from a cold solve's, but both flows are
    certified over all pairs of the same model: the same optimum, so the same bound (up to
    the rounding of each ticket's scaled cost, 1/200 of a weight unit, in either plan)."""
    params = SolveParams(allow_overtime=overtime)
    p = random_problem(1200, 60, seed, assigned_frac=0.2, pinned_frac=0.1, radius_km=15)
    assert p.tickets.count * p.technicians.count > 2 * DENSE_PAIRS_MAX
    extra = random_problem(12, 60, seed + 1, radius_km=15)
    for now, sol, cold in re_solves(params, p, extra, [1, 3, 8]):
        assert sol.stats.model_bound is not None
        assert cold.stats.model_bound is not None
        rounding = 2 * now.tickets.count * 0.5 / COST_SCALE
        assert abs(sol.stats.model_bound - cold.stats.model_bound) <= rounding


def cold_flow_cost(p: Problem, params: SolveParams) -> int:
    """The cold solve's certified flow optimum (scaled), computed from scratch."""
    state = tech_state(p, params.weights)
    cands = build_candidates(p, params, state, np.flatnonzero(~p.tickets.pinned))
    core = Core.build(p, params, state, cands)
    res = certified_flow(core)
    assert core.certificate is not None
    assert core.certificate.certified
    return res.cost


def assert_churn_rule(p: Problem, params: SolveParams, sol: Solution) -> None:
    """A held ticket moved to another technician only for a gain the churn rule allows:
    the gain at the places the plan gives it (:func:`solver.position.moves_below`, the
    gain the service reports with the move), not the first-in-queue screen the flow's
    arcs pass (a plan's places differ from first). The plan as the rule reads it: pinned
    rows are their queue's occupancy, not places (:func:`solver.position.movable_plan`,
    as the service reads a solution's gains)."""
    state = tech_state(p, params.weights)
    plan = movable_plan(p, sol.technician)
    below = moves_below(p, params.weights, state, plan, params.allow_overtime)
    assert below.size == 0, f"moves below the churn rule's gain: rows {below}"


@settings(max_examples=6, deadline=None)
@example(746, [(1, False)], False)  # 500 x 50 was in the dense regime here
@example(3, [(1, True), (1, True), (1, True)], False)
@example(11, [(4, False), (2, True), (3, False)], True)
@example(10, [(1, False), (1, False), (3, False), (4, False)], False)  # a ticket
# moved out of a full queue went back to it for its new queue's shift, past its places
@given(
    st.integers(0, 1000),
    st.lists(st.tuples(st.integers(1, 4), st.booleans()), min_size=1, max_size=4),
    st.booleans(),
)
def test_sparse_appends_flow_equals_cold(
    seed: int, batches: list[tuple[int, bool]], overtime: bool
) -> None:
    """Beyond ``DENSE_PAIRS_MAX``, random batches of new tickets, each re-solve committed
    or not: the kept flow (shortest augmenting paths, local certificate) costs exactly
    the cold solve's certified flow optimum; every hard rule holds, the churn rule too;
    the status is honest: the plan is never below that optimum in the flow model, and
    OPTIMAL only when it attains it."""
    params = SolveParams(allow_overtime=overtime)
    p = random_problem(600, 50, seed, assigned_frac=0.2, pinned_frac=0.1, radius_km=15)
    usable = np.count_nonzero(tech_state(p, params.weights).free_slots > 0)
    assume(np.count_nonzero(~p.tickets.pinned) * usable > DENSE_PAIRS_MAX)  # sparse
    extra = random_problem(16, 50, seed + 1, radius_km=15)
    inc = IncrementalSolver(params)
    p = commit(p, inc.solve(p).technician)
    used = 0
    for count, committed in batches:
        p = append_tickets(p, _shift(extra, used), count)
        used += count
        assert inc.flow_kept
        sol = inc.solve(p)
        assert inc.last_mode == "incremental"
        assert inc.flow_cost == cold_flow_cost(p, params)
        assert_hard_constraints(p, params, sol)
        assert_churn_rule(p, params, sol)
        cert, bound = sol.stats.certificate, sol.stats.model_bound
        assert cert is not None
        assert cert.certified
        assert bound is not None
        model = sol.stats.model_objective
        assert model is not None
        gap = model - bound  # the plan's model cost above the flow optimum
        assert gap >= -1e-9 * abs(model)
        if sol.stats.status is SolveStatus.OPTIMAL:
            assert gap == 0
        if gap > 0:
            assert sol.stats.status is SolveStatus.FEASIBLE
        if committed:
            p = commit(p, sol.technician)


@settings(max_examples=25, deadline=None)
@example(
    920, (498, 40), 3, False, True
)  # savable kept across the limit (the reach not)
@given(
    st.integers(0, 1000),
    st.sampled_from([(40, 8), (498, 40), (700, 50)]),  # dense, at the limit, sparse
    st.integers(1, 6),
    st.booleans(),
    st.booleans(),
)
def test_grown_reach_equals_a_fresh_one(
    seed: int, size: tuple[int, int], count: int, committed: bool, with_reach: bool
) -> None:
    """The reach of the old rows kept after appended tickets and new incumbents (the
    incremental solver's accepted changes), the new rows' computed: the same array as
    a fresh :func:`solver.cost.reach_s` of the new problem, bit for bit, or none kept
    (the new rows took the region across ``DENSE_PAIRS_MAX``). The same for whether
    each row is savable (:func:`solver.cost.savable`, which reads the reach of the rows
    its bounds do not settle; ``with_reach``: the reach of every row was known too)."""
    n, m = size
    p = random_problem(n, m, seed, assigned_frac=0.2, pinned_frac=0.1, radius_km=15)
    if with_reach:
        reach_s(p)
    savable(p)
    q = append_tickets(p, random_problem(count, m, seed + 1, radius_km=15), count)
    if committed:  # every unpinned old row's incumbent changes
        rng = np.random.default_rng(seed)
        q = commit(q, rng.integers(-1, m, q.tickets.count))
    grow_reach_s(p, q)
    kept = memo_of(q, "reach_s", None)
    saved = memo_of(q, "savable", None)
    fresh = dataclasses.replace(q, tickets=q.tickets)  # q without its memo
    assert fresh.memo == {}
    if saved is None:  # only where the appended rows can cross the limit
        assert n * m <= DENSE_PAIRS_MAX < (n + count) * m
        assert kept is None  # the old rows' may differ under the other pairs
    else:
        assert np.array_equal(saved, savable(fresh))
        assert (kept is None) == (not with_reach)
        if kept is not None:
            assert np.array_equal(kept, reach_s(fresh))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 1000),
    st.integers(0, 6),
    st.sampled_from([1, 4_000, 190_000]),
    st.sampled_from([1, 4_000, 190_000]),
)
def test_grown_skill_rows_equal_fresh_ones(
    seed: int, count: int, old_levels: int, new_levels: int
) -> None:
    """The transposed skill rows kept after appended tickets, the new rows' added
    (:func:`solver.cost.grow_skill_rows`): a fresh :func:`solver.cost.skill_rows` of
    the new problem, values and type (the new rows may need a wider one: then none is
    kept, and the fresh one is computed)."""
    m = 8
    p = random_problem(30, m, seed)
    p.tickets.skill_levels[:] *= old_levels
    p = dataclasses.replace(p, tickets=p.tickets)  # without its memo
    skill_rows(p)
    extra = random_problem(max(count, 1), m, seed + 1)
    extra.tickets.skill_levels[:] *= new_levels
    q = append_tickets(p, extra, count)
    grow_skill_rows(p, q)
    fresh = dataclasses.replace(q, tickets=q.tickets)  # q without its memo
    for got, want in zip(skill_rows(q), skill_rows(fresh), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        assert got.flags.c_contiguous


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 1000),
    st.integers(0, 6),
    st.booleans(),
    st.sampled_from([CostWeights(), CostWeights(overdue=0.5, breach=3600.0)]),
)
def test_grown_row_prices_equal_fresh_ones(
    seed: int, count: int, committed: bool, w: CostWeights
) -> None:
    """The row prices kept after appended tickets and new incumbents, the new rows'
    priced (:meth:`RowPrices.grown`): the late pricing, deferred cost, unassigned
    penalty and drop penalty of a fresh problem, bit for bit; the late pricing is also
    the grown problem's own (``late_pricing`` reads it). The old problem's drop penalty
    kept, only the rows with a new incumbent and the new rows computed: the same."""
    m = 8
    p = random_problem(60, m, seed, assigned_frac=0.2, pinned_frac=0.1, shift_h=2.0)
    prices = RowPrices.of(p, w)
    q = append_tickets(p, random_problem(max(count, 1), m, seed + 1), count)
    if committed:  # every unpinned old row's incumbent changes
        rng = np.random.default_rng(seed)
        q = commit(q, rng.integers(-1, m, q.tickets.count))
    got = prices.grown(q, w)
    fresh = dataclasses.replace(q, tickets=q.tickets)  # q without its memo
    want = RowPrices.of(fresh, w)
    want_pen = drop_penalty(fresh, w)
    changed = np.flatnonzero(
        q.tickets.current_technician[: p.tickets.count] != p.tickets.current_technician
    )
    for a, b in (
        (got.late.per_second, want.late.per_second),
        (got.late.per_breach, want.late.per_breach),
        (got.deferred, want.deferred),
        (got.unassigned, want.unassigned),
        (got.drop_penalty(q, w), drop_penalty(fresh, w)),
        (got.drop_penalty(q, w, prices.drop_penalty(p, w), changed), want_pen),
    ):
        assert np.array_equal(a, b)
    assert late_pricing(q, w) is got.late


def flow_model_cost(p: Problem, params: SolveParams, plan: np.ndarray) -> int:
    """A plan's scaled cost in the flow model, priced from scratch: every assigned
    pair evaluated first-in-queue, the places it takes, the unassigned penalties."""
    state = tech_state(p, params.weights)
    on = np.flatnonzero(plan >= 0)
    ev, _ = evaluate_pairs(p, params.weights, state, on, plan[on], True)
    count = np.bincount(plan[on], minlength=p.technicians.count)
    _, place_cost = places(count, state.load, params.weights.balance * COST_SCALE)
    penalty = to_scaled(drop_penalty(p, params.weights))
    return int(to_scaled(ev.total).sum() + place_cost.sum() + penalty[plan < 0].sum())


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 1000), st.booleans())
def test_plan_cost_is_the_flow_model_cost(seed: int, commit_first: bool) -> None:
    """:func:`solver.core.model_cost` (the plan step's pricing) of the
    kept flow's decision is the flow's cost; of the plan step's plan, and of that plan
    with some tickets moved to pairs that are no arc, the flow model's cost from
    scratch (never below the flow's optimum)."""
    params = SolveParams()
    p = random_problem(600, 50, seed, assigned_frac=0.2, pinned_frac=0.1, radius_km=15)
    inc = IncrementalSolver(params)
    first = inc.solve(p)
    assume(inc.flow_kept)
    previous = np.where(p.tickets.pinned, -1, first.technician)  # the movable rows
    if commit_first:
        p = commit(p, first.technician)
    p = append_tickets(p, random_problem(2, 50, seed + 1, radius_km=15), 2)
    inc.solve(p)
    assert inc.last_mode == "incremental"
    flow = inc._kept()
    state = tech_state(p, params.weights)
    step = plan_step(p, params, state, flow, previous, np.zeros(0, np.int64))
    core = flow_core(p, params, state, flow)
    own = np.where(flow.tech_of >= 0, flow.tech_of, -1)
    assert model_cost(core, own) == flow.cost() == inc.flow_cost
    assert step.cost == model_cost(core, step.plan)
    assert step.cost == flow_model_cost(p, params, step.plan)
    assert step.cost >= flow.cost()
    rng = np.random.default_rng(seed)
    other = step.plan.copy()
    rows = rng.choice(np.flatnonzero(~p.tickets.pinned), 30, replace=False)
    other[rows] = rng.integers(0, p.technicians.count, rows.size)
    ev, _ = evaluate_pairs(p, params.weights, state, rows, other[rows], True)
    other[rows[~np.isfinite(ev.total)]] = -1
    assert model_cost(core, other) == flow_model_cost(p, params, other)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 1000), st.integers(0, 3), st.booleans())
def test_plan_arcs_are_the_live_arcs_of_the_plan_pairs(
    seed: int, twins: int, off_arcs: bool
) -> None:
    """The arcs the plan step prices a plan by (``_plan_arcs``): per assigned row in
    row order, the flow's own arc when the plan keeps the flow's technician and that
    arc is live, else every live arc of the row to the plan's technician in index order;
    for plans that keep, move along an arc and drop random rows (``off_arcs``: and move
    some to any technician, mostly one without an arc), with some pairs given a second
    arc (``twins``: none, so each row has one arc to its technician, or some)."""
    params = SolveParams()
    p = random_problem(600, 50, seed, assigned_frac=0.2, pinned_frac=0.1, radius_km=15)
    inc = IncrementalSolver(params)
    inc.solve(p)
    assume(inc.flow_kept)
    flow = inc._kept()
    rng = np.random.default_rng(seed)
    live = np.flatnonzero(flow.alive)
    plan = np.where(flow.tech_of >= 0, flow.tech_of, -1)
    rows = rng.choice(p.tickets.count, 40, replace=False)
    to_arc = live[rng.integers(0, live.size, 40)]
    plan[flow.arc_tix[to_arc[:20]]] = flow.arc_tech[to_arc[:20]]  # along an arc
    if off_arcs:
        plan[rows[:10]] = rng.integers(0, p.technicians.count, 10)  # mostly no arc
    plan[rows[10:20]] = -1
    twin = to_arc[:twins]  # a second arc of some moved rows' pairs
    flow.add_arcs(flow.arc_tix[twin], flow.arc_tech[twin], flow.arc_cost[twin])
    want = []
    for t in np.flatnonzero(plan >= 0).tolist():
        own = int(flow.arc_of[t])
        if flow.tech_of[t] == plan[t] and own >= 0 and flow.alive[own]:
            want.append(own)
        else:
            arcs = np.sort(flow.arcs_of[t])
            want += [
                a
                for a in arcs.tolist()
                if flow.alive[a] and flow.arc_tech[a] == plan[t]
            ]
    assert _plan_arcs(flow, plan).tolist() == want


@settings(max_examples=3, deadline=None)
@example(2)  # a later pricing round found pairs below its start's potentials
@given(st.integers(0, 1000))
def test_committed_cold_plan_keeps_the_cold_flow(seed: int) -> None:
    """The call after a cold solve whose plan was committed (its incumbents differ from
    the flow's decision in many rows: the flow is re-solved and priced over every row,
    in several rounds) still ends at the cold solve's certified flow optimum."""
    params = SolveParams()
    p = random_problem(3000, 300, seed, assigned_frac=0.1, pinned_frac=0.05)
    inc = IncrementalSolver(params)
    p = commit(p, inc.solve(p).technician)
    assume(inc.flow_kept)
    p = append_tickets(p, random_problem(1, 300, seed + 100), 1)
    inc.solve(p)
    assert inc.last_mode == "incremental"
    assert inc.flow_cost == cold_flow_cost(p, params)


def test_new_rows_are_priced_where_the_technicians_are_now() -> None:
    """The technicians' spatial blocks kept to price new rows are those of the last cold
    solve's technicians: after the technicians moved (a cold solve), a new row is priced
    against where they are now, not where they were at an earlier cold solve."""
    base = random_problem(
        2000, 200, 1, assigned_frac=0.1, pinned_frac=0.05, radius_km=10
    )
    extra = random_problem(2, 200, 2, radius_km=10)
    k = base.technicians
    order = np.random.default_rng(0).permutation(k.count)
    moved = dataclasses.replace(
        base,
        technicians=dataclasses.replace(
            k, lat_deg=k.lat_deg[order], lon_deg=k.lon_deg[order]
        ),
    )
    solver = IncrementalSolver(SolveParams())
    for p in (base, moved):
        solver.solve(p)
        grown = append_tickets(p, extra, 1)
        solver.solve(grown)
        assert solver.last_mode == "incremental"
    state = solver._state
    assert state is not None
    rows = np.array([grown.tickets.count - 1])
    got = solver._groups(grown, rows)
    want = pricing_groups(
        state,
        [(r, e) for r, e in skill_groups(grown, state, rows) if r.size and e.size],
    )
    assert len(got) == len(want) > 0
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.elig, w.elig)
        np.testing.assert_array_equal(g.centre, w.centre)
        np.testing.assert_array_equal(g.radius, w.radius)
