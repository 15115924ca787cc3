"""Faster computations of the pricing equal the ones they replaced, value for value.

Each property draws a random region (``solver.synthetic.random_problem``: tickets with
pinned, assigned, excluded and preferred ones) and random pairs, and compares the
solver's computation with the plain one it replaced (written here as the reference).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from solver.cost import (
    PAIR_TERMS,
    STATIC_TERMS,
    PairSet,
    Stays,
    TechState,
    evaluate_pairs,
    in_pairs,
    late_pricing,
    move_gain,
    pair_total,
    static_terms,
    terms_at,
)
from solver.finalize import Rows, decision, place_movable
from solver.geo import (
    point_terms,
    travel_time_bounds_s,
    travel_time_s,
    unit_vectors,
)
from solver.model import CostWeights, Problem, SolveParams
from solver.reasons import FIT_BLOCK, _fitting, _Queues, free_places, judge
from solver.solve import tech_state
from solver.synthetic import random_problem


def _without_location(problem: Problem, seed: int, share: float) -> Problem:
    """``problem`` with about ``share`` of its tickets and technicians without a
    location (NaN coordinates: no travel)."""
    rng = np.random.default_rng(seed)
    parts = {}
    for name in ("tickets", "technicians"):
        side = getattr(problem, name)
        gone = rng.random(side.count) < share
        lat, lon = side.lat_deg.copy(), side.lon_deg.copy()
        lat[gone] = lon[gone] = np.nan
        parts[name] = dataclasses.replace(side, lat_deg=lat, lon_deg=lon)
    return dataclasses.replace(problem, **parts)


def regions(technicians: int) -> st.SearchStrategy[Problem]:
    """Random regions of 1-60 tickets and 1-``technicians`` technicians, some without a
    location, tight shifts or not."""
    return st.builds(
        _without_location,
        st.builds(
            random_problem,
            n_tickets=st.integers(1, 60),
            n_technicians=st.integers(1, technicians),
            seed=st.integers(0, 2**31 - 1),
            shift_h=st.sampled_from([0.5, 2.0, 8.0]),
            pinned_frac=st.sampled_from([0.0, 0.1]),
            assigned_frac=st.sampled_from([0.0, 0.3]),
            excluded_frac=st.sampled_from([0.0, 0.2]),
            preferred_frac=st.sampled_from([0.0, 0.2]),
        ),
        st.integers(0, 2**31 - 1),
        st.sampled_from([0.0, 0.0, 0.3]),
    )


def _pairs(problem: Problem, seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tix = rng.integers(0, problem.tickets.count, size).astype(np.int64)
    tech = rng.integers(0, problem.technicians.count, size).astype(np.int64)
    return tix, tech


@settings(max_examples=60, deadline=None)
@given(
    problem=regions(12),
    seed=st.integers(0, 2**31 - 1),
    size=st.integers(0, 300),
    overtime=st.booleans(),
    min_gain=st.sampled_from([0.0, 600.0]),
)
def test_evaluate_pairs_terms_are_terms_at(
    problem: Problem, seed: int, size: int, overtime: bool, min_gain: float
) -> None:
    """``evaluate_pairs`` hands its skill surplus to ``terms_at``: its terms are exactly
    those ``terms_at`` computes on its own from the same travel and times, and its total
    is their sum over axis 0. Given the problem's late pricing and points' latitude
    terms (every row, computed once) both price the pairs exactly as when they price the
    pairs' rows themselves."""
    w = CostWeights(move_min_gain=min_gain)
    state = tech_state(problem, w)
    tix, tech = _pairs(problem, seed, size)
    ev, terms = evaluate_pairs(problem, w, state, tix, tech, overtime, with_terms=True)
    alone = terms_at(problem, w, tix, tech, ev.travel_s, ev.start_s, ev.finish_s)
    for name in PAIR_TERMS:
        assert np.array_equal(terms[name], alone[name]), name
    summed = np.sum([alone[name] for name in PAIR_TERMS], axis=0) if size else 0.0
    assert np.array_equal(ev.total, np.broadcast_to(summed, (size,)))
    # The problem's late pricing and points given (priced once for every row): the
    # same pairs.
    late = late_pricing(problem, w)
    t = problem.tickets
    points = (
        point_terms(t.lat_deg, t.lon_deg),
        point_terms(state.lat_deg, state.lon_deg),
    )
    given, given_terms = evaluate_pairs(
        problem, w, state, tix, tech, overtime, with_terms=True, late=late,
        points=points,
    )  # fmt: skip
    assert np.array_equal(given.travel_s, ev.travel_s)
    for name in PAIR_TERMS:
        assert np.array_equal(given_terms[name], terms[name]), name
    assert np.array_equal(given.total, ev.total)
    assert np.array_equal(given.feasible, ev.feasible)
    again = terms_at(
        problem, w, tix, tech, ev.travel_s, ev.start_s, ev.finish_s, late=late
    )
    for name in PAIR_TERMS:
        assert np.array_equal(again[name], alone[name]), name


