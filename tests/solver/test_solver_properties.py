"""Property tests: exact against brute force on small instances; hard constraints on large ones."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from solver import CostWeights, Problem, SolveParams, solve
from solver.cost import drop_penalty, evaluate_pairs
from solver.sequence import _perms
from solver.solve import tech_state
from solver.synthetic import random_problem
from tests.solver.checks import assert_hard_constraints


def _brute_force(problem: Problem, params: SolveParams, check_shift: bool) -> float:
    """Minimum model objective over every assignment (tickets x technicians + unassigned)."""
    t, k = problem.tickets, problem.technicians
    n, m = t.count, k.count
    w = params.weights
    state = tech_state(problem, w)
    rows = np.repeat(np.arange(n), m)
    cols = np.tile(np.arange(m), n)
    ev, _ = evaluate_pairs(problem, w, state, rows, cols, allow_overtime=True)
    skill_ok = ev.skill_ok & ~ev.excluded & ev.has_slot & ev.churn_ok
    cost = np.where(skill_ok, ev.total, np.inf).reshape(n, m)
    pen = drop_penalty(problem, w)
    best = np.inf
    for combo in itertools.product(range(-1, m), repeat=n):
        a = np.array(combo)
        counts = np.bincount(a[a >= 0], minlength=m)
        if np.any(counts > state.free_slots):
            continue
        on = a >= 0
        total = cost[np.flatnonzero(on), a[on]].sum() + pen[~on].sum()
        load = state.load
        total += w.balance * sum(
            sum(range(load[i], load[i] + counts[i])) for i in range(m)
        )
        if not np.isfinite(total) or total >= best:
            continue
        if check_shift and not _fits(problem, state, a):
            continue
        best = total
    return float(best)


def _fits(problem: Problem, state: object, a: np.ndarray) -> bool:
    """Some order of each technician's tickets finishes within its shift."""
    from solver.geo import travel_time_s

    t, k = problem.tickets, problem.technicians
    for i in np.unique(a[a >= 0]):
        mine = np.flatnonzero(a == i)
        ok_any = False
        for perm in _perms(mine.size):
            now, lat, lon = state.ready_s[i], state.lat_deg[i], state.lon_deg[i]  # type: ignore[attr-defined]
            ok = True
            for j in mine[perm]:
                now = max(
                    now
                    + travel_time_s(
                        lat, lon, t.lat_deg[j], t.lon_deg[j], k.speed_kmh[i]
                    ),
                    t.window_start_s[j],
                )
                now += t.duration_s[j]
                lat, lon = t.lat_deg[j], t.lon_deg[j]
                ok &= now <= k.shift_end_s[i]
            if ok:
                ok_any = True
                break
        if not ok_any:
            return False
    return True


small = st.tuples(
    st.integers(1, 5), st.integers(1, 3), st.integers(0, 10_000), st.integers(1, 3),
    st.sampled_from([0.0, 300.0, 2000.0]),
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@example((4, 2, 3211, 3, 0.0), False)  # the incumbent, cheaper as driven, replaced it
@given(small, st.booleans())
def test_exact_matches_brute_force(
    case: tuple[int, int, int, int, float], all_pairs: bool
) -> None:
    """With overtime allowed (the pure exact core, no position rounds), the model objective
    equals brute force over the first-in-queue model."""
    n, m, seed, cap, balance = case
    p = random_problem(
        n, m, seed, n_skills=2, capacity=cap, radius_km=6, assigned_frac=0.3,
        excluded_frac=0.3, preferred_frac=0.3,
    )  # fmt: skip
    params = SolveParams(
        weights=CostWeights(balance=balance),
        all_pairs=all_pairs,
        allow_overtime=True,
        position_rounds=0,
        polish=False,  # the exact core alone: polish leaves the flow model's optimum
    )
    sol = solve(p, params)
    assert_hard_constraints(p, params, sol)
    best = _brute_force(p, params, check_shift=False)
    model = sol.stats.model_objective
    assert model is not None
    assert abs(model - best) <= 0.01 * (n + 1), (model, best)


@settings(max_examples=40, deadline=None)
@given(small)
def test_shift_feasible_never_beats_brute_force(
    case: tuple[int, int, int, int, float],
) -> None:
    """Without overtime, the solution is shift-feasible and no better than the true optimum."""
    n, m, seed, cap, balance = case
    p = random_problem(n, m, seed, n_skills=2, capacity=cap, radius_km=30, shift_h=2.0)
    params = SolveParams(weights=CostWeights(balance=balance))
    sol = solve(p, params)
    assert_hard_constraints(p, params, sol)
    model = sol.stats.model_objective
    assert model is not None
    assert model >= _brute_force(p, params, check_shift=True) - 0.01 * (n + 1)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000), st.booleans(), st.integers(1, 4))
def test_hard_constraints_on_large_random(seed: int, overtime: bool, k: int) -> None:
    """Skills, exclusions, availability, capacity, pinned and shift hold at 1,500 x 120."""
    p = random_problem(
        1500, 120, seed, assigned_frac=0.2, pinned_frac=0.1, radius_km=12
    )
    params = SolveParams(candidates_k=k, allow_overtime=overtime)
    assert_hard_constraints(p, params, solve(p, params))


def test_same_input_same_answer() -> None:
    """Solving the same input twice (same seed) gives identical decisions and objective."""
    p = random_problem(3000, 300, 7, assigned_frac=0.2, pinned_frac=0.05)
    params = SolveParams(seed=3)
    a, b = solve(p, params), solve(p, params)
    np.testing.assert_array_equal(a.technician, b.technician)
    np.testing.assert_array_equal(a.position, b.position)
    np.testing.assert_array_equal(a.reason, b.reason)
    assert a.objective == b.objective


def test_previous_solution_acts_as_incumbent() -> None:
    """With a huge stability weight, re-solving with ``previous`` keeps every decision."""
    p = random_problem(300, 30, 11, radius_km=8)
    params = SolveParams(
        weights=CostWeights(stability=1e6, unassigned=7200.0), allow_overtime=True
    )
    first = solve(p, params)
    again = solve(p, params, previous=first)
    kept = first.technician >= 0
    np.testing.assert_array_equal(again.technician[kept], first.technician[kept])
    # A previous solution with other rows is ignored, not misapplied.
    other = replace(first, technician=first.technician[:-1])
    np.testing.assert_array_equal(
        solve(p, params, previous=other).technician, first.technician
    )
