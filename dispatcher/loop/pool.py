"""The solver worker pool: CPU-bound solves in ``spawn`` worker processes, off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from solver.build import ProblemParts
from solver.model import NO_TECHNICIAN, Problem

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.model import Solution, SolveParams

logger = logging.getLogger(__name__)


def _noop() -> None:
    return None


WORKER_ENVIRONMENT = {"OMP_NUM_THREADS": "1"}
"""Set (unless already set) before the workers start, which inherit it. A worker is one
solve at a time, and the workers are the parallelism (one per core): OpenMP threads inside
one (pykdtree's k-nearest queries, ``solver.spatial``) only compete for the cores the other
workers and the event loop use, and spin while they wait. Measured with ``./dev bench
worker_threads``. OpenMP reads it when its library loads, so it cannot be set in the worker
itself (importing the pool's module loads it already)."""


def _exit_with_parent(parent_pid: int) -> None:
    """A worker outlives a SIGKILLed server otherwise (nothing closes its call queue)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(0)


def _warm_up(parent_pid: int) -> None:
    """Import the solver (and OR-Tools) once per worker, at pool start; exit with the parent."""
    import threading

    import solver.cost
    import solver.solve  # noqa: F401

    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


@dataclass(frozen=True, slots=True)
class SolveOutput:
    """What a worker returns: the solution and, per row, the cost terms of its placement
    as driven (``Solution.row_terms``: at its place in the sequenced queue)."""

    solution: Solution
    terms: dict[
        str, npt.NDArray[np.float64]
    ]  # term name -> (n,) values (0 when unassigned)
    move_gain: npt.NDArray[
        np.float64
    ]  # (n,) ``solver.cost.move_gain`` of the placement


def _solve_job(problem: Problem | ProblemParts, params: SolveParams) -> SolveOutput:
    """Runs in a worker process: solve, then the move gain of each assigned row (its
    placement terms as driven are the solution's ``row_terms``)."""
    from solver.cost import move_gain
    from solver.solve import solve, tech_state

    if isinstance(problem, ProblemParts):
        problem = problem.build()
    solution = solve(problem, params)
    gain = np.full(problem.tickets.count, np.nan)
    rows = np.flatnonzero(solution.technician != NO_TECHNICIAN).astype(np.int64)
    if rows.size:
        state = tech_state(problem, params.weights)
        techs = solution.technician[rows].astype(np.int64)
        gain[rows] = move_gain(
            problem, params.weights, state, rows, techs, params.allow_overtime
        )
    return SolveOutput(solution, solution.row_terms, gain)


@dataclass
class SolverPool:
    """Worker processes for the CPU-bound solve; created once at startup.

    Workers start with ``spawn`` (a forked copy of a process running grpc and an event
    loop is unsafe) and import the solver up front so the first solve is not slow.
    """

    workers: int = field(default_factory=lambda: max(1, min(2, os.cpu_count() or 1)))
    _pool: concurrent.futures.ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self._pool is None:
            for name, value in WORKER_ENVIRONMENT.items():
                os.environ.setdefault(name, value)
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_up,
                initargs=(os.getpid(),),
            )
            # Spawn every worker now (the executor starts them lazily otherwise), so the
            # first solves do not pay for process start and the OR-Tools import.
            for _ in range(self.workers):
                self._pool.submit(_noop)

    async def solve(
        self, problem: Problem | ProblemParts, params: SolveParams
    ) -> SolveOutput:
        """Solve in a worker process; the event loop only awaits the future."""
        self.start()
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _solve_job, problem, params)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
