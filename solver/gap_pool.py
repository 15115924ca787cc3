"""Near-optimal job sets per agent for a minimised GAP, by Lagrangian slack.

For multipliers ``u`` (:mod:`solver.gap_lagrange`) any plan costs
``L(u) + sum_i slack_i``, where agent i's slack is how far its job set falls short of
the best one in its knapsack (profit ``u_j - c_ij``, capacity ``b_i``). A plan within
``D`` of ``L(u)`` therefore gives every agent a set of slack <= ``D``; on Chu & Beasley
type D the optimum is close to the bound, so the sets of small slack (this module's
*pool*) hold good plans. :func:`agent_sets` lists every set of one agent within a slack,
exactly (a backward knapsack table prunes each partial set that cannot finish within
it), all partial sets at once in numpy; :func:`column_pool` takes, per agent, the
largest slack of ``SLACK_STEPS`` whose sets stay within a budget.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from solver.gap_lagrange import MULTIPLIER_SCALE

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SLACK_STEPS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20)  # in cost units


def best_after(profit: IntArray, weight: IntArray, capacity: int) -> IntArray:
    """``best[t, k]``: the best profit of a set of jobs t.. within capacity k."""
    n = profit.size
    best = np.zeros((n + 1, capacity + 1), np.int64)
    for t in range(n - 1, -1, -1):
        best[t] = best[t + 1]
        w = int(weight[t])
        if w <= capacity:
            with_t = best[t + 1, : capacity + 1 - w] + profit[t]
            best[t, w:] = np.maximum(best[t + 1, w:], with_t)
    return best


def agent_sets(
    profit: IntArray,
    weight: IntArray,
    capacity: int,
    slack: int,
    limit: int,
    best: IntArray | None = None,
) -> BoolArray | None:
    """Every job set of one agent whose weight fits ``capacity`` and whose profit is
    within ``slack`` of the best (one row per set, a column per job); None when they
    are more than ``limit``. Integers; ``weight`` >= 0; ``best``: :func:`best_after`'s
    table, when already computed."""
    n = profit.size
    if best is None:
        best = best_after(profit, weight, capacity)
    floor = int(best[0, capacity]) - slack
    used = np.zeros(1, np.int64)
    gain = np.zeros(1, np.int64)
    parents: list[IntArray] = []  # per job: each partial set's parent before it
    took: list[BoolArray] = []  # per job: whether that set took it
    for t in range(n):
        w, p = int(weight[t]), int(profit[t])
        skip = gain + best[t + 1, capacity - used] >= floor
        take = used + w <= capacity
        take[take] = gain[take] + p + best[t + 1, capacity - used[take] - w] >= floor
        kept, taken = np.flatnonzero(skip), np.flatnonzero(take)
        if kept.size + taken.size > limit:
            return None
        parents.append(np.concatenate([kept, taken]))
        took.append(np.repeat([False, True], [kept.size, taken.size]))
        used = np.concatenate([used[kept], used[taken] + w])
        gain = np.concatenate([gain[kept], gain[taken] + p])
    sets = np.zeros((used.size, n), np.bool_)
    at = np.arange(used.size)
    for t in range(n - 1, -1, -1):  # walk each set back to the first job
        sets[:, t] = took[t][at]
        at = parents[t][at]
    return sets


def column_pool(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    scaled_u: IntArray,
    budget: int,
) -> tuple[IntArray, BoolArray]:
    """Per agent, every job set within the largest slack of ``SLACK_STEPS`` that keeps
    its count within ``budget`` (the best sets, slack 0, always). Returns each set's
    agent and the sets (rows, one column per job)."""
    m = cost.shape[0]
    agents, pools = [], []
    for i in range(m):
        profit = scaled_u - MULTIPLIER_SCALE * cost[i]
        cap = int(capacity[i])
        best = best_after(profit, weight[i], cap)
        chosen = agent_sets(profit, weight[i], cap, 0, budget, best)
        for step in SLACK_STEPS:
            slack = round(step * MULTIPLIER_SCALE)
            wider = agent_sets(profit, weight[i], cap, slack, budget, best)
            if wider is None:
                break
            chosen = wider
        if chosen is not None:
            agents.append(np.full(len(chosen), i, np.int64))
            pools.append(chosen)
    if not pools:
        return np.zeros(0, np.int64), np.zeros((0, cost.shape[1]), np.bool_)
    return np.concatenate(agents), np.concatenate(pools)