@settings(max_examples=60, deadline=None)
@given(
    problem=regions(12),
    seed=st.integers(0, 2**31 - 1),
    size=st.integers(0, 300),
    overtime=st.booleans(),
)
def test_move_gains_from_the_stays_priced_once(
    problem: Problem, seed: int, size: int, overtime: bool
) -> None:
    """The held tickets' cost with their current technician priced once for the problem
    (``Stays``) gives the same move gains, hence the same churn check, as pricing the
    moving tickets' stays on every call."""
    w = CostWeights(move_min_gain=600.0)
    state = tech_state(problem, w)
    tix, tech = _pairs(problem, seed, size)
    stays = Stays.of(problem, w, state, overtime, late_pricing(problem, w))
    alone = move_gain(problem, w, state, tix, tech, overtime)
    given_stays = move_gain(problem, w, state, tix, tech, overtime, stays=stays)
    assert np.array_equal(alone, given_stays, equal_nan=True)
    ev, _ = evaluate_pairs(problem, w, state, tix, tech, overtime)
    ev2, _ = evaluate_pairs(problem, w, state, tix, tech, overtime, stays=stays)
    assert np.array_equal(ev.churn_ok, ev2.churn_ok)


@settings(max_examples=200, deadline=None)
@given(
    terms=st.integers(0, 40).flatmap(
        lambda size: st.fixed_dictionaries(
            {
                name: hnp.arrays(np.float64, size, elements=st.floats(-1e12, 1e12))
                for name in PAIR_TERMS
            }
        )
    )
)
def test_pair_total_is_the_sum_over_axis_0(terms: dict[str, np.ndarray]) -> None:
    """``pair_total`` adds the terms one by one in ``PAIR_TERMS`` order: bit for bit the
    ``np.sum`` of the stacked terms over axis 0 that it replaced."""
    expected = np.sum([terms[name] for name in PAIR_TERMS], axis=0)
    assert np.array_equal(pair_total(terms), expected)


def _fitting_by_pairs(
    problem: Problem, params: SolveParams, rows: np.ndarray, techs: np.ndarray
) -> np.ndarray:
    """The witness search of :func:`solver.reasons._fitting` with the pair rules taken
    from ``evaluate_pairs`` (no exclusion, the shift kept), pair by pair."""
    k, w = problem.technicians, params.weights
    state = tech_state(problem, w)
    out = np.full(rows.size, -1, np.int64)
    techs = techs[
        np.argsort(-(k.shift_end_s[techs] - state.ready_s[techs]), kind="stable")
    ]
    for c in range(0, techs.size, FIT_BLOCK):
        left = np.flatnonzero(out < 0)
        kk, r = techs[c : c + FIT_BLOCK], rows[left]
        ev, _ = evaluate_pairs(
            problem, w, state, np.repeat(r, kk.size), np.tile(kk, r.size),
            params.allow_overtime,
        )  # fmt: skip
        ok = (~ev.excluded & ev.shift_ok).reshape(r.size, kk.size)
        for i in np.flatnonzero(ok.any(axis=1)):
            fitting = kk[ok[i]]
            out[left[i]] = fitting[r[i] % fitting.size]
    return out


def _shifts_on_the_edge(problem: Problem, seed: int) -> Problem:
    """``problem`` with about half of its technicians' shifts ending exactly when (or one
    float64 step before or after) some ticket would finish first in their queue."""
    rng = np.random.default_rng(seed)
    k, w = problem.technicians, CostWeights()
    tech = np.flatnonzero(rng.random(k.count) < 0.5)
    tix = rng.integers(0, problem.tickets.count, tech.size)
    ev, _ = evaluate_pairs(problem, w, tech_state(problem, w), tix, tech, True)
    end = np.asarray(k.shift_end_s, np.float64).copy()
    step = rng.integers(-1, 2, tech.size).astype(np.float64)
    end[tech] = np.nextafter(ev.finish_s, ev.finish_s + step)
    return dataclasses.replace(
        problem, technicians=dataclasses.replace(k, shift_end_s=end)
    )


