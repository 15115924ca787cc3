"""Strong baselines (priority + EDD nearest, regret-2 insertion): hard constraints and rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import SolveParams, UnassignedReason
from solver.baselines import baseline_solve
from solver.strong_baselines import STRONG_BASELINES
from solver.synthetic import random_problem
from tests.solver import builders as b
from tests.solver.checks import assert_hard_constraints


@pytest.mark.parametrize("name", STRONG_BASELINES)
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 60),
    m=st.integers(1, 12),
    seed=st.integers(0, 10_000),
    capacity=st.integers(1, 4),
    shift_h=st.floats(0.3, 6.0),
    assigned=st.floats(0.0, 0.5),
    pinned=st.floats(0.0, 0.3),
    overtime=st.booleans(),
)
def test_strong_baselines_respect_capacity_skills_and_shift_ends(
    name: str,
    n: int,
    m: int,
    seed: int,
    capacity: int,
    shift_h: float,
    assigned: float,
    pinned: float,
    overtime: bool,
) -> None:
    """Random regions under load: skills, exclusions, capacity, shift end, pinned all hold."""
    p = random_problem(
        n,
        m,
        seed,
        n_skills=3,
        capacity=capacity,
        radius_km=15,
        shift_h=shift_h,
        assigned_frac=assigned,
        pinned_frac=pinned,
    )
    params = SolveParams(allow_overtime=overtime)
    sol, _ = baseline_solve(p, params, name)
    assert_hard_constraints(p, params, sol)
    un = sol.technician < 0
    assert not np.any(sol.reason[un] == UnassignedReason.PENALTY_CHEAPER), (
        "a baseline leaves a ticket out only when nobody can take it"
    )


def test_priority_edd_serves_the_urgent_ticket_first_at_the_nearest_technician() -> (
    None
):
    """One place left: the P1 ticket (created last) takes it, at the nearer technician."""
    t = b.tickets(
        3,
        priority=[3, 3, 1],
        created_s=[0.0, 10.0, 20.0],
        resolution_due_s=[7200.0, 3600.0, 9000.0],
        lat_deg=[42.36, 42.36, 42.40],
    )
    k = b.technicians(2, capacity=[1, 1], lat_deg=[42.30, 42.40])
    p = b.problem(t, k)
    sol, _ = baseline_solve(p, SolveParams(), "priority_edd")
    # P1 first -> nearest technician 1; then the earlier-due P3 (row 1) -> technician 0.
    assert sol.technician.tolist() == [-1, 0, 1]


def test_regret_places_the_ticket_with_one_option_before_the_flexible_one() -> None:
    """Ticket 0 could go to either technician, ticket 1 only to technician 0 (skill).

    FIFO nearest gives technician 0 to ticket 0 and strands ticket 1; regret-2 sees that
    ticket 1 has no second option and places it first.
    """
    t = b.tickets(2, skill_levels=[[0], [2]], created_s=[0.0, 10.0])
    k = b.technicians(
        2, capacity=[1, 1], skill_levels=[[3], [1]], lat_deg=[42.36, 42.50]
    )
    p = b.problem(t, k)
    nearest, _ = baseline_solve(p, SolveParams(), "nearest")
    assert nearest.technician.tolist() == [0, -1]
    sol, _ = baseline_solve(p, SolveParams(), "regret")
    assert sol.technician.tolist() == [1, 0]
