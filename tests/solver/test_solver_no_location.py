"""Help desks: tickets and technicians without a location (NaN coordinates) travel 0."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from solver import SolveParams, solve
from solver.geo import distance_km, next_location, travel_time_s
from solver.policies import make_policy
from solver.synthetic import random_problem
from tests.solver import builders as b
from tests.solver.checks import assert_hard_constraints

NAN = float("nan")


def test_no_location_is_no_distance_and_keeps_the_technician_in_place() -> None:
    """Distance and travel to or from a point without location are 0, never NaN."""
    assert distance_km(NAN, NAN, 42.36, -71.06) == 0.0
    assert distance_km(42.36, -71.06, NAN, NAN) == 0.0
    assert travel_time_s(NAN, NAN, NAN, NAN, 30.0) == 0.0
    assert distance_km(42.36, -71.06, 42.46, -71.06) > 10.0
    lat, lon = next_location(np.array([1.0, 2.0]), np.array([3.0, 4.0]),
                             np.array([NAN, 5.0]), np.array([NAN, 6.0]))  # fmt: skip
    np.testing.assert_array_equal(lat, [1.0, 5.0])
    np.testing.assert_array_equal(lon, [3.0, 6.0])


def test_half_a_location_is_refused() -> None:
    """A NaN latitude with a real longitude is an error naming the field."""
    with pytest.raises(ValueError, match=r"tickets\.lat_deg: must be finite"):
        b.problem(b.tickets(1, lat_deg=[NAN], lon_deg=[-71.0]), b.technicians(1))
    with pytest.raises(ValueError, match=r"technicians\.lon_deg: must be finite"):
        b.problem(b.tickets(1), b.technicians(1, lon_deg=[NAN]))
    with pytest.raises(ValueError, match=r"tickets\.lat_deg: must be finite"):
        b.problem(b.tickets(1, lat_deg=[np.inf]), b.technicians(1))


@pytest.mark.parametrize("policy", ["optimizer", "nearest", "priority_edd", "regret"])
def test_a_help_desk_has_no_travel(policy: str) -> None:
    """Agents and tickets without location: every placement has zero travel, hard
    constraints hold, and nothing is NaN."""
    p = random_problem(200, 20, 5, assigned_frac=0.2, pinned_frac=0.05)
    t = b.tickets(p.tickets.count, **{
        f: getattr(p.tickets, f) for f in (
            "priority", "skill_levels", "duration_s", "created_s", "current_technician",
            "pinned",
        )}, lat_deg=np.full(200, NAN), lon_deg=np.full(200, NAN))  # fmt: skip
    k = b.technicians(
        20,
        n_skills=p.technicians.skill_levels.shape[1],
        skill_levels=p.technicians.skill_levels,
        capacity=p.technicians.capacity,
        lat_deg=np.full(20, NAN),
        lon_deg=np.full(20, NAN),
    )
    hd = b.problem(t, k)
    params = SolveParams()
    sol = make_policy(policy, params).solve(hd, None)
    assert_hard_constraints(hd, params, sol)
    placed = sol.technician >= 0
    assert placed.sum() > 0
    assert not np.isnan(sol.start_s[placed]).any()
    np.testing.assert_allclose(sol.arrival_s[placed], sol.arrival_s[placed])
    assert sol.objective_terms["travel"] == 0.0


def test_field_technician_taking_remote_work_stays_put() -> None:
    """A remote ticket first, then one on site: travel is counted from the technician's
    own location (the remote one did not move it)."""
    lat0, lon0 = b.BOSTON
    km = 1.0 / 111.0
    t = b.tickets(2, lat_deg=[NAN, lat0 + 3 * km], lon_deg=[NAN, lon0], priority=[1, 4])
    k = b.technicians(1, lat_deg=[lat0], lon_deg=[lon0])
    p = b.problem(t, k)
    sol = solve(p, SolveParams())
    assert list(sol.technician) == [0, 0]
    order = np.argsort(sol.position)
    assert list(order) == [0, 1]
    first_travel = sol.arrival_s[0] - 0.0
    assert first_travel == pytest.approx(0.0)
    second_travel = sol.arrival_s[1] - sol.finish_s[0]
    expected = float(travel_time_s(lat0, lon0, lat0 + 3 * km, lon0, 30.0))
    assert second_travel == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_certificate_stays_exact_with_remote_points(seed: int) -> None:
    """Some tickets and technicians without location: the sparse certified solve finds
    the all-pairs optimum (its distance bounds must count 0 for them)."""
    p = random_problem(1500, 60, seed, assigned_frac=0.2, radius_km=20)
    rng = np.random.default_rng(seed)
    t_off = rng.random(1500) < 0.3
    k_off = rng.random(60) < 0.3
    t = dataclasses.replace(
        p.tickets,
        lat_deg=np.where(t_off, NAN, p.tickets.lat_deg),
        lon_deg=np.where(t_off, NAN, p.tickets.lon_deg),
    )
    k = dataclasses.replace(
        p.technicians,
        lat_deg=np.where(k_off, NAN, p.technicians.lat_deg),
        lon_deg=np.where(k_off, NAN, p.technicians.lon_deg),
    )
    mixed = b.problem(t, k)
    # the certified flow model alone (position rounds: tests/solver/test_solver_position.py;
    # polish: tests/solver/test_solver_polish.py)
    alone = {"allow_overtime": True, "position_rounds": 0, "polish": False}
    sparse = solve(mixed, SolveParams(candidates_k=1, **alone))
    full = solve(mixed, SolveParams(all_pairs=True, **alone))
    assert sparse.stats.model_objective == pytest.approx(
        full.stats.model_objective, rel=1e-9
    )