@settings(max_examples=80, deadline=None)
@given(
    problem=regions(150),
    seed=st.integers(0, 2**31 - 1),
    overtime=st.booleans(),
    edge=st.booleans(),
)
def test_fitting_witness_is_the_pair_rules_witness(
    problem: Problem, seed: int, overtime: bool, edge: bool
) -> None:
    """The unassigned-reason witness search (rows x technicians matrices; most pairs'
    shift check settled by bounds on their travel, the others' travel computed) picks
    exactly the witness the pair rules of ``evaluate_pairs`` give, pair by pair: same
    travel, same shift check, shifts that end right at a pair's finish included
    (technicians in blocks of ``FIT_BLOCK``: up to 150 of them, so several blocks). No
    plan: every queue is empty, so the check in the queue is the first-in-queue one."""
    if edge:
        problem = _shifts_on_the_edge(problem, seed)
    rng = np.random.default_rng(seed)
    n, m = problem.tickets.count, problem.technicians.count
    rows = np.flatnonzero(rng.random(n) < 0.7)
    techs = np.flatnonzero(rng.random(m) < 0.8)
    params = SolveParams(allow_overtime=overtime)
    state = tech_state(problem, params.weights)
    empty = np.full(n, -1, np.int64)  # no plan: every queue is empty
    queues = (
        None if overtime else _Queues(problem, params, state, empty, np.ones(m, bool))
    )
    got = _fitting(problem, state, queues, rows, techs)
    assert np.array_equal(got, _fitting_by_pairs(problem, params, rows, techs))


