"""The spatial index of the solver: k nearest points and compact blocks of points.

Points are unit vectors on the sphere (:func:`solver.geo.unit_vectors`); the chord between
two of them orders pairs exactly as the great-circle distance does.

The k-nearest query uses pykdtree (a 1.5 MB wheel). scipy's ``cKDTree`` finds the same
neighbours but costs 143 MB of install, and numpy brute force is 2-21x slower;
``./dev bench kdtree_choice`` measures all three on the same points.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pykdtree.kdtree import KDTree

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def nearest(points: FloatArray, queries: FloatArray, k: int) -> IntArray:
    """Indices into ``points`` of the ``k`` nearest points of each query, nearest first.

    Parameters
    ----------
    points, queries
        ``(n, 3)`` and ``(q, 3)`` float64 unit vectors; ``1 <= k <= n``.

    Returns
    -------
    numpy.ndarray
        ``(q, k)`` int64. Among points at the same distance any may be returned.
    """
    return NearestIndex(points).nearest(queries, k)


class NearestIndex:
    """:func:`nearest` of one set of points, its tree built once for many queries."""

    def __init__(self, points: FloatArray) -> None:
        """``points``: ``(n, 3)`` float64 unit vectors (kept: not to be changed)."""
        self.points = np.ascontiguousarray(points, np.float64)
        self.size = points.shape[0]
        self._tree = KDTree(self.points)

    def __reduce__(self) -> tuple[type[NearestIndex], tuple[FloatArray]]:
        """Copied and pickled as its points (the tree is built again): a problem's
        memo may hold one."""
        return NearestIndex, (self.points,)

    def nearest(self, queries: FloatArray, k: int) -> IntArray:
        """:func:`nearest` of these points (the same answer)."""
        if not 1 <= k <= self.size:
            raise ValueError(f"k: must be in [1, {self.size}], got {k}")
        _, idx = self._tree.query(np.ascontiguousarray(queries, np.float64), k=k)
        return np.asarray(idx, np.int64).reshape(queries.shape[0], k)


def block_order(points: FloatArray, size: int) -> IntArray:
    """An order of ``points`` in which every run of ``size`` consecutive points is compact.

    A KD split: a cell of points is cut across its widest coordinate so that the first
    part holds a multiple of ``size`` points (about half), until a cell holds at most
    ``size``; the cells are then listed left to right. So each block of ``size``
    consecutive points of the order (the last may be short) is one cell of the tree.

    Returns
    -------
    numpy.ndarray
        A permutation of ``range(len(points))``, int64.
    """
    if size < 1:
        raise ValueError(f"size: must be >= 1, got {size}")
    n = points.shape[0]
    order = np.arange(n, dtype=np.int64)
    lo = np.zeros(1 if n else 0, np.int64)  # cells: [lo, hi) of the order, in order
    hi = np.full(lo.size, n, np.int64)
    # Level by level, every cell of more than ``size`` points is split at once: each
    # cell's points are sorted along its widest coordinate (one lexsort for them all).
    while lo.size and (hi - lo).max() > size:
        pts = points[order]
        widest = np.argmax(
            np.maximum.reduceat(pts, lo, axis=0) - np.minimum.reduceat(pts, lo, axis=0),
            axis=1,
        )
        cell = np.repeat(np.arange(lo.size), hi - lo)
        value = pts[np.arange(n), widest[cell]]
        small = (hi - lo <= size)[cell]
        value[small] = np.arange(n)[small]  # a finished cell keeps its order
        order = order[np.lexsort((value, cell))]
        big = hi - lo > size
        left = size * -(-((hi - lo) // 2) // size)
        mid = np.where(big, lo + left, hi)
        lo, hi = (
            np.column_stack([lo, mid]).ravel(),
            np.column_stack([mid, hi]).ravel(),
        )
        keep = hi > lo
        lo, hi = lo[keep], hi[keep]
    return order
