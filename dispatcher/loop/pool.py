"""The solver worker pool: CPU-bound solves in ``spawn`` worker processes, off the event loop.

Each worker is a process of its own; a region's cycles go to the same one (its home,
chosen when the region is first seen: the worker with the fewest regions), which keeps the
region's last plan between cycles and solves incrementally when it can
(``dispatcher.loop.region_solver``). When the home is busy and another worker idle, the
cycle runs there instead and the region's last plan goes with it (``KeptAt``: the last
job the event loop sent and the solution it got, from which that worker rebuilds it).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dispatcher.loop.region_solver import IncrementalSettings, RegionPlan, plan_step
from dispatcher.loop.worker_process import WorkerProcess
from solver.build import ProblemParts

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from solver.model import Problem, Solution, SolveParams

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
    """Import the solver (and OR-Tools) and load its compiled kernels once per worker, at
    pool start (``solver.compiled.warm_up``: a first cycle would pay it otherwise); exit
    with the parent."""
    import threading

    import solver.compiled

    solver.compiled.warm_up()
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
    ]  # (n,) ``solver.position.move_gains`` of the plan (nan: not a move)
    mode: str = "cold"  # "cold" or "incremental" (``dispatcher.loop.region_solver``)
    reason: str = ""  # why a region's cycle solved cold ('' when incremental)


_REGIONS: dict[str, RegionPlan] = {}
"""In a worker process: the last plan of each region whose home it is."""


def _built(parts: Problem | ProblemParts) -> Problem:
    """The problem a job carries: built in the worker when it came as its parts."""
    return parts.build() if isinstance(parts, ProblemParts) else parts


def _solve_job(parts: Problem | ProblemParts, params: SolveParams) -> SolveOutput:
    """Runs in a worker process: solve, then the move gain of each assigned row (its
    placement terms as driven are the solution's ``row_terms``)."""
    from solver.solve import solve

    problem = _built(parts)
    return _output(problem, params, solve(problem, params))


def since_cold(last: int | None, mode: str) -> int:
    """A region plan's cycles since the last cold one, after a cycle of ``mode`` (``last``:
    the count of the plan it started from, None: none)."""
    return last + 1 if last is not None and mode == "incremental" else 0


def region_plan(
    problem: Problem,
    ticket_ids: Sequence[str],
    technician_ids: Sequence[str],
    params: SolveParams,
    solution: Solution,
    since: int,
) -> RegionPlan:
    """What a region's worker keeps of a cycle for the next one."""
    from solver.restricted import CONTESTED

    contested = np.flatnonzero(np.isin(solution.reason, CONTESTED))
    return RegionPlan(
        params, tuple(ticket_ids), tuple(technician_ids), problem,
        solution.technician, since,
        frozenset(ticket_ids[i] for i in contested.tolist()),
    )  # fmt: skip


def _solve_region_job(
    key: str,
    parts: Problem | ProblemParts,
    ticket_ids: Sequence[str],
    technician_ids: Sequence[str],
    params: SolveParams,
    settings: IncrementalSettings,
    force: str,
    moved: bool = False,
    brought: KeptAt | None = None,
) -> SolveOutput:
    """Runs in a region's worker: solve the cycle cold or keeping the unchanged part of
    the region's last plan (``dispatcher.loop.region_solver``), and keep the result.
    The last plan is the one this worker kept, or when the region ``moved`` here from
    another worker, the one ``brought`` along (None: there is none)."""
    from solver.restricted import solve_keeping
    from solver.solve import solve

    problem = _built(parts)
    last = _REGIONS.pop(key, None)  # gone if the solve fails: the next one is cold
    if moved:
        last = brought.plan() if brought is not None else None
    step = plan_step(last, problem, ticket_ids, technician_ids, params, settings, force)
    solution, reason = None, step.reason
    if not step.cold:
        solution = solve_keeping(problem, params, step.keep)
        reason = "" if solution is not None else "kept plan unusable"
    mode = "incremental" if solution is not None else "cold"
    if solution is None:
        solution = solve(problem, params)
    since = since_cold(last.since_cold if last is not None else None, mode)
    _REGIONS[key] = region_plan(
        problem, ticket_ids, technician_ids, params, solution, since
    )
    return _output(problem, params, solution, mode, reason)


def _output(
    problem: Problem,
    params: SolveParams,
    solution: Solution,
    mode: str = "cold",
    reason: str = "",
) -> SolveOutput:
    """The solution with the move gain of each assigned row: what its move gains at the
    places it takes in the plan (``solver.position.move_gains``, the gain the churn rule
    held it to)."""
    from solver.position import movable_plan, move_gains
    from solver.solve import tech_state

    plan = movable_plan(problem, solution.technician)
    state = tech_state(problem, params.weights)
    gain = move_gains(problem, params.weights, state, plan, params.allow_overtime)
    return SolveOutput(solution, solution.row_terms, gain, mode, reason)


@dataclass(frozen=True, slots=True)
class KeptAt:
    """Which worker keeps a region's last plan, and what that plan is made of: the
    cycle's job and its solution, as the event loop sent and got them. When the region's
    next cycle runs in another worker, this goes along and that worker builds the plan
    (``plan()``)."""

    worker: int
    parts: Problem | ProblemParts
    ticket_ids: tuple[str, ...]
    technician_ids: tuple[str, ...]
    params: SolveParams
    solution: Solution
    since_cold: int

    def plan(self) -> RegionPlan:
        return region_plan(
            _built(self.parts), self.ticket_ids, self.technician_ids, self.params,
            self.solution, self.since_cold,
        )  # fmt: skip


def home_worker(home: int | None, busy: Sequence[int], homes: dict[str, int]) -> int:
    """The worker a region's cycle runs in: its home, unless that worker is busy while
    another is idle (the region then moves there, its last plan with it: never a cycle
    waiting behind another region's while a worker idles). A region seen first goes to
    the worker with the fewest regions."""
    if home is None:
        count = [0] * len(busy)
        for i in homes.values():
            count[i] += 1
        return min(range(len(busy)), key=count.__getitem__)
    if busy[home] > 0 and 0 in busy:
        return busy.index(0)
    return home


@dataclass
class SolverPool:
    """Worker processes for the CPU-bound solve; created once at startup.

    Workers start with ``spawn`` (a forked copy of a process running grpc and an event
    loop is unsafe) and import the solver up front so the first solve is not slow. Each
    is a ``WorkerProcess`` (``dispatcher.loop.worker_process``: the event loop writes its
    jobs and reads its answers itself), so that a region's cycles can go to the same
    process (``solve_region``).
    """

    workers: int = field(default_factory=lambda: max(1, min(2, os.cpu_count() or 1)))
    _pools: list[WorkerProcess] = field(default_factory=list)
    _busy: list[int] = field(default_factory=list)
    _home: dict[str, int] = field(default_factory=dict)
    _kept: dict[str, KeptAt] = field(default_factory=dict)
    """Where each region's last plan is kept (none after a failed or cancelled cycle:
    the next one is cold)."""

    def start(self) -> None:
        """Spawn the workers now (they import the solver and OR-Tools before their first
        job), so the first solves do not pay for that."""
        if self._pools:
            return
        for name, value in WORKER_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        for _ in range(self.workers):
            worker = WorkerProcess(_warm_up, (os.getpid(),))
            worker.start()
            self._pools.append(worker)
        self._busy = [0] * self.workers

    def wait_ready(self) -> None:
        """Start the workers and block until each has imported the solver (1.4 s on a
        quiet 2-core machine, 17-21 s in a process starved at load ~12): the first solve
        then does not wait for that. Before any solve only."""
        self.start()
        for worker in self._pools:
            worker.call(_noop)

    def worker_pids(self) -> list[int]:
        """The process ids of the running workers (benchmarks read their CPU)."""
        return [pid for worker in self._pools if (pid := worker.pid) is not None]

    async def solve(
        self, problem: Problem | ProblemParts, params: SolveParams
    ) -> SolveOutput:
        """Solve cold in the least busy worker; the event loop only awaits the future."""
        self.start()
        index = min(range(len(self._pools)), key=self._busy.__getitem__)
        return await self._run(index, _solve_job, problem, params)

    async def solve_region(
        self,
        key: str,
        parts: Problem | ProblemParts,
        ticket_ids: Sequence[str],
        technician_ids: Sequence[str],
        params: SolveParams,
        settings: IncrementalSettings,
        force: str = "",
    ) -> SolveOutput:
        """Solve a cycle of region ``key`` in its home worker, incrementally when it can
        (``force``: why it must solve cold, '' = no reason)."""
        self.start()
        index = self._home[key] = home_worker(
            self._home.get(key), self._busy, self._home
        )
        ticket_ids, technician_ids = tuple(ticket_ids), tuple(technician_ids)
        kept = self._kept.pop(key, None)  # stays gone if this cycle fails
        moved = kept is None or kept.worker != index
        output: SolveOutput = await self._run(
            index, _solve_region_job, key, parts, ticket_ids, technician_ids, params,
            settings, force, moved, kept if moved else None,
        )  # fmt: skip
        self._kept[key] = KeptAt(
            index, parts, ticket_ids, technician_ids, params, output.solution,
            since_cold(kept.since_cold if kept is not None else None, output.mode),
        )  # fmt: skip
        return output

    async def _run(self, index: int, job: Any, *args: Any) -> SolveOutput:
        self._busy[index] += 1
        try:
            out: SolveOutput = await self._pools[index].run(job, *args)
        finally:
            self._busy[index] -= 1
        return out

    def submit(self, fn: Any, *args: Any) -> concurrent.futures.Future[Any]:
        """Run ``fn(*args)`` in the first worker from a thread of its own (tests: what a
        worker sees; not while solves are in flight)."""
        self.start()
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(self._pools[0].call(fn, *args))
            except Exception as exc:
                done.set_exception(exc)

        threading.Thread(target=call, daemon=True).start()
        return done

    def shutdown(self) -> None:
        """Let each worker finish its job, then end it (jobs still waiting are dropped)."""
        pools, self._pools = self._pools, []
        for pool in pools:
            pool.close()
        self._home.clear()
        self._kept.clear()
