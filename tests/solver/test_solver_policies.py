"""Baselines and the one policy shape: round robin, least-loaded, nearest FIFO, optimizer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from solver import SolveParams
from solver.policies import POLICY_NAMES, DispatchPolicy, make_policy
from solver.synthetic import random_problem
from tests.solver.builders import problem, technicians, tickets
from tests.solver.checks import assert_hard_constraints


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_every_policy_respects_hard_constraints(name: str) -> None:
    """Same interface, same guarantees, comparable objective for every policy."""
    p = random_problem(600, 60, 2, assigned_frac=0.2, pinned_frac=0.1, radius_km=10)
    params = SolveParams()
    policy = make_policy(name, params)
    assert isinstance(policy, DispatchPolicy)
    sol = policy.solve(p)
    assert_hard_constraints(p, params, sol)
    assert sol.objective == pytest.approx(sum(sol.objective_terms.values()))


def test_optimizer_beats_baselines_on_objective() -> None:
    """The optimizer's objective is no worse than any baseline's on the same instance."""
    p = random_problem(400, 40, 4, radius_km=10)
    params = SolveParams()
    best = make_policy("optimizer", params).solve(p).objective
    for name in ("round_robin", "least_loaded", "nearest"):
        assert best <= make_policy(name, params).solve(p).objective


def test_round_robin_keeps_its_cursor() -> None:
    """Technicians are served in turn, and the turn survives between calls."""
    policy = make_policy("round_robin", SolveParams())
    k = technicians(3)
    first = policy.solve(problem(tickets(2, created_s=[0.0, 1.0]), k))
    assert first.technician.tolist() == [0, 1]
    t = tickets(3, created_s=[0.0, 1.0, 2.0], current_technician=[0, 1, -1])
    assert policy.solve(problem(t, k)).technician.tolist() == [0, 1, 2]


def test_least_loaded_and_nearest() -> None:
    """Least-loaded picks the emptiest queue; nearest picks the closest technician."""
    lat = [
        42.36,
        42.50,
        42.40,
    ]  # technician 0 is on the ticket, 2 is ~4 km, 1 ~16 km away
    t = tickets(3, current_technician=[0, 0, -1], pinned=[True, True, False])
    k = technicians(3, lat_deg=lat)
    params = SolveParams()
    assert make_policy("least_loaded", params).solve(problem(t, k)).technician[2] == 2
    t2 = tickets(1)
    assert make_policy("nearest", params).solve(problem(t2, k)).technician[0] == 0
    k_far = replace(k, available=np.array([False, True, True]))
    assert make_policy("nearest", params).solve(problem(t2, k_far)).technician[0] == 2


def test_unknown_policy() -> None:
    """An unknown name is a ValueError listing the valid ones."""
    with pytest.raises(ValueError, match="round_robin"):
        make_policy("random", SolveParams())
