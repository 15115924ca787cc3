"""Faster computations of the shift repair, refill and polish give what the computations
they replace give, bit for bit (the plans must not change)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import CostWeights
from solver.cost import late_pricing
from solver.polish import _distinct
from solver.sequence import simulate
from solver.solve import tech_state
from solver.synthetic import random_problem


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 40),
    m=st.integers(1, 6),
    shape=st.sampled_from([(1, 1), (2, 2), (6, 3), (1, 5)]),
)
def test_drive_without_stops_gives_the_same_totals_and_starts(
    seed: int, n: int, m: int, shape: tuple[int, int]
) -> None:
    """A drive without the per-stop arrays (sequencing's permutations, polish's
    screening) gives the same overruns, lateness, travel and starts as a full drive."""
    p = random_problem(n, m, seed, shift_h=2.0)
    rng = np.random.default_rng(seed)
    w = CostWeights()
    state = tech_state(p, w)
    pricing = late_pricing(p, w)
    orders = rng.integers(0, n, (int(rng.integers(0, 30)), *shape))
    who = rng.integers(0, m, orders.shape[0])
    args = (who, state.lat_deg[who], state.lon_deg[who], state.ready_s[who])
    full = simulate(p, pricing, orders, *args)
    lean = simulate(p, pricing, orders, *args, False)
    for k in (0, 1, 2, 5):  # overruns, lateness, travel, start per stop
        np.testing.assert_array_equal(lean[k], full[k])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(2**40), 2**40), max_size=300), st.integers(0, 3))
def test_polish_memo_keys_distinct_as_numpy_unique(keys: list[int], dup: int) -> None:
    """The polish memo's key dedup gives numpy.unique's distinct keys and inverse, and a
    position of each key (any of its copies)."""
    a = np.asarray(keys * (dup + 1), np.int64)
    uniq, first, back = _distinct(a)
    expected, inverse = np.unique(a, return_inverse=True)
    np.testing.assert_array_equal(uniq, expected)
    np.testing.assert_array_equal(back, inverse.reshape(-1))
    np.testing.assert_array_equal(a[first], uniq)
