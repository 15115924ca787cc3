"""Large-neighbourhood search for a minimised GAP plan: free a random set of jobs (or,
``by_agents``, every job of a few random agents), keep every other job where it is, and
re-assign the freed ones exactly (CP-SAT on the small sub-GAP left: all agents, their
spare capacity) when that lowers the cost.

Each round asks CP-SAT only for a strictly cheaper re-assignment; most rounds have none,
and given Lagrangian multipliers (:mod:`solver.gap_lagrange`) a round is skipped without
CP-SAT when the sub-GAP's own Lagrangian bound already shows that. Pairs ruled out by
Lagrangian fixing (:mod:`solver.gap_fixing`) are left out of the sub-GAP. After each
improvement, shift/swap local search (:mod:`solver.gap_local`). The neighbourhood grows
while rounds keep finding nothing and shrinks when CP-SAT runs out of time.

On Chu & Beasley type D, 20 x 100 (seed 1), from HiGHS's 5 s plan (6166 after local
search), 15 s of this search reached 6147 (6151 with the multipliers), load 11-15, where
HiGHS alone was at 6198 after 15 s and 6178 after 60 s (before local search). In
:func:`solver.gap.solve_gap` it runs in the race's last ``LNS_SHARE`` from the best
plan so far (``lns``, on by default; going on from any cheaper plan the race hears
of, ``adopt``), and on CP-SAT's thread once CP-SAT yields, around each fresh plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from solver.gap_lagrange import MULTIPLIER_SCALE, knapsacks, lagrangian_value
from solver.gap_local import improve

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FIRST_SIZE = 16  # jobs freed per round at the start
FIRST_AGENTS = 3  # agents whose jobs are freed per round at the start (by_agents)
ROUND_LIMIT_S = 0.5  # CP-SAT's time on one sub-GAP


@dataclass(frozen=True, slots=True)
class LnsResult:
    """The improved plan and how the search went."""

    agent: IntArray
    rounds: int  # neighbourhoods tried
    improvements: int  # rounds that lowered the cost
    pruned: int  # rounds the Lagrangian bound closed without CP-SAT


def lns_improve(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    agent: IntArray,
    *,
    deadline: float,
    seed: int = 0,
    scaled_u: IntArray | None = None,
    allowed: BoolArray | None = None,
    stop: threading.Event | None = None,
    on_plan: Callable[[int, IntArray], None] | None = None,
    adopt: Callable[[int], IntArray | None] | None = None,
    by_agents: bool = False,
    by_slack: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> LnsResult:
    """Improve a plan that fits (``agent[j]``: job j's agent) until ``deadline`` (a
    ``clock()`` value: ``time.perf_counter`` by default, ``time.process_time`` for
    equal-CPU comparisons) or ``stop``; returns a copy that still fits and never
    costs more. ``scaled_u``: Lagrangian multipliers x ``MULTIPLIER_SCALE`` (prune
    rounds); ``allowed``: (m, n) the pairs a cheaper plan may use (others never used);
    ``on_plan`` hears the cost of each better plan. Stops early when a round that
    frees every job finds nothing cheaper (the plan is then optimal). ``by_agents``:
    free every job of a few random agents (``size`` counts agents, from
    ``FIRST_AGENTS``) instead of random jobs; ``by_slack`` (with ``by_agents`` and
    ``scaled_u``): draw agent i with odds ``slack_i + mean slack`` (:func:`slacks`:
    how far its jobs are from its best knapsack at ``scaled_u``; the plan's cost is
    the Lagrangian bound plus their sum) instead of uniformly."""
    m, n = cost.shape
    agent = agent.copy()
    rng = np.random.default_rng(seed)
    whole = m if by_agents else n
    size = min(FIRST_AGENTS if by_agents else FIRST_SIZE, whole)
    rounds = improvements = pruned = idle = 0
    best_gain = (
        knapsacks(scaled_u[None, :] - MULTIPLIER_SCALE * cost, weight, capacity)[0]
        if by_agents and by_slack and scaled_u is not None
        else None
    )
    while (
        n > 0 and clock() < deadline - 0.01 and not (stop is not None and stop.is_set())
    ):
        other = None if adopt is None else adopt(int(cost[agent, np.arange(n)].sum()))
        if other is not None:
            agent = other.copy()
        if by_agents:
            odds = None
            if best_gain is not None and scaled_u is not None:
                slack = slacks(cost, scaled_u, agent, best_gain).astype(np.float64)
                odds = slack + max(float(slack.mean()), 1.0)
                odds /= odds.sum()
            chosen = rng.choice(m, size, replace=False, p=odds)
            jobs = np.flatnonzero(np.isin(agent, chosen))
        else:
            jobs = np.sort(rng.choice(n, size, replace=False))
        spare = _spare(weight, capacity, agent, jobs)
        now = int(cost[agent[jobs], jobs].sum())
        rounds += 1
        if scaled_u is not None and _closed(cost, weight, spare, scaled_u, jobs, now):
            pruned += 1
            found, timed_out = None, False
        else:
            found, timed_out = _reassign(
                cost,
                weight,
                spare,
                jobs,
                now,
                allowed,
                deadline - clock(),
                seed + rounds,
            )
        if found is not None:
            agent[jobs] = found
            agent, _ = improve(
                cost,
                weight,
                capacity,
                agent,
                time_limit_s=min(0.05, deadline - clock()),
            )
            improvements += 1
            idle = 0
            if on_plan is not None:
                on_plan(int(cost[agent, np.arange(n)].sum()), agent.copy())
        elif timed_out:
            size = max(size - (1 if by_agents else 2), min(2, whole))
        elif size == whole:
            break  # every job was free and nothing is cheaper: the plan is optimal
        else:
            idle += 1
            if idle >= m:  # a round per agent with nothing found: look wider
                size, idle = min(size + (1 if by_agents else 2), whole), 0
    return LnsResult(agent, rounds, improvements, pruned)


def slacks(
    cost: IntArray, scaled_u: IntArray, agent: IntArray, best_gain: IntArray
) -> IntArray:
    """Per agent, ``MULTIPLIER_SCALE x`` how far the profit of its jobs in ``agent``
    (``sum u_j - c_ij``) falls short of ``best_gain`` (its best knapsack's, at the
    multipliers ``scaled_u``); >= 0 for a plan that fits."""
    m, n = cost.shape
    profit = scaled_u - MULTIPLIER_SCALE * cost[agent, np.arange(n)]
    return best_gain - np.bincount(agent, weights=profit, minlength=m).astype(np.int64)


def _spare(
    weight: IntArray, capacity: IntArray, agent: IntArray, jobs: IntArray
) -> IntArray:
    """Each agent's capacity left by the jobs that stay."""
    keep = np.ones(agent.size, np.bool_)
    keep[jobs] = False
    load = np.zeros(capacity.size, np.int64)
    np.add.at(load, agent[keep], weight[agent[keep], np.flatnonzero(keep)])
    return capacity - load