def _points(draw: st.DrawFn, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes: anywhere, near or at a first point, nearly antipodal to
    it, or without location (NaN)."""
    lat0, lon0 = draw(st.floats(-89.9, 89.9)), draw(st.floats(-180.0, 180.0))
    lat, lon = np.empty(count), np.empty(count)
    for i in range(count):
        kind = draw(st.sampled_from(["any", "near", "same", "antipode", "none"]))
        step = draw(st.floats(-1e-3, 1e-3)) * draw(st.sampled_from([1.0, 1e-6, 1e-12]))
        if kind == "any":
            lat[i], lon[i] = (
                draw(st.floats(-90.0, 90.0)),
                draw(st.floats(-180.0, 180.0)),
            )
        elif kind == "antipode":
            lat[i], lon[i] = np.clip(step - lat0, -90.0, 90.0), lon0 - 180.0 + step
        elif kind == "none":
            lat[i] = lon[i] = np.nan
        else:
            shift = step if kind == "near" else 0.0
            lat[i], lon[i] = np.clip(lat0 + shift, -90.0, 90.0), lon0 - shift
    return lat, lon


@st.composite
def point_sets(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Two sets of points and a speed per pair."""
    p, q = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    a, b = _points(draw, p), _points(draw, q)
    speed = draw(hnp.arrays(np.float64, (p, q), elements=st.floats(0.5, 200.0)))
    return (*a, *b, speed)


@settings(max_examples=300, deadline=None)
@given(points=point_sets())
def test_travel_time_bounds_hold_the_travel_time(
    points: tuple[np.ndarray, ...],
) -> None:
    """The chord bounds hold the travel time as ``travel_time_s`` computes it, for points
    far apart, close, equal, nearly antipodal or without location (then both are 0)."""
    alat, alon, blat, blon, speed = points
    lower, upper = travel_time_bounds_s(
        unit_vectors(alat, alon), unit_vectors(blat, blon), speed
    )
    travel = travel_time_s(
        alat[:, None], alon[:, None], blat[None, :], blon[None, :], speed
    )
    assert np.all(lower <= travel)
    assert np.all(travel <= upper)
    nowhere = np.isnan(alat)[:, None] | np.isnan(blat)[None, :]
    assert np.all(lower[nowhere] == 0.0)
    assert np.all(upper[nowhere] == 0.0)


@settings(max_examples=200, deadline=None)
@given(
    pairs=hnp.arrays(np.int64, st.tuples(st.integers(0, 30), st.just(2)),
                     elements=st.integers(0, 9)),
    tix=hnp.arrays(np.int64, st.integers(0, 40), elements=st.integers(0, 12)),
    seed=st.integers(0, 2**31 - 1),
    matrix=st.booleans(),
)  # fmt: skip
def test_in_pairs_is_membership(
    pairs: np.ndarray, tix: np.ndarray, seed: int, matrix: bool
) -> None:
    """``in_pairs`` (sorted pair keys, repeated pairs included, looked up for the
    tickets that have a listed pair only) says exactly which (ticket, technician) pairs
    are listed, pairs given as arrays or as a (tickets, technicians) broadcast."""
    listed = {(int(a), int(b)) for a, b in pairs}
    tech = np.random.default_rng(seed).integers(0, 10, tix.size)
    if matrix:
        got = in_pairs(pairs, tix[:, None], tech[None, :], 10)
        grid = [[(a, b) in listed for b in tech.tolist()] for a in tix.tolist()]
        assert np.array_equal(got, np.array(grid, np.bool_).reshape(got.shape))
    else:
        got = in_pairs(pairs, tix, tech, 10)
        flat = [
            (a, b) in listed for a, b in zip(tix.tolist(), tech.tolist(), strict=True)
        ]
        assert np.array_equal(got, np.array(flat, np.bool_))
    has = PairSet.of(pairs, 10).has_pairs(tix)
    rows = {a for a, _ in listed}
    assert np.array_equal(has, np.array([a in rows for a in tix.tolist()], np.bool_))


def _random_plan(
    problem: Problem, seed: int, edge: bool
) -> tuple[Problem, SolveParams, TechState, np.ndarray]:
    """``problem`` (with shifts that end right at a pair's finish when ``edge``), the
    default parameters, its technicians' state and a random plan's technician per row
    (about 60% placed, any technician: full queues and overrunning ones)."""
    if edge:
        problem = _shifts_on_the_edge(problem, seed)
    rng = np.random.default_rng(seed)
    n, m = problem.tickets.count, problem.technicians.count
    params = SolveParams()
    state = tech_state(problem, params.weights)
    plan = np.where(rng.random(n) < 0.6, rng.integers(0, m, n), -1)
    return problem, params, state, decision(problem, plan)


@pytest.mark.slow  # 80 examples, ~11-14 s: the slow step's (the default step is near 10 min)
@settings(max_examples=80, deadline=None)
@given(problem=regions(40), seed=st.integers(0, 2**31 - 1), edge=st.booleans())
def test_judge_reads_the_queues_from_the_schedule(
    problem: Problem, seed: int, edge: bool
) -> None:
    """The judge given the plan's schedule (as ``place_movable`` sequenced it) reads its
    queues from it instead of sequencing them again: the same reasons and witnesses as
    the judge that sequences them, for random plans (full queues, overrunning ones,
    shifts that end right at a pair's finish)."""
    problem, params, state, tech = _random_plan(problem, seed, edge)
    rows = Rows.empty(tech)
    mov = np.flatnonzero((tech >= 0) & ~problem.tickets.pinned)
    place_movable(
        problem, params, state, late_pricing(problem, params.weights), mov, rows
    )
    un = np.flatnonzero(tech < 0)
    got = judge(problem, params, state, tech, un, (rows.position, rows.finish_s))
    want = judge(problem, params, state, tech, un)
    assert np.array_equal(got.reason, want.reason)
    assert np.array_equal(got.witness, want.witness)


@settings(max_examples=40, deadline=None)
@given(problem=regions(40), seed=st.integers(0, 2**31 - 1), edge=st.booleans())
def test_fitting_tries_pairs_after_the_last_stop_at_once_or_picks_first(
    problem: Problem, seed: int, edge: bool
) -> None:
    """The witness search tries a block's fitting pairs after the last stop of the
    queue all at once (few pairs) or the spread picks first and then the rows they leave
    (many): the same witnesses either way, for random plans (full queues, overrunning
    ones, shifts that end right at a pair's finish)."""
    problem, params, state, tech = _random_plan(problem, seed, edge)
    n, m = problem.tickets.count, problem.technicians.count
    room = free_places(problem, state, tech)
    queues = _Queues(problem, params, state, tech, room)
    rows = np.flatnonzero(tech < 0)
    techs = np.flatnonzero(room)
    picks_first = _fitting(problem, state, queues, rows, techs, at_once=0)
    at_once = _fitting(problem, state, queues, rows, techs, at_once=n * m)
    assert np.array_equal(picks_first, at_once)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(
    problem=regions(12),
    seed=st.integers(0, 2**31 - 1),
    min_gain=st.sampled_from([0.0, 600.0]),
)
def test_placed_rows_are_priced_as_evaluate_pairs(
    problem: Problem, seed: int, min_gain: float
) -> None:
    """``place_movable`` prices each placed row in the model (first in queue) exactly as
    ``evaluate_pairs`` prices the pair, and as driven with the same terms that do not
    depend on the times (``static_terms``), for random plans."""
    rng = np.random.default_rng(seed)
    n, m = problem.tickets.count, problem.technicians.count
    params = SolveParams(weights=CostWeights(move_min_gain=min_gain))
    w = params.weights
    state = tech_state(problem, w)
    tech = decision(problem, np.where(rng.random(n) < 0.7, rng.integers(0, m, n), -1))
    rows = Rows.empty(tech)
    mov = np.flatnonzero((tech >= 0) & ~problem.tickets.pinned)
    late = late_pricing(problem, w)
    place_movable(problem, params, state, late, mov, rows)
    _, first = evaluate_pairs(
        problem, w, state, mov, tech[mov], True, with_terms=True, late=late
    )
    static = static_terms(problem, w, mov, tech[mov])
    for name in PAIR_TERMS:
        assert np.array_equal(rows.first[name][mov], first[name]), name
    for name in STATIC_TERMS:
        assert np.array_equal(rows.driven[name][mov], static[name]), name
