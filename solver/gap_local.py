"""Local search for a GAP plan: shift one job, swap two jobs between agents, or eject
(shift job j1 onto agent b while b's job j2 leaves for its cheapest agent with room: an
ejection chain of length two, through b when it is full), while a move lowers the cost
and keeps every agent within capacity (best move first, all moves priced at once with
numpy).

The MIP searches' plans are seldom at such a local optimum: on Chu & Beasley type D,
20 x 100 (seed 1), HiGHS's plan after 8 s dropped from 6256 to 6148 in 9 moves (3 ms).
From HiGHS's last (up to) two plans after 4 s on Chu & Beasley C and D, 10-20 x
100-200, seeds 1-2 (16 plans), adding ejection ended lower than shift and swap alone
on 14, equal on 1, 2 higher on one (D 20 x 200 seed 1: 12811 against 13014), at 2-3 x their
CPU (at most 0.37 s; script in the gap-primal note).
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
    """Improve a plan that fits (``agent[j]``: job j's agent) by shift, swap and
    ejection moves until none lowers ``sum c[agent[j], j]`` or ``time_limit_s``
    passes. Returns the plan (a copy; it still fits) and the number of moves made."""
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
        eject = _best_ejection(cost, weight, capacity, agent, load, now)
        if min(shift[0], swap[0], eject[0]) >= 0:
            break
        if shift[0] <= min(swap[0], eject[0]):
            _, i, j = shift
            _shift(weight, agent, load, j, i)
        elif swap[0] <= eject[0]:
            _, j1, j2 = swap
            x, y = agent[j1], agent[j2]
            _shift(weight, agent, load, j1, y)
            _shift(weight, agent, load, j2, x)
        else:
            _, j1, j2, i = eject
            b = agent[j2]
            _shift(weight, agent, load, j2, i)  # j2 leaves b first: then j1 fits
            _shift(weight, agent, load, j1, b)
        moves += 1
    return agent, moves


def _shift(
    weight: IntArray, agent: IntArray, load: IntArray, job: int, to: int
) -> None:
    """Move ``job`` to agent ``to``, keeping ``load`` in step."""
    load[agent[job]] -= weight[agent[job], job]
    load[to] += weight[to, job]
    agent[job] = to


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


def _best_ejection(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    agent: IntArray,
    load: IntArray,
    now: IntArray,
) -> tuple[int, int, int, int]:
    """(cost change, job 1, job 2, agent) of the best ejection: job 1 moves onto job
    2's agent b, which has room for it once job 2 leaves, and job 2 goes to ``agent``:
    the cheapest other agent with room for it as loads stand, or job 1's agent when
    that is cheaper with the room job 1 leaves there. Change 0 when none lowers the
    cost."""
    n = cost.shape[1]
    jobs = np.arange(n)
    b = agent  # column j2: its agent b
    # row j1, column j2: b's load after giving up j2 and taking j1
    into_b = (
        load[b][None, :] - weight[b, jobs][None, :] + weight[b[None, :], jobs[:, None]]
    )
    fits_b = (into_b <= capacity[b][None, :]) & (agent[:, None] != b[None, :])
    # j2's cheapest other agent as loads stand (its own agent b excluded)
    room = load[:, None] + weight <= capacity[:, None]
    room[agent, jobs] = False
    away = np.where(room, cost, np.iinfo(np.int64).max)
    elsewhere = away.argmin(axis=0)
    elsewhere_cost = away[elsewhere, jobs]
    # or j1's agent a, with the room j1 leaves there
    a = agent[:, None]
    back_fits = (
        load[a] - weight[a, jobs[:, None]] + weight[a, jobs[None, :]] <= capacity[a]
    )
    back_cost = np.where(back_fits, cost[a, jobs[None, :]], np.iinfo(np.int64).max)
    use_back = back_cost < elsewhere_cost[None, :]
    leave = np.minimum(back_cost, elsewhere_cost[None, :])
    ok = fits_b & (leave < np.iinfo(np.int64).max)
    leave = np.where(ok, leave, now[None, :])  # no int64 max in the sums below
    delta = np.where(
        ok,
        cost[b[None, :], jobs[:, None]] - now[:, None] + leave - now[None, :],
        0,
    )
    j1, j2 = np.unravel_index(int(np.argmin(delta)), delta.shape)
    to = int(agent[j1]) if use_back[j1, j2] else int(elsewhere[j2])
    return int(delta[j1, j2]), int(j1), int(j2), to
