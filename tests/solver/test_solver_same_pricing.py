"""Faster computations of the pricing equal the ones they replaced, value for value.

Each property draws a random region (``solver.synthetic.random_problem``: tickets with
pinned, assigned, excluded and preferred ones) and random pairs, and compares the
solver's computation with the plain one it replaced (written here as the reference).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from solver.cost import PAIR_TERMS, evaluate_pairs, pair_total, terms_at
from solver.model import CostWeights, Problem
from solver.solve import tech_state
from solver.synthetic import random_problem


def _without_location(problem: Problem, seed: int, share: float) -> Problem:
    """``problem`` with about ``share`` of its tickets and technicians without a
    location (NaN coordinates: no travel)."""
    rng = np.random.default_rng(seed)
    parts = {}
    for name in ("tickets", "technicians"):
        side = getattr(problem, name)
        gone = rng.random(side.count) < share
        lat, lon = side.lat_deg.copy(), side.lon_deg.copy()
        lat[gone] = lon[gone] = np.nan
        parts[name] = dataclasses.replace(side, lat_deg=lat, lon_deg=lon)
    return dataclasses.replace(problem, **parts)


def regions(technicians: int) -> st.SearchStrategy[Problem]:
    """Random regions of 1-60 tickets and 1-``technicians`` technicians, some without a
    location, tight shifts or not."""
    return st.builds(
        _without_location,
        st.builds(
            random_problem,
            n_tickets=st.integers(1, 60),
            n_technicians=st.integers(1, technicians),
            seed=st.integers(0, 2**31 - 1),
            shift_h=st.sampled_from([0.5, 2.0, 8.0]),
            pinned_frac=st.sampled_from([0.0, 0.1]),
            assigned_frac=st.sampled_from([0.0, 0.3]),
            excluded_frac=st.sampled_from([0.0, 0.2]),
            preferred_frac=st.sampled_from([0.0, 0.2]),
        ),
        st.integers(0, 2**31 - 1),
        st.sampled_from([0.0, 0.0, 0.3]),
    )


def _pairs(problem: Problem, seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tix = rng.integers(0, problem.tickets.count, size).astype(np.int64)
    tech = rng.integers(0, problem.technicians.count, size).astype(np.int64)
    return tix, tech


@settings(max_examples=60, deadline=None)
@given(
    problem=regions(12),
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


@settings(max_examples=200, deadline=None)
@given(
    terms=st.integers(0, 40).flatmap(
        lambda size: st.fixed_dictionaries(
            {
                name: hnp.arrays(np.float64, size, elements=st.floats(-1e12, 1e12))
                for name in PAIR_TERMS
            }
        )
    )
)
def test_pair_total_is_the_sum_over_axis_0(terms: dict[str, np.ndarray]) -> None:
    """``pair_total`` adds the terms one by one in ``PAIR_TERMS`` order: bit for bit the
    ``np.sum`` of the stacked terms over axis 0 that it replaced."""
    expected = np.sum([terms[name] for name in PAIR_TERMS], axis=0)
    assert np.array_equal(pair_total(terms), expected)
