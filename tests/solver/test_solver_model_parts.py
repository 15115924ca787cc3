"""The travel model, the integer-scaling rule, cost terms and queue sequencing, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import (
    CostWeights,
    ScalingWarning,
    SolveParams,
    distance_km,
    solve,
    travel_time_s,
)
from solver.constants import COST_SCALE, MAX_COST, ROAD_FACTOR
from solver.cost import evaluate_pairs, to_scaled
from solver.geo import pair_travel_time_s
from solver.solve import tech_state
from tests.solver.builders import problem, technicians, tickets


def test_distance_and_travel_time() -> None:
    """Boston-New York is ~306 km; travel = km x ROAD_FACTOR / speed; inputs broadcast."""
    d = distance_km(42.3601, -71.0589, 40.7128, -74.0060)
    assert d == pytest.approx(306, abs=2)
    assert travel_time_s(42.3601, -71.0589, 40.7128, -74.0060, 60.0) == pytest.approx(
        d * ROAD_FACTOR * 60
    )
    out = travel_time_s(
        np.zeros((3, 1)), 0.0, np.zeros((1, 4)), 1.0, np.full((1, 4), 50.0)
    )
    assert out.shape == (3, 4)
    assert np.allclose(out, out[0, 0])
    assert distance_km(10.0, 20.0, 10.0, 20.0) == 0.0


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_start=st.integers(1, 40),
    n_end=st.integers(1, 40),
    pairs=st.integers(0, 500),
    no_location=st.floats(0.0, 0.5),
)
def test_pair_travel_time_equals_travel_time_bit_for_bit(
    seed: int, n_start: int, n_end: int, pairs: int, no_location: float
) -> None:
    """Travel between indexed points (latitude terms once per point) is exactly the
    per-pair travel time, points without a location (NaN) included: the solver's
    decisions must not depend on which of the two computed it."""
    rng = np.random.default_rng(seed)

    def points(n: int) -> tuple[np.ndarray, np.ndarray]:
        lat, lon = rng.uniform(-89.0, 89.0, n), rng.uniform(-180.0, 180.0, n)
        lat[rng.random(n) < no_location] = np.nan
        lon[np.isnan(lat)] = np.nan
        return lat, lon

    start, end = points(n_start), points(n_end)
    i, j = rng.integers(0, n_start, pairs), rng.integers(0, n_end, pairs)
    speed = rng.uniform(5.0, 120.0, pairs)
    expected = travel_time_s(start[0][i], start[1][i], end[0][j], end[1][j], speed)
    got = pair_travel_time_s(start, i, end, j, speed)
    assert np.array_equal(got, expected)


def test_scaling_rule_and_overflow_warning() -> None:
    """Scaled = round(cost x COST_SCALE) as int64; beyond MAX_COST it clips with a warning."""
    np.testing.assert_array_equal(
        to_scaled([1.004, -2.5, 0.0]), [round(1.004 * COST_SCALE), -250, 0]
    )
    with pytest.warns(ScalingWarning):
        big = to_scaled([1e30])
    assert big[0] == MAX_COST


def test_pair_terms_by_hand() -> None:
    """A ticket 1 km north, P1, due in 60 s: travel, waiting, lateness and surplus as
    documented. No technician can be there in 60 s: it can no longer be saved, so its
    lateness weight is times ``overdue``."""
    t = tickets(
        1,
        lat_deg=[42.36 + 1 / 111.195],
        priority=[1],
        response_due_s=[60.0],
        skill_levels=[[1]],
        tier=[2],
    )
    k = technicians(1)
    p = problem(t, k)
    w = CostWeights()
    ev, terms = evaluate_pairs(
        p, w, tech_state(p, w), np.array([0]), np.array([0]), False, with_terms=True
    )
    travel = 1.0 * ROAD_FACTOR / 30.0 * 3600.0
    assert ev.travel_s[0] == pytest.approx(travel, rel=1e-3)
    assert terms["travel"][0] == pytest.approx(w.travel * travel, rel=1e-3)
    assert terms["waiting"][0] == pytest.approx(w.waiting * travel, rel=1e-3)
    late = (travel - 60.0) + 0.0  # response late; no resolution due
    assert terms["lateness"][0] == pytest.approx(
        w.lateness * 8 * (1 + w.tier * 2) * w.overdue * late, rel=1e-3
    )
    assert terms["skill_surplus"][0] == pytest.approx(w.skill_surplus * 2)
    assert ev.total[0] == pytest.approx(sum(v[0] for v in terms.values()))


def test_sequencing_puts_urgent_first_then_minimises_travel() -> None:
    """An urgent far ticket goes before a near one; without deadlines the nearer goes first."""
    lat = [42.36 + 5 / 111.195, 42.36 + 1 / 111.195]
    urgent = tickets(2, lat_deg=lat, response_due_s=[1200.0, np.inf])
    sol = solve(problem(urgent, technicians(1)), SolveParams())
    assert sol.position.tolist() == [0, 1]
    calm = tickets(2, lat_deg=lat)
    sol = solve(problem(calm, technicians(1)), SolveParams())
    assert sol.position.tolist() == [1, 0]
    assert sol.arrival_s[1] == pytest.approx(
        travel_time_s(42.36, -71.06, lat[1], -71.06, 30.0)
    )
    assert sol.start_s[0] >= sol.finish_s[1]


def test_pinned_stays_first_and_window_waits() -> None:
    """A pinned ticket keeps its technician at the head of the queue; a window start delays work."""
    t = tickets(
        2,
        current_technician=[1, -1],
        pinned=[True, False],
        window_start_s=[-np.inf, 7200.0],
    )
    sol = solve(problem(t, technicians(2, available=[True, False])), SolveParams())
    assert sol.technician[0] == 1
    assert sol.position[0] == 0
    assert sol.technician[1] == 0
    assert sol.start_s[1] == pytest.approx(7200.0)


def test_overdue_ticket_is_still_dispatched() -> None:
    """Lateness already certain also accrues when unassigned (DEFER_S), so overdue work is served."""
    t = tickets(1, priority=[1], response_due_s=[-3600.0], resolution_due_s=[-600.0])
    sol = solve(problem(t, technicians(1)), SolveParams())
    assert sol.technician[0] == 0
    assert not sol.sla_met[0]
