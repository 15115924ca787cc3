"""Linear assignment (LAP) on arc lists and on dense matrices, through the min-cost-flow core.

:func:`solve_lap_sparse` is the one LAP rule: rows are the core's tickets, columns its
technicians with one free place each, and every row may also be left unassigned at a
penalty larger than any full assignment's cost, so the flow is always feasible and leaves
a row unassigned only when no full assignment exists (then the status is INFEASIBLE).
:func:`solve_lap` turns a dense matrix into arcs and calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from solver.flow import assign_slots
from solver.model import SolveStatus
from solver.validate import validate_lap_arcs

IntArray = npt.NDArray[np.int64]

LAP_MAX_TOTAL = 2**62
"""Bound on ``unassigned penalty x node count``: OR-Tools' min-cost flow multiplies costs by
the number of nodes internally, in int64; larger costs are a ``ValueError`` on ``costs``."""


@dataclass(frozen=True, slots=True)
class LapResult:
    """A full linear assignment: every row gets a distinct column, or the status says why not."""

    col: IntArray  # (n_rows,) column of each row; all -1 unless status is OPTIMAL
    objective: int  # sum of the chosen arcs' costs (0 unless OPTIMAL)
    status: SolveStatus  # OPTIMAL, or INFEASIBLE when no full assignment exists


def unassigned_penalty(n_rows: int, cost_min: int, cost_max: int) -> int:
    """Cost of leaving a row unassigned: above what leaving one out could ever save.

    A full assignment costs at most ``n * max``; one with ``k >= 1`` rows left out costs at
    least ``P + (n - 1) * min`` (as ``P >= min``), which exceeds ``n * max`` when
    ``P = n * (max - min) + min + 1``. So the flow optimum is full whenever one exists.
    """
    return n_rows * (cost_max - cost_min) + cost_min + 1


def solve_lap_sparse(
    rows: npt.ArrayLike,
    cols: npt.ArrayLike,
    costs: npt.ArrayLike,
    *,
    n_rows: int,
    n_cols: int,
) -> LapResult:
    """Exact minimum-cost full assignment of the rows over the given arcs only.

    Full assignment: every row ``0..n_rows-1`` gets a distinct column through one of its
    arcs (so ``n_rows <= n_cols`` is needed); columns may stay free. A missing arc is
    forbidden, not expensive. This is scipy's ``min_weight_full_bipartite_matching``
    problem with rows as the smaller side.

    Parameters
    ----------
    rows, cols, costs
        One entry per arc: row index, column index, integer cost (whole-number floats are
        accepted; any sign). No arc may appear twice.
    n_rows, n_cols
        The shape: rows without any arc still count (and make the instance infeasible).

    Returns
    -------
    LapResult
        OPTIMAL with the optimal assignment, or INFEASIBLE (``col`` all -1) when no full
        assignment exists.

    Raises
    ------
    ValueError
        Naming the field: lengths differ, indices negative or out of range, non-integer
        indices, costs not finite or not whole, costs too large for the flow's int64
        arithmetic, duplicate arcs, a negative or non-integer ``n_rows`` / ``n_cols``.
    """
    r, c, w = validate_lap_arcs(rows, cols, costs, n_rows, n_cols)
    none = np.full(n_rows, -1, np.int64)
    if n_rows == 0:
        return LapResult(none, 0, SolveStatus.OPTIMAL)
    if w.size == 0 or n_rows > n_cols:
        return LapResult(none, 0, SolveStatus.INFEASIBLE)
    lo, hi = int(w.min()), int(w.max())
    penalty = unassigned_penalty(n_rows, lo, hi)
    if max(abs(penalty), abs(lo), abs(hi)) * (n_rows + n_cols + 1) >= LAP_MAX_TOTAL:
        raise ValueError(
            f"costs: values too large for an exact solve of {n_rows} rows "
            f"(range {lo}..{hi}; n_rows x (max - min) x nodes must stay below 2**62)"
        )
    res = assign_slots(
        n_rows,
        r,
        c,
        w,
        np.full(n_rows, penalty, np.int64),
        np.arange(n_cols, dtype=np.int64),
        np.zeros(n_cols, np.int64),
        n_techs=n_cols,
    )
    if res.status is not SolveStatus.OPTIMAL:
        return LapResult(none, 0, res.status)
    if int(res.arc_used.sum()) < n_rows:
        return LapResult(none, 0, SolveStatus.INFEASIBLE)
    col = none.copy()
    col[r[res.arc_used]] = c[res.arc_used]
    return LapResult(col, int(w[res.arc_used].sum()), SolveStatus.OPTIMAL)


def solve_lap(cost: npt.ArrayLike) -> tuple[IntArray, int]:
    """Exact dense linear assignment (square or rectangular, rows <= columns).

    Parameters
    ----------
    cost
        (n, m) integer cost matrix, n <= m; every row gets a distinct column.

    Returns
    -------
    tuple
        (column of each row, total cost).

    Raises
    ------
    ValueError
        If the matrix is not 2-d integer with rows <= columns, or its costs are too large.
    """
    c = np.asarray(cost)
    if c.ndim != 2 or c.dtype.kind not in "iu" or c.shape[0] > c.shape[1]:
        raise ValueError("cost: expected a 2-d integer matrix with rows <= columns")
    n, m = c.shape
    res = solve_lap_sparse(
        np.repeat(np.arange(n, dtype=np.int64), m),
        np.tile(np.arange(m, dtype=np.int64), n),
        c.ravel(),
        n_rows=n,
        n_cols=m,
    )
    if res.status is not SolveStatus.OPTIMAL:
        raise ValueError(f"linear assignment failed: {res.status.value}")
    return res.col, res.objective


def read_orlib_lap_sparse(text: str) -> tuple[int, IntArray, IntArray, IntArray]:
    """Parse an OR-Library sparse ``assignpN.txt``: n, then 1-based ``i j c`` triples.

    Returns
    -------
    tuple
        (n, rows, cols, costs), indices 0-based.
    """
    nums = np.array(text.split(), dtype=np.int64)
    if nums.size == 0 or (nums.size - 1) % 3:
        raise ValueError(
            f"assignp file: expected n then i j c triples, got {nums.size} numbers"
        )
    arcs = nums[1:].reshape(-1, 3)
    return int(nums[0]), arcs[:, 0] - 1, arcs[:, 1] - 1, arcs[:, 2].copy()
