"""The ``overdue`` factor (issue 13 item 6; 0.01 by default): a ticket that can no longer be
saved (already breached) weighs ``overdue`` times as much, so places go first to tickets
that can still be saved, as a breach count sees it; overdue tickets still fill free places."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import CostWeights, Problem, SolveParams, solve
from solver.constants import PRIORITY_FACTOR
from solver.cost import lateness_weight, reach_s, savable, unassigned_penalty
from solver.geo import travel_time_s
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


def test_reach_is_the_nearest_available_technicians_travel_at_the_fastest_speed() -> (
    None
):
    """Hand-computed: an unavailable technician nearer is ignored; the fastest speed of
    the available ones is used whoever is nearest; a ticket without location is 0 away,
    and every ticket is when an available technician has no location."""
    t = tickets(2, lat_deg=[BOSTON[0] + 0.1, np.nan], lon_deg=[BOSTON[1], np.nan])
    k = technicians(
        3,
        lat_deg=[BOSTON[0], BOSTON[0] - 0.5, BOSTON[0] + 0.1],
        speed_kmh=[30.0, 60.0, 30.0],
        available=[True, True, False],
    )
    expected = travel_time_s(BOSTON[0], BOSTON[1], BOSTON[0] + 0.1, BOSTON[1], 60.0)
    np.testing.assert_allclose(reach_s(problem(t, k)), [float(expected), 0.0])
    k_remote = technicians(2, lat_deg=[BOSTON[0], np.nan], lon_deg=[BOSTON[1], np.nan])
    np.testing.assert_allclose(reach_s(problem(t, k_remote)), [0.0, 0.0])


@pytest.mark.parametrize(("n", "m"), [(40, 8), (400, 100)])
def test_reach_is_the_least_travel_over_every_available_technician(
    n: int, m: int
) -> None:
    """By definition, over every (ticket, available technician) pair at the fastest speed:
    the small problem takes every pair, the larger one (more than ``DENSE_PAIRS_MAX``
    pairs) the spatial index; both give the same bound."""
    p = random_problem(n, m, seed=7)
    t, k = p.tickets, p.technicians
    on = np.flatnonzero(k.available)
    every = travel_time_s(
        t.lat_deg[:, None],
        t.lon_deg[:, None],
        k.lat_deg[on],
        k.lon_deg[on],
        np.max(k.speed_kmh[on]),
    )
    np.testing.assert_allclose(reach_s(p), every.min(axis=1), rtol=1e-9, atol=1e-6)
