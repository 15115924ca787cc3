"""Local search for a GAP plan: shift one job, or swap two jobs between agents, while a
move lowers the cost and keeps every agent within capacity (best move first, all moves
priced at once with numpy).

The MIP searches' plans are seldom at such a local optimum: on Chu & Beasley type D,
20 x 100 (seed 1), HiGHS's plan after 8 s dropped from 6256 to 6148 in 9 moves (3 ms).
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


def improve(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    agent: IntArray,
    *,
    time_limit_s: float = 1.0,
) -> tuple[IntArray, int]:
    """Improve a plan that fits (``agent[j]``: job j's agent) by shift and swap moves
    until none lowers ``sum c[agent[j], j]`` or ``time_limit_s`` passes. Returns the
    plan (a copy; it still fits) and the number of moves made."""
    t0 = time.perf_counter()
    m, n = cost.shape
    agent = agent.copy()
    jobs = np.arange(n)
    load = np.zeros(m, np.int64)
    np.add.at(load, agent, weight[agent, jobs])
    moves = 0
    while time.perf_counter() - t0 < time_limit_s:
        now = cost[agent, jobs]
        shift = _best_shift(cost, weight, capacity, agent, load, now)
        swap = _best_swap(cost, weight, capacity, agent, load, now)
        if min(shift[0], swap[0]) >= 0:
            break
        if shift[0] <= swap[0]:
            _, i, j = shift
            load[agent[j]] -= weight[agent[j], j]
            load[i] += weight[i, j]
            agent[j] = i
        else:
            _, j1, j2 = swap
            x, y = agent[j1], agent[j2]
            load[x] += weight[x, j2] - weight[x, j1]
            load[y] += weight[y, j1] - weight[y, j2]
            agent[j1], agent[j2] = y, x
        moves += 1
    return agent, moves


def _best_shift(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    agent: IntArray,
    load: IntArray,
    now: IntArray,
) -> tuple[int, int, int]:
    """(cost change, agent, job) of the best shift of one job to another agent that
    has room for it; change 0 when none lowers the cost."""
    fits = load[:, None] + weight <= capacity[:, None]
    fits[agent, np.arange(agent.size)] = False
    delta = np.where(fits, cost - now[None, :], 0)
    i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
    return int(delta[i, j]), int(i), int(j)


def _best_swap(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    agent: IntArray,
    load: IntArray,
    now: IntArray,
) -> tuple[int, int, int]:
    """(cost change, job 1, job 2) of the best exchange of two jobs' agents that both
    agents have room for; change 0 when none lowers the cost."""
    jobs = np.arange(agent.size)
    own = weight[agent, jobs]
    # row j1, column j2: j1's agent after giving up j1 and taking j2, and j2's likewise
    first = load[agent][:, None] - own[:, None] + weight[agent[:, None], jobs[None, :]]
    second = load[agent][None, :] - own[None, :] + weight[agent[None, :], jobs[:, None]]
    ok = (
        (first <= capacity[agent][:, None])
        & (second <= capacity[agent][None, :])
        & (agent[:, None] != agent[None, :])
    )
    delta = (
        cost[agent[:, None], jobs[None, :]]
        + cost[agent[None, :], jobs[:, None]]
        - now[:, None]
        - now[None, :]
    )
    delta = np.where(ok, delta, 0)
    j1, j2 = np.unravel_index(int(np.argmin(delta)), delta.shape)
    return int(delta[j1, j2]), int(j1), int(j2)
