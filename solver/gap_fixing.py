"""Lagrangian variable fixing for a minimised GAP: which agent-job pairs a plan cheaper
than a known one can use.

For multipliers ``u`` (:mod:`solver.gap_lagrange`), forcing ``x_ij`` to 1 or to 0 changes
only agent i's knapsack, so ``L(u | x_ij = 1)`` and ``L(u | x_ij = 0)`` are exact for
every pair from two DP passes per agent (forward over its jobs, backward, joined around
each job); placing job j on agent i (``x_ij = 1``, ``x_kj = 0`` for the other agents)
adds them up. Each is a lower bound on every plan that places j on i, so with
``upper`` the cost of a plan in hand, a pair whose placed value reaches ``upper`` is in
no cheaper plan (:func:`allowed_pairs`); a lower bound over the plans using only the
other pairs, taken with ``upper`` (``min``), bounds the whole instance.

How much it fixes depends on ``upper - L(u)``: on Chu & Beasley type D, 20 x 100
(seed 1), at the converged multipliers, a gap of 10 fixes 820 of the 2,000 pairs, 20
only 27 and 30 none (the race's gap there is about 80); on type C, 20 x 100, a gap of 6
fixes 1,593.
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


def placed_values(
    cost: IntArray, weight: IntArray, capacity: IntArray, scaled_u: IntArray
) -> IntArray:
    """Per pair (i, j), ``S x L(u)`` of the GAP with job j placed on agent i (``x_ij``
    forced to 1, job j's other pairs to 0); exact; ``int64`` max when ``a_ij > b_i``.
    Every plan placing j on i costs at least its ceiling over ``S``."""
    value, one, zero = forced_values(cost, weight, capacity, scaled_u)
    left_out = zero - value  # >= 0: what leaving j out of agent k's knapsack costs
    impossible = one == np.iinfo(np.int64).max
    placed = np.where(impossible, value, one) + left_out.sum(axis=0) - left_out
    return np.where(impossible, one, placed)


def allowed_pairs(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    scaled_u: IntArray,
    upper: int,
) -> BoolArray:
    """Pairs (i, j) some plan costing less than ``upper`` may use: those whose placed
    value (:func:`placed_values`) stays below ``upper``."""
    placed = placed_values(cost, weight, capacity, scaled_u)
    # ceil(v / S) >= upper  <=>  v > S x (upper - 1)
    allowed: BoolArray = placed <= MULTIPLIER_SCALE * (upper - 1)
    return allowed
