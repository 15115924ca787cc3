"""The spatial index: exact k nearest points, and blocks that are cells of a KD split."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.geo import unit_vectors
from solver.spatial import NearestIndex, block_order, nearest


def _points(seed: int, n: int, spread: float, nowhere: float) -> np.ndarray:
    """Unit vectors around Boston (``spread`` degrees), a share without location."""
    rng = np.random.default_rng(seed)
    lat = 42.3 + rng.uniform(-spread, spread, n)
    lon = -71.1 + rng.uniform(-spread, spread, n)
    lost = rng.random(n) < nowhere
    lat[lost] = lon[lost] = np.nan
    # coarse rounding makes many exact ties and duplicate points
    return unit_vectors(np.round(lat, 2), np.round(lon, 2))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    q=st.integers(1, 50),
    k=st.integers(1, 20),
    spread=st.sampled_from([0.01, 0.5, 60.0]),
    nowhere=st.sampled_from([0.0, 0.3]),
)
def test_nearest_returns_the_k_smallest_distances(
    seed: int, n: int, q: int, k: int, spread: float, nowhere: float
) -> None:
    points = _points(seed, n, spread, nowhere)
    queries = _points(seed + 1, q, spread, nowhere)
    k = min(k, n)
    got = nearest(points, queries, k)
    assert got.shape == (q, k)
    assert got.dtype == np.int64
    assert all(len(set(row)) == k for row in got)  # k distinct points
    dist = np.linalg.norm(queries[:, None, :] - points[None, :, :], axis=2)
    mine = np.take_along_axis(dist, got, axis=1)
    np.testing.assert_allclose(mine, np.sort(dist, axis=1)[:, :k], atol=1e-12)


def test_nearest_refuses_k_out_of_range() -> None:
    points = _points(0, 5, 0.1, 0.0)
    for k in (0, 6):
        with pytest.raises(ValueError, match=r"^k: "):
            nearest(points, points, k)


def _separable(a: np.ndarray, b: np.ndarray) -> bool:
    """Some coordinate axis has every point of ``a`` at or below every point of ``b``."""
    return bool(np.any(a.max(axis=0) <= b.min(axis=0)))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 400),
    size=st.integers(1, 40),
    spread=st.sampled_from([0.01, 0.5, 60.0]),
    nowhere=st.sampled_from([0.0, 0.3]),
)
def test_blocks_are_the_cells_of_a_kd_split(
    seed: int, n: int, size: int, spread: float, nowhere: float
) -> None:
    """A permutation; every cell of more than ``size`` points splits into two parts that
    an axis separates, the first a multiple of ``size`` long (so blocks are cells)."""
    points = _points(seed, n, spread, nowhere)
    order = block_order(points, size)
    assert order.dtype == np.int64
    np.testing.assert_array_equal(np.sort(order), np.arange(n))
    cells = [(0, n)]
    while cells:
        lo, hi = cells.pop()
        if hi - lo <= size:
            continue
        left = size * -(-((hi - lo) // 2) // size)
        pts = points[order[lo:hi]]
        assert _separable(pts[:left], pts[left:])
        cells += [(lo, lo + left), (lo + left, hi)]


def test_block_order_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match=r"^size: "):
        block_order(_points(0, 3, 0.1, 0.0), 0)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 60), st.integers(1, 40))
def test_a_kept_index_answers_as_nearest(seed: int, n: int, q: int) -> None:
    """A :class:`NearestIndex` built once (and deep-copied or pickled, as a problem's
    memo holding one is) gives :func:`nearest`'s neighbours, query after query."""
    rng = np.random.default_rng(seed)
    points = unit_vectors(rng.uniform(-60, 60, n), rng.uniform(-180, 180, n))
    index = NearestIndex(points)
    for kept in (index, copy.deepcopy(index), pickle.loads(pickle.dumps(index))):
        for k in {1, n, int(rng.integers(1, n + 1))}:
            queries = unit_vectors(rng.uniform(-60, 60, q), rng.uniform(-180, 180, q))
            assert np.array_equal(kept.nearest(queries, k), nearest(points, queries, k))