def _closed(
    cost: IntArray,
    weight: IntArray,
    spare: IntArray,
    scaled_u: IntArray,
    jobs: IntArray,
    now: int,
) -> bool:
    """The sub-GAP's Lagrangian bound at ``scaled_u`` shows no re-assignment of
    ``jobs`` costs less than ``now``."""
    value, _ = lagrangian_value(cost[:, jobs], weight[:, jobs], spare, scaled_u[jobs])
    return -(-value // MULTIPLIER_SCALE) >= now


def _reassign(
    cost: IntArray,
    weight: IntArray,
    spare: IntArray,
    jobs: IntArray,
    now: int,
    allowed: BoolArray | None,
    left_s: float,
    seed: int,
) -> tuple[IntArray | None, bool]:
    """An agent per job of ``jobs`` within ``spare`` costing less than ``now`` (CP-SAT),
    or None; and whether CP-SAT stopped on its time limit."""
    m = cost.shape[0]
    model = cp_model.CpModel()
    pairs = [
        (i, q)
        for q, j in enumerate(jobs)
        for i in range(m)
        if (allowed is None or allowed[i, j]) and weight[i, j] <= spare[i]
    ]
    x = {pair: model.new_bool_var("") for pair in pairs}
    by_job: list[list[cp_model.IntVar]] = [[] for _ in jobs]
    by_agent: list[tuple[list[cp_model.IntVar], list[int]]] = [
        ([], []) for _ in range(m)
    ]
    for (i, q), var in x.items():
        by_job[q].append(var)
        by_agent[i][0].append(var)
        by_agent[i][1].append(int(weight[i, jobs[q]]))
    if any(not options for options in by_job):
        return None, False
    for options in by_job:
        model.add_exactly_one(options)
    for i, (variables, weights) in enumerate(by_agent):
        if variables:
            model.add(cp_model.LinearExpr.weighted_sum(variables, weights) <= spare[i])
    total = cp_model.LinearExpr.weighted_sum(
        list(x.values()), [int(cost[i, jobs[q]]) for i, q in x]
    )
    model.add(total <= now - 1)
    model.minimize(total)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed % 2**31
    solver.parameters.max_time_in_seconds = max(min(ROUND_LIMIT_S, left_s), 0.001)
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, status == cp_model.UNKNOWN
    found = np.empty(jobs.size, np.int64)
    for (i, q), var in x.items():
        if solver.boolean_value(var):
            found[q] = i
    return found, False
