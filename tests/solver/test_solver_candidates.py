"""Sparse candidates: only feasible arcs, and every ticket that can be served has one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from solver import SolveParams, UnassignedReason, solve
from solver.candidates import build_candidates, first_of_each, skill_patterns
from solver.cost import drop_penalty, evaluate_pairs
from solver.solve import tech_state
from solver.synthetic import random_problem


@pytest.mark.parametrize(("seed", "k"), [(0, 1), (1, 2), (2, 8)])
def test_sparse_candidates_are_feasible_and_complete(seed: int, k: int) -> None:
    """Arcs are feasible and cheaper than the penalty; a servable ticket always has an arc."""
    p = random_problem(
        800,
        90,
        seed,
        n_skills=5,
        assigned_frac=0.2,
        pinned_frac=0.05,
        excluded_frac=0.3,
    )
    params = SolveParams(candidates_k=k)
    state = tech_state(p, params.weights)
    movable = np.flatnonzero(~p.tickets.pinned)
    c = build_candidates(p, params, state, movable)
    ev, _ = evaluate_pairs(
        p, params.weights, state, c.tix, c.tech, params.allow_overtime
    )
    assert ev.feasible.all()
    pen = drop_penalty(p, params.weights)
    assert np.all(c.cost < pen[c.tix])
    n, m = p.tickets.count, p.technicians.count
    rows, cols = np.repeat(movable, m), np.tile(np.arange(m), movable.size)
    full, _ = evaluate_pairs(
        p, params.weights, state, rows, cols, params.allow_overtime
    )
    servable = np.zeros(n, np.bool_)
    servable[rows[full.feasible & (full.total < pen[rows])]] = True
    has_arc = np.zeros(n, np.bool_)
    has_arc[c.tix] = True
    np.testing.assert_array_equal(has_arc[movable], servable[movable])
    feasible_any = np.zeros(n, np.bool_)
    feasible_any[rows[full.feasible]] = True
    np.testing.assert_array_equal(c.any_feasible[movable], feasible_any[movable])


def test_reasons_agree_with_the_data() -> None:
    """NO_SKILL / EXCLUDED / SHIFT reasons are true statements about the instance."""
    p = random_problem(600, 40, 9, n_skills=6, excluded_frac=0.5, shift_h=1.0)
    params = SolveParams()
    sol = solve(p, params)
    t, k = p.tickets, p.technicians
    for row in np.flatnonzero(sol.technician < 0):
        skilled = k.available & (k.skill_levels >= t.skill_levels[row]).all(axis=1)
        reason = UnassignedReason(int(sol.reason[row]))
        if reason is UnassignedReason.NO_SKILL:
            assert not skilled.any()
        elif reason is UnassignedReason.EXCLUDED:
            ex = t.excluded[t.excluded[:, 0] == row, 1]
            assert skilled.any()
            assert set(np.flatnonzero(skilled)) <= set(ex.tolist())
        else:
            assert skilled.any()


@given(
    keys=hnp.arrays(
        np.int64,
        st.integers(0, 300),
        elements=st.one_of(st.integers(0, 40), st.integers(0, 2**62)),
    )
)
def test_first_of_each_is_what_unique_returns(keys: np.ndarray) -> None:
    """The first position of each distinct key, by key, as ``np.unique`` gives it;
    keys too large to pack with their position included (its fallback)."""
    expected = np.unique(keys, return_index=True)[1]
    np.testing.assert_array_equal(first_of_each(keys), expected)


@given(
    req=hnp.arrays(
        np.int64,
        st.tuples(st.integers(0, 40), st.integers(0, 4)),
        elements=st.one_of(st.integers(0, 3), st.integers(0, 2**40)),
    )
)
def test_skill_patterns_are_what_unique_returns(req: np.ndarray) -> None:
    """The distinct requirement rows in ``np.unique(axis=0)`` order and each row's
    index among them, for any number of rows (one row alone: its own pattern) and
    levels too large to encode (the fallback)."""
    pats, inv = skill_patterns(req)
    if req.shape[0] == 0 or req.shape[1] == 0:
        assert inv.shape == (req.shape[0],)
        assert not inv.any()
        return
    want, want_inv = np.unique(req, axis=0, return_inverse=True)
    np.testing.assert_array_equal(pats, want)
    np.testing.assert_array_equal(inv, want_inv.reshape(-1))
