"""Generalized assignment (GAP) solved with CP-SAT (optimal when proven, else the best plan
with CP-SAT's bound and gap), Chu & Beasley's type C/D generator, and OR-Library readers.

A GAP is a capacitated assignment where each job uses a different amount of each
agent's capacity, which a flow cannot express. Linear assignment (LAP) instances go
through the min-cost-flow core instead (:func:`solver.lap.solve_lap`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from solver.model import SolveStatus, relative_gap_pct
from solver.validate import validate_count, validate_gap, validate_time_limit

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
    """Best assignment found, CP-SAT's proven bound and the honest status.

    OPTIMAL only when CP-SAT proved it (then ``bound == objective``); FEASIBLE when a
    limit stopped the search with a plan, ``bound`` and ``gap_pct`` saying how far from
    optimal it can be; TIMEOUT when no plan was found in time; INFEASIBLE when none exists.
    """

    agent: IntArray  # (n,) agent of each job, -1 when no solution
    objective: int  # 0 when no solution
    status: SolveStatus
    wall_time_s: float
    bound: (
        int | None
    )  # CP-SAT's best proven bound (lower when minimising); None: no plan
    gap_pct: float | None  # solver.model.relative_gap_pct; None without a plan
    num_workers: int  # CP-SAT search workers used


_CP_STATUS = {
    cp_model.OPTIMAL: SolveStatus.OPTIMAL,
    cp_model.FEASIBLE: SolveStatus.FEASIBLE,
    cp_model.INFEASIBLE: SolveStatus.INFEASIBLE,
    cp_model.UNKNOWN: SolveStatus.TIMEOUT,
}


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    return len(os.sched_getaffinity(0))


def solve_gap(
    instance: GapInstance,
    *,
    maximize: bool = False,
    time_limit_s: float = 10.0,
    seed: int = 0,
    num_workers: int | None = None,
) -> GapResult:
    """Solve a GAP with CP-SAT (one Boolean per agent-job pair), optimal when time allows.

    Parameters
    ----------
    instance
        Costs, weights and capacities.
    maximize
        Maximise the total (the OR-Library gap1..gap12 convention) instead of minimising.
    time_limit_s, seed
        CP-SAT's wall-time limit (seconds, > 0) and random seed.
    num_workers
        CP-SAT search workers; None (default): :func:`available_cores`. ``num_workers=1``
        with a fixed seed is deterministic.

    Returns
    -------
    GapResult
        See :class:`GapResult` for the statuses, bound and gap.

    Raises
    ------
    ValueError
        ``time_limit_s`` / ``num_workers`` out of range, or CP-SAT calls the model invalid
        (e.g. the objective over all pairs could overflow int64): its reason is quoted.
    """
    t0 = time.perf_counter()
    validate_time_limit(time_limit_s)
    workers = validate_count(
        "num_workers", available_cores() if num_workers is None else num_workers, 1
    )
    m, n = instance.cost.shape
    model = cp_model.CpModel()
    x = [[model.new_bool_var(f"x{i}_{j}") for j in range(n)] for i in range(m)]
    for j in range(n):
        model.add_exactly_one(x[i][j] for i in range(m))
    w = instance.weight.tolist()
    c = instance.cost.tolist()
    for i in range(m):
        model.add(
            cp_model.LinearExpr.weighted_sum(x[i], w[i]) <= int(instance.capacity[i])
        )
    total = cp_model.LinearExpr.weighted_sum(
        [v for row in x for v in row], [v for row in c for v in row]
    )
    if maximize:
        model.maximize(total)
    else:
        model.minimize(total)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = workers
    cp_status = solver.solve(model)
    if cp_status == cp_model.MODEL_INVALID:
        reason = solver.solution_info().splitlines()[0]
        raise ValueError(
            f"cost / weight / capacity: CP-SAT rejects the model: {reason}"
        )
    status = _CP_STATUS[cp_status]
    agent = np.full(n, -1, np.int64)
    objective, bound, gap = 0, None, None
    if status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        for j in range(n):
            agent[j] = next(i for i in range(m) if solver.boolean_value(x[i][j]))
        objective = int(instance.cost[agent, np.arange(n)].sum())
        bound = _integer_bound(model, solver)
        gap = relative_gap_pct(objective, bound, maximize=maximize)
    return GapResult(
        agent, objective, status, time.perf_counter() - t0, bound, gap, workers
    )


def _integer_bound(model: cp_model.CpModel, solver: cp_model.CpSolver) -> int:
    """CP-SAT's proven bound, exact: ``best_objective_bound`` is a float that can land a
    rounding error on the wrong side of an integer optimum (0.9999999999999998 for 1), so
    this reads the integer ``inner_objective_lower_bound`` and maps it back through the
    objective's scaling (-1 when maximising) and offset (0 here: integer costs)."""
    objective = model.proto.objective
    scaling = objective.scaling_factor or 1.0
    inner = solver.response_proto.inner_objective_lower_bound
    return round(scaling * (inner + objective.offset))


CHU_BEASLEY_TYPES = ("C", "D")


def chu_beasley(kind: str, m: int, n: int, rng: np.random.Generator) -> GapInstance:
    """A random GAP of Chu & Beasley's (1997) type C or D, to be minimised.

    Integers drawn uniformly, bounds included: type C ``a_ij`` in [5, 25], ``c_ij`` in
    [10, 50]; type D ``a_ij`` in [1, 100], ``c_ij = 111 - a_ij + e_ij`` with ``e_ij`` in
    [-10, 10] (costly jobs are light: the harder, correlated family). Both:
    ``b_i = floor(0.8 x sum_j a_ij / m)``. ``m`` agents, ``n`` jobs, each >= 1.
    """
    if kind not in CHU_BEASLEY_TYPES:
        raise ValueError(f"kind: must be one of {CHU_BEASLEY_TYPES}, got {kind!r}")
    validate_count("m", m, 1)
    validate_count("n", n, 1)
    if kind == "C":
        weight = rng.integers(5, 25, (m, n), endpoint=True)
        cost = rng.integers(10, 50, (m, n), endpoint=True)
    else:
        weight = rng.integers(1, 100, (m, n), endpoint=True)
        cost = 111 - weight + rng.integers(-10, 10, (m, n), endpoint=True)
    capacity = 4 * weight.sum(axis=1) // (5 * m)  # floor(0.8 x sum / m), exact in ints
    return GapInstance(cost.astype(np.int64), weight.astype(np.int64), capacity)


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
