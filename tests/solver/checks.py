"""Shared assertions for solver tests: every hard constraint of a Solution."""

from __future__ import annotations

import numpy as np

from solver import NO_TECHNICIAN, Problem, Solution, SolveParams, UnassignedReason


def assert_hard_constraints(
    problem: Problem, params: SolveParams, sol: Solution
) -> None:
    """Skills, exclusions, availability, capacity, pinned, shift end, positions, reasons."""
    t, k = problem.tickets, problem.technicians
    n = t.count
    tech = sol.technician
    assert tech.shape == (n,)
    assert np.all((tech >= NO_TECHNICIAN) & (tech < k.count))
    a = np.flatnonzero(tech >= 0)
    pinned = np.flatnonzero(t.pinned)
    np.testing.assert_array_equal(tech[pinned], t.current_technician[pinned])
    moved = a[~t.pinned[a]]
    assert np.all(k.available[tech[moved]]), "assigned to an unavailable technician"
    assert np.all((k.skill_levels[tech[moved]] >= t.skill_levels[moved]).all(axis=1)), (
        "skill"
    )
    ex = {(int(r), int(c)) for r, c in t.excluded}
    assert not any((int(r), int(tech[r])) in ex for r in moved), (
        "excluded pair assigned"
    )
    counts = np.bincount(tech[a], minlength=k.count)
    n_pinned = np.bincount(t.current_technician[pinned], minlength=k.count)
    assert np.all(counts <= np.maximum(k.capacity, n_pinned)), "capacity"
    if not params.allow_overtime:
        assert np.all(sol.finish_s[moved] <= k.shift_end_s[tech[moved]] + 1e-6), (
            "shift end"
        )
    for i in np.unique(tech[a]):
        rows = np.flatnonzero(tech == i)
        assert sorted(sol.position[rows].tolist()) == list(range(rows.size)), (
            "positions"
        )
        order = rows[np.argsort(sol.position[rows])]
        assert (
            np.all(np.diff(sol.start_s[order]) > 0)
            or rows.size == 1
            or np.all(sol.start_s[order][1:] >= sol.finish_s[order][:-1] - 1e-6)
        )
    assert np.all(sol.start_s[a] >= sol.arrival_s[a] - 1e-9)
    assert np.all(sol.finish_s[a] >= sol.start_s[a] + t.duration_s[a] - 1e-6)
    assert np.all(sol.reason[a] == UnassignedReason.ASSIGNED)
    assert np.all(sol.reason[tech < 0] != UnassignedReason.ASSIGNED)
    assert np.all(sol.position[tech < 0] == -1)
    assert np.isclose(sol.objective, sum(sol.objective_terms.values()))
