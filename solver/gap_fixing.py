"""Lagrangian variable fixing for a minimised GAP: which agent-job pairs a plan cheaper
than a known one can use.

For multipliers ``u`` (:mod:`solver.gap_lagrange`), forcing ``x_ij`` to 1 or to 0 changes
only agent i's knapsack, so ``L(u | x_ij = 1)`` and ``L(u | x_ij = 0)`` are exact for
every pair from two DP passes per agent (forward over its jobs, backward, joined around
each job). Each is a lower bound on every plan with that value of ``x_ij``; when it
reaches the cost of a plan already in hand, no cheaper plan has it. So with ``upper`` the
cost of a known plan, every plan cheaper than ``upper`` uses only the pairs
:func:`allowed_pairs` keeps, and a lower bound over those plans, taken with ``upper``
(``min``), bounds the whole instance.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from solver.gap_lagrange import MULTIPLIER_SCALE

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def forced_values(
    cost: IntArray, weight: IntArray, capacity: IntArray, scaled_u: IntArray
) -> tuple[int, IntArray, IntArray]:
    """``S x L(u)`` and, per pair (i, j), ``S x L(u)`` with ``x_ij`` forced to 1 and
    with it forced to 0 (``S = MULTIPLIER_SCALE``, ``u = scaled_u / S``); exact. A pair
    that cannot be forced to 1 (``a_ij > b_i``) gets ``int64`` max."""
    m, n = cost.shape
    profit = scaled_u[None, :] - MULTIPLIER_SCALE * cost
    total = int(scaled_u.sum())
    gains = np.zeros(m, np.int64)
    one = np.empty((m, n), np.int64)
    zero = np.empty((m, n), np.int64)
    for i in range(m):
        gains[i], with_j, without_j = _forced_knapsack(
            profit[i], weight[i], int(capacity[i])
        )
        one[i] = with_j
        zero[i] = without_j
    value = total - int(gains.sum())
    impossible = one == np.iinfo(np.int64).min
    one = np.where(impossible, np.iinfo(np.int64).max, value + gains[:, None] - one)
    zero = value + gains[:, None] - zero
    return value, one, zero


def _forced_knapsack(
    profit: IntArray, weight: IntArray, capacity: int
) -> tuple[int, IntArray, IntArray]:
    """One agent's best knapsack profit, and per job the best with it taken (int64 min
    when it does not fit) and the best without it."""
    n = profit.size
    items = np.flatnonzero((profit > 0) & (weight <= capacity))
    t_count = items.size
    # forward[t, k]: best within capacity k using items[:t]; backward[t, k]: items[t:]
    forward = np.zeros((t_count + 1, capacity + 1), np.int64)
    backward = np.zeros((t_count + 1, capacity + 1), np.int64)
    for t, j in enumerate(items):
        forward[t + 1] = _add_item(forward[t], int(weight[j]), int(profit[j]))
    for t in range(t_count - 1, -1, -1):
        j = items[t]
        backward[t] = _add_item(backward[t + 1], int(weight[j]), int(profit[j]))
    full = forward[t_count]
    best = int(full[capacity])
    without = np.full(n, best, np.int64)  # an item never taken changes nothing
    rooms = capacity - weight
    with_j = np.full(n, np.iinfo(np.int64).min, np.int64)
    fits = rooms >= 0
    with_j[fits] = profit[fits] + full[rooms[fits]]  # items outside `items` join `full`
    for t, j in enumerate(items):
        before, after = forward[t], backward[t + 1]
        without[j] = _join(before, after, capacity)
        with_j[j] = int(profit[j]) + _join(before, after, int(rooms[j]))
    return best, with_j, without


def _add_item(best: IntArray, w: int, p: int) -> IntArray:
    """The DP row after offering one more item (weight ``w``, profit ``p``)."""
    out = best.copy()
    if w < best.size:
        out[w:] = np.maximum(best[w:], best[: best.size - w] + p)
    return out


def _join(before: IntArray, after: IntArray, room: int) -> int:
    """Best profit within ``room`` from two disjoint item sets' DP rows."""
    return int(np.max(before[: room + 1] + after[room::-1]))


def allowed_pairs(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    scaled_u: IntArray,
    upper: int,
) -> BoolArray:
    """Pairs (i, j) some plan costing less than ``upper`` may use, by the Lagrangian
    values at ``u``: a pair whose forced-to-1 value reaches ``upper`` is out, and so are
    job j's other pairs when its forced-to-0 value does."""
    _, one, zero = forced_values(cost, weight, capacity, scaled_u)
    limit = upper * MULTIPLIER_SCALE  # ceil(v / S) >= upper  <=>  v > S x (upper - 1)
    allowed = one <= limit - MULTIPLIER_SCALE
    must = zero > limit - MULTIPLIER_SCALE
    forced_jobs = must.any(axis=0)
    allowed[:, forced_jobs] &= must[:, forced_jobs]
    return allowed
