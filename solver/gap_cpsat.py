"""CP-SAT's part in the GAP race (:func:`solver.gap.solve_gap`): one Boolean per
agent-job pair, its plans told to the race as it finds them, its proven bound read
exactly, and a stop that other threads may ask for.

It *yields* (stops, keeping its plan so far) to a converged Lagrangian bound when it
cannot help any more: its own bound is below that one, and once it has had
``YIELD_AFTER_SHARE`` of the time limit in CPU time of its own, its best plan is still
``YIELD_GAP_PCT`` or more above its bound. On Chu & Beasley type C, 10 x 100, it proves
optimality in 2-3 CPU s, its gap 0-0.2% at 2 s; on type D its gap stays at 1.5-3.8%
for the whole limit while the dive and HiGHS find the better plans: the core it frees
goes to them.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from solver.model import SolveStatus

if TYPE_CHECKING:
    from collections.abc import Callable

IntArray = npt.NDArray[np.int64]

YIELD_AFTER_SHARE = 0.07  # of the limit: CP-SAT's own CPU before it may yield (2.1 s
# of 30 s)
YIELD_GAP_PCT = 1.0  # its own plan-to-bound gap (%) that says it is not closing

_CP_STATUS = {
    cp_model.OPTIMAL: SolveStatus.OPTIMAL,
    cp_model.FEASIBLE: SolveStatus.FEASIBLE,
    cp_model.INFEASIBLE: SolveStatus.INFEASIBLE,
    cp_model.UNKNOWN: SolveStatus.TIMEOUT,
}


class CpSatRacer:
    """The CP-SAT model and solver; ``stop`` and ``yield_below`` may be called from
    another thread. Costs and bounds are in the minimised sense (``sign x`` the
    instance's objective)."""

    def __init__(
        self,
        cost: IntArray,
        weight: IntArray,
        capacity: IntArray,
        maximize: bool,
        workers: int,
        seed: int,
    ) -> None:
        m, n = cost.shape
        model = cp_model.CpModel()
        x = [[model.new_bool_var(f"x{i}_{j}") for j in range(n)] for i in range(m)]
        for j in range(n):
            model.add_exactly_one(x[i][j] for i in range(m))
        w = weight.tolist()
        c = cost.tolist()
        for i in range(m):
            model.add(cp_model.LinearExpr.weighted_sum(x[i], w[i]) <= int(capacity[i]))
        total = cp_model.LinearExpr.weighted_sum(
            [v for row in x for v in row], [v for row in c for v in row]
        )
        if maximize:
            model.maximize(total)
        else:
            model.minimize(total)
        solver = cp_model.CpSolver()
        solver.parameters.random_seed = seed
        solver.parameters.num_workers = workers
        solver.best_bound_callback = self._heard_bound
        self._model, self._solver, self._x = model, solver, x
        self._sign = -1 if maximize else 1
        self._stopped = threading.Event()  # asked to stop, or the search has ended
        self._lock = threading.Lock()
        self._bound: float | None = None  # proven so far
        self._plan: int | None = None  # its best plan's cost so far
        self._clock: int | None = None  # CPU clock of the thread that solves
        self._cpu0 = 0.0
        self._limit_s = 0.0  # the solve's time limit
        self.yielded_s: float | None = None  # see yield_below

    def _heard_bound(self, bound: float) -> None:
        self._bound = self._sign * bound

    def _cpu_s(self) -> float:
        """CPU time of the solving thread since the solve began (0 before). With one
        worker CP-SAT searches in that thread; with more, its workers have their own
        threads and this stays near 0, so it never yields there."""
        clock = self._clock
        return 0.0 if clock is None else time.clock_gettime(clock) - self._cpu0

    def stop(self) -> None:
        """Ask the search to stop (thread-safe); a no-op once it has ended."""
        self._stopped.set()
        self._solver.stop_search()

    def yield_below(self, bound: int, t0: float) -> bool:
        """Stop the search (see the module docstring) when its proven bound so far is
        below ``bound``, a converged Lagrangian one, and it is not closing its own gap;
        ``yielded_s``: when, in seconds from ``t0`` (``time.perf_counter()``). Whether
        it stopped."""
        with self._lock:
            mine, plan = self._bound, self._plan
            if (
                self._stopped.is_set()
                or self._cpu_s() < YIELD_AFTER_SHARE * self._limit_s
                or (mine is not None and mine > bound - 0.5)
                or (
                    mine is not None
                    and plan is not None
                    and plan - mine < YIELD_GAP_PCT / 100 * max(abs(plan), 1)
                )
            ):
                return False
            self.yielded_s = time.perf_counter() - t0
            self.stop()
            return True

    @property
    def ended(self) -> bool:
        """The search has ended or was asked to."""
        return self._stopped.is_set()

    def solve(
        self,
        on_plan: Callable[[int, IntArray | None], None],
        time_limit_s: float,
        *,
        share_plans: bool = False,
        budget_s: float | None = None,
    ) -> tuple[SolveStatus, IntArray | None, int | None]:
        """Status, plan (None without one) and CP-SAT's bound after at most
        ``time_limit_s`` (wall); ``on_plan`` hears each plan's cost as it is found (and
        with ``share_plans`` the plan, else None). ``budget_s``: the race's limit that
        ``YIELD_AFTER_SHARE`` is a share of (default ``time_limit_s``; they differ on
        a CPU clock, :mod:`solver.gap_clock`)."""
        if self._stopped.is_set():
            return SolveStatus.TIMEOUT, None, None
        self._clock = time.pthread_getcpuclockid(threading.get_ident())
        self._cpu0 = time.clock_gettime(self._clock)
        self._solver.parameters.max_time_in_seconds = time_limit_s
        self._limit_s = time_limit_s if budget_s is None else budget_s
        callback = _TellPlans(self, on_plan, self._x if share_plans else None)
        cp_status = self._solver.solve(self._model, callback)
        with self._lock:
            self._stopped.set()  # ended: nothing left to yield
        if cp_status == cp_model.MODEL_INVALID:
            reason = self._solver.solution_info().splitlines()[0]
            raise ValueError(
                f"cost / weight / capacity: CP-SAT rejects the model: {reason}"
            )
        status = _CP_STATUS[cp_status]
        if status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
            return status, None, None
        x = self._x
        agent = np.array(
            [
                next(i for i in range(len(x)) if self._solver.boolean_value(x[i][j]))
                for j in range(len(x[0]) if x else 0)
            ],
            np.int64,
        )
        return status, agent, self._sign * _integer_bound(self._model, self._solver)

    def _heard_plan(self, cost: int) -> None:
        with self._lock:
            if self._plan is None or cost < self._plan:
                self._plan = cost


class _TellPlans(cp_model.CpSolverSolutionCallback):
    """Tells ``on_plan`` the cost of each plan CP-SAT finds (it may then stop CP-SAT),
    and the plan itself when given the variables ``x`` (reading them costs a Python
    call per pair: only for ``lns``)."""

    def __init__(
        self,
        racer: CpSatRacer,
        on_plan: Callable[[int, IntArray | None], None],
        x: list[list[cp_model.IntVar]] | None,
    ) -> None:
        super().__init__()
        self._racer, self._on_plan, self._x = racer, on_plan, x

    def on_solution_callback(self) -> None:
        cost = self._racer._sign * round(self.objective_value)
        self._racer._heard_plan(cost)
        if self._x is None:
            self._on_plan(cost, None)
            return
        agent = np.zeros(len(self._x[0]) if self._x else 0, np.int64)
        for i, row in enumerate(self._x):
            for j, var in enumerate(row):
                if self.boolean_value(var):
                    agent[j] = i
        self._on_plan(cost, agent)


def _integer_bound(model: cp_model.CpModel, solver: cp_model.CpSolver) -> int:
    """CP-SAT's proven bound, exact: ``best_objective_bound`` is a float that can land a
    rounding error on the wrong side of an integer optimum (0.9999999999999998 for 1), so
    this reads the integer ``inner_objective_lower_bound`` and maps it back through the
    objective's scaling (-1 when maximising) and offset (0 here: integer costs)."""
    objective = model.proto.objective
    scaling = objective.scaling_factor or 1.0
    inner = solver.response_proto.inner_objective_lower_bound
    return round(scaling * (inner + objective.offset))
