"""Generalized assignment (GAP) solved exactly with CP-SAT, and OR-Library readers.

A GAP is a capacitated assignment where each job uses a different amount of each
agent's capacity, which a flow cannot express. Linear assignment (LAP) instances go
through the min-cost-flow core instead (:func:`solver.lap.solve_lap`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from solver.model import SolveStatus
from solver.validate import validate_gap

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class GapInstance:
    """One GAP: assign every job to one agent within the agents' capacities."""

    cost: IntArray  # (m agents, n jobs)
    weight: IntArray  # (m, n) capacity used by job j on agent i
    capacity: IntArray  # (m,)

    def __post_init__(self) -> None:
        validate_gap(self.cost, self.weight, self.capacity)


@dataclass(frozen=True, slots=True)
class GapResult:
    """Best assignment found and its status (OPTIMAL when proven)."""

    agent: IntArray  # (n,) agent of each job, -1 when no solution
    objective: int
    status: SolveStatus
    wall_time_s: float


_CP_STATUS = {
    cp_model.OPTIMAL: SolveStatus.OPTIMAL,
    cp_model.FEASIBLE: SolveStatus.FEASIBLE,
    cp_model.INFEASIBLE: SolveStatus.INFEASIBLE,
    cp_model.UNKNOWN: SolveStatus.TIMEOUT,
    cp_model.MODEL_INVALID: SolveStatus.INFEASIBLE,
}


def solve_gap(
    instance: GapInstance,
    *,
    maximize: bool = False,
    time_limit_s: float = 10.0,
    seed: int = 0,
    num_workers: int = 1,
) -> GapResult:
    """Solve a GAP exactly with CP-SAT (one Boolean per agent-job pair).

    Parameters
    ----------
    instance
        Costs, weights and capacities.
    maximize
        Maximise the total (the OR-Library gap1..gap12 convention) instead of minimising.
    time_limit_s, seed, num_workers
        CP-SAT limits; ``num_workers=1`` with a fixed seed is deterministic.

    Returns
    -------
    GapResult
        OPTIMAL when proven; FEASIBLE / TIMEOUT when the limit stopped the search.
    """
    t0 = time.perf_counter()
    m, n = instance.cost.shape
    model = cp_model.CpModel()
    x = [[model.new_bool_var(f"x{i}_{j}") for j in range(n)] for i in range(m)]
    for j in range(n):
        model.add_exactly_one(x[i][j] for i in range(m))
    w = instance.weight.tolist()
    c = instance.cost.tolist()
    for i in range(m):
        model.add(sum(w[i][j] * x[i][j] for j in range(n)) <= int(instance.capacity[i]))
    total = sum(c[i][j] * x[i][j] for i in range(m) for j in range(n))
    if maximize:
        model.maximize(total)
    else:
        model.minimize(total)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = num_workers
    status = _CP_STATUS.get(solver.solve(model), SolveStatus.INFEASIBLE)
    agent = np.full(n, -1, np.int64)
    objective = 0
    if status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        for j in range(n):
            agent[j] = next(i for i in range(m) if solver.boolean_value(x[i][j]))
        objective = int(instance.cost[agent, np.arange(n)].sum())
    return GapResult(agent, objective, status, time.perf_counter() - t0)


def read_orlib_gap(text: str) -> list[GapInstance]:
    """Parse an OR-Library ``gapN.txt`` file: P, then per problem m n, c (m x n), a (m x n), b (m)."""
    nums = np.array(text.split(), dtype=np.int64)
    count, pos = int(nums[0]), 1
    out = []
    for _ in range(count):
        m, n = int(nums[pos]), int(nums[pos + 1])
        pos += 2
        cost = nums[pos : pos + m * n].reshape(m, n)
        pos += m * n
        weight = nums[pos : pos + m * n].reshape(m, n)
        pos += m * n
        cap = nums[pos : pos + m]
        pos += m
        out.append(GapInstance(cost.copy(), weight.copy(), cap.copy()))
    return out


def read_orlib_lap(text: str) -> IntArray:
    """Parse an OR-Library dense ``assignN.txt`` file: n, then the n x n cost matrix."""
    nums = np.array(text.split(), dtype=np.int64)
    n = int(nums[0])
    if nums.size != 1 + n * n:
        raise ValueError(f"assign file: expected {n * n} costs, got {nums.size - 1}")
    return nums[1:].reshape(n, n)
