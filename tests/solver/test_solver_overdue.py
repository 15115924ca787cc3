"""The ``overdue`` factor (issue 13 item 6; 0.01 by default): a ticket that can no longer be
saved (already breached) weighs ``overdue`` times as much, so places go first to tickets
that can still be saved, as a breach count sees it; overdue tickets still fill free places."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import (
    NO_TECHNICIAN,
    CostWeights,
    Problem,
    SolveParams,
    Technicians,
    solve,
)
from solver.constants import DENSE_PAIRS_MAX, PRIORITY_FACTOR
from solver.cost import (
    _reach_bound_s,
    evaluate_pairs,
    late_seconds,
    lateness_weight,
    reach_s,
    savable,
    unassigned_penalty,
)
from solver.geo import travel_time_s
from solver.solve import tech_state
from solver.synthetic import random_problem
from tests.solver.builders import BOSTON, problem, technicians, tickets

AS_ANY = SolveParams(weights=CostWeights(overdue=1.0))


def overdue_p1_and_saveable_p3(capacity: int) -> Problem:
    """One technician with ``capacity`` places, at the tickets' address. Ticket 0: P1,
    its response was due 30 minutes ago (breached whatever happens). Ticket 1: P3, due
    in 2 hours, well within the 8-hour shift: saved if served, breached if left out."""
    t = tickets(2, priority=[1, 3], response_due_s=[-1800.0, 7200.0])
    return problem(t, technicians(1, capacity=[capacity]))


def breaches(p: Problem, technician: np.ndarray, sla_met: np.ndarray) -> int:
    """Breaches over every ticket: served late, or left out while due within the shift."""
    t, k = p.tickets, p.technicians
    left_out_due = (technician < 0) & (t.response_due_s <= k.shift_end_s.max())
    return int(((technician >= 0) & ~sla_met).sum() + left_out_due.sum())


def test_at_factor_one_the_one_place_goes_to_the_overdue_ticket() -> None:
    """Weighed as any ticket (``overdue = 1``, the default before 0.01), its late seconds
    (P1: x8) outweigh the P3's unassigned penalty: the P3 that could be saved is left out
    and breaches too."""
    p = overdue_p1_and_saveable_p3(capacity=1)
    sol = solve(p, AS_ANY)
    assert sol.technician.tolist() == [0, -1]
    assert breaches(p, sol.technician, sol.sla_met) == 2


def test_by_default_the_place_goes_to_the_ticket_that_can_still_be_saved() -> None:
    p = overdue_p1_and_saveable_p3(capacity=1)
    sol = solve(p, SolveParams())
    assert sol.technician.tolist() == [-1, 0]
    assert bool(sol.sla_met[1])
    assert breaches(p, sol.technician, sol.sla_met) == 1


def test_save_first_still_serves_the_overdue_ticket_in_a_free_place() -> None:
    """Its unassigned penalty stays at least a P4's: with room for both, both are served,
    even when its late seconds weigh nothing at all (``overdue = 0``)."""
    for factor in (CostWeights().overdue, 0.01, 0.0):
        params = SolveParams(weights=CostWeights(overdue=factor))
        sol = solve(overdue_p1_and_saveable_p3(capacity=2), params)
        assert sol.technician.tolist() == [0, 0]
        assert bool(sol.sla_met[1])


def test_overdue_factor_is_validated() -> None:
    with pytest.raises(ValueError, match=r"weights\.overdue"):
        CostWeights(overdue=-0.5)
    with pytest.raises(ValueError, match=r"weights\.overdue"):
        CostWeights(overdue=float("nan"))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), factor=st.floats(0.0, 4.0, allow_nan=False))
def test_only_tickets_that_cannot_be_saved_are_reweighed(
    seed: int, factor: float
) -> None:
    """Per ticket: the lateness weight is the default's, times ``overdue`` exactly for a
    ticket that can no longer be saved; the unassigned penalty is the default's for one
    that can, ``max(default x overdue, unassigned)`` for one that cannot."""
    p = random_problem(200, 4, seed=seed)
    base, w = CostWeights(overdue=1.0), CostWeights(overdue=factor)
    ok = savable(p)
    assert (~ok).any()  # P1s are due on creation: some are overdue
    assert ok.any()
    lw0, lw = lateness_weight(p, base), lateness_weight(p, w)
    np.testing.assert_allclose(lw, np.where(ok, lw0, lw0 * factor))
    rows = np.arange(p.tickets.count)[::3]
    np.testing.assert_allclose(lateness_weight(p, w, rows), lw[rows])
    u0, u = unassigned_penalty(p, base), unassigned_penalty(p, w)
    np.testing.assert_allclose(u[ok], u0[ok])
    np.testing.assert_allclose(u[~ok], np.maximum(u0[~ok] * factor, base.unassigned))
    pf = PRIORITY_FACTOR[p.tickets.priority]
    np.testing.assert_allclose(u0, base.unassigned * pf)


def unreachable_p1_and_saveable_p3() -> Problem:
    """One technician with one place at Boston (30 km/h). Both tickets 0.1 degree north
    (11 km, about half an hour away). Ticket 0: P1, response due in 10 minutes: on time
    if work started now, but no technician can be there by then. Ticket 1: P3, due in 2
    hours: saved if served, breached if left out."""
    t = tickets(
        2,
        lat_deg=[BOSTON[0] + 0.1] * 2,
        priority=[1, 3],
        response_due_s=[600.0, 7200.0],
    )
    return problem(t, technicians(1, capacity=[1]))


def test_a_ticket_no_technician_can_reach_in_time_is_not_savable() -> None:
    """The place goes to the P3 that can still be saved, not to the P1 nobody can reach
    before its due time (served, it would breach anyway)."""
    p = unreachable_p1_and_saveable_p3()
    assert savable(p).tolist() == [False, True]
    sol = solve(p, SolveParams())
    assert sol.technician.tolist() == [-1, 0]
    assert bool(sol.sla_met[1])
    assert breaches(p, sol.technician, sol.sla_met) == 1


def only_a_far_technician_may_take_the_p1() -> Problem:
    """Two technicians, 30 km/h. Technician 0 stands at both tickets' address but lacks
    their skill; technician 1 holds it, one place, 0.1 degree south (about half an hour
    away). Ticket 0: P1, response due in 10 minutes: the nearest technician could be
    there now, but the only one that may take it arrives 20 minutes too late. Ticket 1:
    P3, due in 2 hours: saved if technician 1 serves it, breached if left out."""
    t = tickets(
        2, priority=[1, 3], response_due_s=[600.0, 7200.0], skill_levels=[[1], [1]]
    )
    k = technicians(
        2,
        lat_deg=[BOSTON[0], BOSTON[0] - 0.1],
        capacity=[3, 1],
        skill_levels=[[0], [3]],
    )
    return problem(t, k)


def test_a_ticket_late_at_every_first_place_it_may_take_is_not_savable() -> None:
    """The nearest technician lacks the skill: the P1 is late at the first place of the
    only technician that may take it, so served it breaches anyway; the place goes to
    the P3 that can still be saved (the bound from the nearest technician, skills aside,
    called the P1 savable and served it late: two breaches)."""
    p = only_a_far_technician_may_take_the_p1()
    assert savable(p).tolist() == [False, True]
    sol = solve(p, SolveParams())
    assert sol.technician.tolist() == [-1, 1]
    assert bool(sol.sla_met[1])
    assert breaches(p, sol.technician, sol.sla_met) == 1


def test_reach_is_the_first_arrival_of_a_technician_that_may_take_the_ticket() -> None:
    """Hand-computed: of seven technicians at the ticket's address only one free in 20
    minutes may take it (the others lack the skill, end their shift before the work is
    done, are excluded, off duty, or full of pinned work); one 0.1 degree south (at its
    own 40 km/h) arrives later. Without the free one, the far one's travel. A ticket
    without location is no travel away: the least time free of those that may take it.
    None may take one that needs a skill nobody holds: 0 (its due time against now
    decides; a later plan may find it someone)."""
    here, south = BOSTON[0], BOSTON[0] - 0.1
    t = tickets(
        4,
        lat_deg=[here, here, np.nan, here],
        lon_deg=[BOSTON[1], BOSTON[1], np.nan, BOSTON[1]],
        skill_levels=[[1, 0], [0, 0], [1, 0], [0, 1]],
        current_technician=[NO_TECHNICIAN, 6, NO_TECHNICIAN, NO_TECHNICIAN],
        pinned=[False, True, False, False],
        excluded=[[0, 4]],
    )

    def techs(free_at_2: float) -> Technicians:
        return technicians(
            7, 2,
            lat_deg=[here, south, here, here, here, here, here],
            skill_levels=[[0, 0]] + [[3, 0]] * 6,
            free_at_s=[0.0, 0.0, free_at_2, 0.0, 0.0, 0.0, 0.0],
            shift_end_s=[8 * 3600.0, 8 * 3600.0, 8 * 3600.0, 1200.0, 8 * 3600.0, 8 * 3600.0, 8 * 3600.0],
            speed_kmh=[30.0, 40.0, 30.0, 30.0, 30.0, 30.0, 30.0],
            available=[True, True, True, True, True, False, True],
            capacity=[3, 3, 3, 3, 3, 3, 1],
        )  # fmt: skip

    far = float(travel_time_s(south, BOSTON[1], here, BOSTON[1], 40.0))
    assert far > 1200.0
    reach = reach_s(problem(t, techs(1200.0)))
    np.testing.assert_allclose(reach[[0, 2]], [1200.0, 0.0])
    assert reach[3] == 0.0
    reach = reach_s(problem(t, techs(7200.0)))
    np.testing.assert_allclose(reach[[0, 2]], [far, 0.0])


def first_places(p: Problem) -> np.ndarray:
    """The definition, from the exact core's own pricing: per ticket, the least seconds
    from now to the arrival at the first place of any technician that may take it
    (``evaluate_pairs(...).placeable`` over every pair), 0 when none may."""
    n, m = p.tickets.count, p.technicians.count
    state = tech_state(p, CostWeights())
    tix, tech = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    ev, _ = evaluate_pairs(p, CostWeights(move_min_gain=0.0), state, tix, tech, False)
    arrival = state.ready_s[tech] + ev.travel_s - p.now_s
    first = np.where(ev.placeable, arrival, np.inf).reshape(n, m).min(axis=1)
    return np.where(np.isinf(first), 0.0, first)


@pytest.mark.parametrize(("n", "m"), [(40, 8), (400, 100)])
def test_reach_against_the_definition(n: int, m: int) -> None:
    """Every pair in a small region: the definition exactly. Above ``DENSE_PAIRS_MAX``
    pairs (the spatial index), for each ticket some technician may hold: never above it
    (a ticket it calls unsavable is late at every first place) and never below the bound
    from the nearest available technician at the fastest speed; equal for most."""
    p = random_problem(n, m, seed=7)
    exact = first_places(p)
    reach = reach_s(p)
    if n * m <= DENSE_PAIRS_MAX:
        np.testing.assert_allclose(reach, exact, rtol=1e-9, atol=1e-6)
        return
    t, k = p.tickets, p.technicians
    on = np.flatnonzero(k.available)
    nearest = travel_time_s(
        t.lat_deg[:, None], t.lon_deg[:, None], k.lat_deg[on], k.lon_deg[on],
        np.max(k.speed_kmh[on]),
    ).min(axis=1)  # fmt: skip
    held = exact > 0
    assert held.mean() > 0.9
    assert (reach[held] <= exact[held] + 1e-6).all()
    assert (reach[held] >= nearest[held] - 1e-6).all()
    assert np.mean(np.isclose(reach[held], exact[held])) > 0.5


def test_a_pinned_ticket_is_reached_by_its_holder_even_when_its_queue_is_full() -> None:
    """Technician 0 holds the P1 pinned, its one place taken, at the ticket's address;
    technician 1, the other one with the skill, is an hour away. The P1 is in technician
    0's queue: savable by it (reach 0), not 'an hour away, already breached' (which would
    weigh it times ``overdue`` when its own queue is ordered)."""
    t = tickets(
        1,
        priority=[1],
        response_due_s=[1800.0],
        skill_levels=[[1]],
        current_technician=[0],
        pinned=[True],
    )
    k = technicians(2, lat_deg=[BOSTON[0], BOSTON[0] - 0.25], capacity=[1, 3])
    p = problem(t, k)
    np.testing.assert_allclose(reach_s(p), [0.0])
    assert savable(p).tolist() == [True]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    # one technician: the bound is the reach, widened; dense; sparse
    size=st.sampled_from([(30, 1), (60, 12), (150, 100), (520, 40)]),
    radius_km=st.sampled_from([3.0, 25.0, 400.0]),
    slack_s=st.sampled_from([0.0, 900.0, 3600.0]),
    busy=st.booleans(),
    unplaced=st.booleans(),
)
def test_savable_is_the_reach_rule_whatever_the_bounds_settle(
    seed: int,
    size: tuple[int, int],
    radius_km: float,
    slack_s: float,
    busy: bool,
    unplaced: bool,
) -> None:
    """``savable`` settles most rows by bounds on the reach (late even if somebody were
    there now; on time even at an upper bound of the reach) and computes the reach of
    the others only: every row as the rule says from the exact reach (work started at
    ``now + reach_s``, or its window start, not late), bit for bit, also of a subset of
    rows; and the upper bound is above the reach of every row. Due times near the
    reach (``slack_s``), busy technicians, tickets and technicians without location,
    pinned work, shifts ending soon."""
    n, m = size
    rng = np.random.default_rng(seed)
    p = random_problem(
        n, m, seed, radius_km=radius_km, shift_h=float(rng.choice([1.0, 8.0])),
        assigned_frac=0.3, pinned_frac=0.1, now_s=1.7e9,
    )  # fmt: skip
    t, k = p.tickets, p.technicians
    lat, lon = t.lat_deg.copy(), t.lon_deg.copy()
    klat, klon = k.lat_deg.copy(), k.lon_deg.copy()
    if unplaced:
        lat[rng.random(n) < 0.1] = np.nan
        lon[np.isnan(lat)] = np.nan
        klat[rng.random(m) < 0.1] = np.nan
        klon[np.isnan(klat)] = np.nan
    free = p.now_s + (rng.random(m) * 3600.0 if busy else np.full(m, -1.0))
    # due about when somebody could first be there: the bounds settle few of these
    due = p.now_s + rng.random(n) * 2.0 * slack_s + rng.normal(0.0, 300.0, n)
    p = dataclasses.replace(
        p,
        tickets=dataclasses.replace(
            t, lat_deg=lat, lon_deg=lon, response_due_s=np.where(
                rng.random(n) < 0.5, due, t.response_due_s
            ),
        ),
        technicians=dataclasses.replace(k, lat_deg=klat, lon_deg=klon, free_at_s=free),
    )  # fmt: skip
    reach = reach_s(dataclasses.replace(p, tickets=p.tickets))  # a copy: its own memo
    rows = np.arange(n)
    start = np.maximum(p.now_s + reach, p.tickets.window_start_s)
    rule = late_seconds(p, rows, start, start + p.tickets.duration_s) <= 0.0
    fresh = dataclasses.replace(p, tickets=p.tickets)
    some = rows[rng.random(n) < 0.3]
    assert np.array_equal(savable(fresh, some), rule[some])
    assert np.array_equal(savable(p), rule)
    assert (_reach_bound_s(fresh, rows) >= reach).all()
