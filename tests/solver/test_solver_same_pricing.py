"""Faster computations of the pricing equal the ones they replaced, value for value.

Each property draws a random region (``solver.synthetic.random_problem``: tickets with
pinned, assigned, excluded and preferred ones) and random pairs, and compares the
solver's computation with the plain one it replaced (written here as the reference).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.cost import PAIR_TERMS, evaluate_pairs, terms_at
from solver.model import CostWeights, Problem
from solver.solve import tech_state
from solver.synthetic import random_problem

regions = st.builds(
    random_problem,
    n_tickets=st.integers(1, 60),
    n_technicians=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
    pinned_frac=st.sampled_from([0.0, 0.1]),
    assigned_frac=st.sampled_from([0.0, 0.3]),
    excluded_frac=st.sampled_from([0.0, 0.2]),
    preferred_frac=st.sampled_from([0.0, 0.2]),
)


def _pairs(problem: Problem, seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tix = rng.integers(0, problem.tickets.count, size).astype(np.int64)
    tech = rng.integers(0, problem.technicians.count, size).astype(np.int64)
    return tix, tech


@settings(max_examples=60, deadline=None)
@given(
    problem=regions,
    seed=st.integers(0, 2**31 - 1),
    size=st.integers(0, 300),
    overtime=st.booleans(),
    min_gain=st.sampled_from([0.0, 600.0]),
)
def test_evaluate_pairs_terms_are_terms_at(
    problem: Problem, seed: int, size: int, overtime: bool, min_gain: float
) -> None:
    """``evaluate_pairs`` hands its skill surplus to ``terms_at``: its terms are exactly
    those ``terms_at`` computes on its own from the same travel and times, and its total
    is their sum over axis 0."""
    w = CostWeights(move_min_gain=min_gain)
    state = tech_state(problem, w)
    tix, tech = _pairs(problem, seed, size)
    ev, terms = evaluate_pairs(problem, w, state, tix, tech, overtime, with_terms=True)
    alone = terms_at(problem, w, tix, tech, ev.travel_s, ev.start_s, ev.finish_s)
    for name in PAIR_TERMS:
        assert np.array_equal(terms[name], alone[name]), name
    summed = np.sum([alone[name] for name in PAIR_TERMS], axis=0) if size else 0.0
    assert np.array_equal(ev.total, np.broadcast_to(summed, (size,)))
