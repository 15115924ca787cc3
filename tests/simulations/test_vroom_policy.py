"""The VROOM policies (simulations.vroom_policy) keep every hard constraint of the domain.

Real pyvroom solves on small random regions; the plan is driven by the one evaluator
(simulations.plan_eval) to check shift ends.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulations.plan_eval import drive_plan
from simulations.policies import POLICY_NAMES, make_policy
from solver.baselines import Tails, keep_held
from solver.model import NO_TECHNICIAN, Problem, Solution, SolveParams
from solver.solve import tech_state
from solver.synthetic import random_problem

pytest.importorskip(
    "vroom",
    reason="pyvroom is not installed (it is in the dev extra: pip install -e '.[dev]')",
)

regions = st.builds(
    random_problem,
    n_tickets=st.integers(0, 14),
    n_technicians=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    capacity=st.integers(1, 4),
    shift_h=st.floats(0.5, 8.0),
    assigned_frac=st.sampled_from([0.0, 0.3, 0.7]),
    pinned_frac=st.sampled_from([0.0, 0.2]),
    excluded_frac=st.sampled_from([0.0, 0.3]),
)


def check_hard_constraints(problem: Problem, sol: Solution) -> None:
    """Skills, exclusions, capacity, availability, pinned tickets, shift ends, positions."""
    t, k = problem.tickets, problem.technicians
    tech = np.asarray(sol.technician)
    a = np.flatnonzero(tech >= 0)
    assert (k.skill_levels[tech[a]] >= t.skill_levels[a]).all()
    assert not (tech[t.excluded[:, 0]] == t.excluded[:, 1]).any()
    assert (np.bincount(tech[a], minlength=k.count) <= k.capacity).all()
    pinned = np.flatnonzero(t.pinned)
    assert (tech[pinned] == t.current_technician[pinned]).all()
    movable = a[~t.pinned[a]]
    assert k.available[tech[movable]].all()
    driven = drive_plan(problem, tech, sol.position)
    assert not driven.overrun[movable].any()
    for j in np.unique(tech[a]).tolist():
        places = np.sort(sol.position[tech == j])
        assert places.tolist() == list(range(places.size))
    assert (sol.position[tech < 0] == -1).all()


def test_the_vroom_policies_are_simulator_peers() -> None:
    assert {"vroom", "vroom_keep"} <= set(POLICY_NAMES)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=regions, name=st.sampled_from(["vroom", "vroom_keep"]))
def test_vroom_plans_respect_skills_capacity_and_shift_ends(
    problem: Problem, name: str
) -> None:
    sol = make_policy(name, SolveParams()).solve(problem, None)
    check_hard_constraints(problem, sol)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=regions)
def test_vroom_keep_leaves_every_keepable_ticket_on_its_technician(
    problem: Problem,
) -> None:
    """A queued ticket its technician can still take (the baselines' keep rule) stays."""
    params = SolveParams()
    kept = np.full(problem.tickets.count, NO_TECHNICIAN, np.int64)
    keep_held(problem, Tails(tech_state(problem, params.weights)), False, kept)
    sol = make_policy("vroom_keep", params).solve(problem, None)
    rows = np.flatnonzero(kept >= 0)
    assert (sol.technician[rows] == kept[rows]).all()


@pytest.mark.parametrize("name", ["vroom", "vroom_keep"])
def test_a_ticket_nobody_can_serve_on_time_skips_the_on_time_pass(name: str) -> None:
    """No ticket can be on time: pass 1 has no job (VROOM refuses that), pass 2 runs."""
    problem = random_problem(1, 4, seed=25, capacity=1, shift_h=1.0, excluded_frac=0.0)
    sol = make_policy(name, SolveParams()).solve(problem, None)
    check_hard_constraints(problem, sol)


def test_vroom_serves_the_ticket_it_can_make_on_time_first() -> None:
    """One place, two tickets: the one VROOM can still serve on time gets it; a ticket no
    one can serve on time is still placed (second pass) when a place is left."""
    base = random_problem(2, 1, seed=3, capacity=1, excluded_frac=0.0, n_skills=0)
    now = base.now_s
    tight = now + 10.0  # impossible: no travel that short
    tickets = replace(
        base.tickets,
        response_due_s=np.array([tight, now + 20 * 3600.0]),
        resolution_due_s=np.array([tight, now + 24 * 3600.0]),
    )
    crew = replace(
        base.technicians,
        shift_end_s=np.array([now + 12 * 3600.0]),
        available=np.array([True]),
    )
    problem = Problem(tickets, crew, now)
    sol = make_policy("vroom", SolveParams()).solve(problem, None)
    assert sol.technician.tolist() == [-1, 0]
    wider = Problem(tickets, replace(crew, capacity=np.array([2])), now)
    sol = make_policy("vroom", SolveParams()).solve(wider, None)
    assert sol.technician.tolist() == [0, 0]
    # the on-time ticket first, the late one after it
    assert sol.position.tolist() == [1, 0]
    assert sol.sla_met.tolist() == [False, True]
