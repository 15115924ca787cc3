"""Faster computations of the shift repair, refill and polish give what the computations
they replace give, bit for bit (the plans must not change)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.polish import _distinct


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
