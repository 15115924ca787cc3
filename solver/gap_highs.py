"""A GAP plan from HiGHS's MIP search (bundled with OR-Tools, through MathOpt).

HiGHS finds better GAP plans than CP-SAT within the same seconds on Chu & Beasley type C
and D instances (``./dev bench gap_chu_beasley``). Only its plan is used: ``solver.gap``
checks it exactly in integers; HiGHS's floating-point dual bound is not reported.
"""

from __future__ import annotations

import datetime
import os
import tempfile
import threading
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import numpy.typing as npt
from ortools.math_opt.python import mathopt
from ortools.math_opt.solvers import highs_pb2

from solver.gap_clock import WALL_CLOCK, GapClock

if TYPE_CHECKING:
    from collections.abc import Callable

    from ortools.util.python.solve_interrupter import SolveInterrupter

IntArray = npt.NDArray[np.int64]

POLL_S = 0.25  # how often highs_plan reads HiGHS's improving plans

# Held while building or changing any MathOpt model: solve_gap's threads each build
# their own, and once (three races at load 23) ``model.minimize`` raised a TypeError in
# ``clear_attr`` while another thread built a model. Solves run outside it.
MATHOPT_LOCK = threading.Lock()


def gap_model(
    cost: IntArray, weight: IntArray, capacity: IntArray, *, binary: bool
) -> tuple[mathopt.Model, list[list[mathopt.Variable]], list[mathopt.LinearConstraint]]:
    """``min sum c_ij x_ij`` with each job on one agent and each agent's load within its
    capacity, x binary (the MIP) or in [0, 1] (the LP relaxation); the model, ``x[i][j]``
    and the job rows."""
    with MATHOPT_LOCK:
        return _gap_model(cost, weight, capacity, binary=binary)


def _gap_model(
    cost: IntArray, weight: IntArray, capacity: IntArray, *, binary: bool
) -> tuple[mathopt.Model, list[list[mathopt.Variable]], list[mathopt.LinearConstraint]]:
    m, n = cost.shape
    model = mathopt.Model()
    x = [
        [
            model.add_binary_variable()
            if binary
            else model.add_variable(lb=0.0, ub=1.0)
            for _ in range(n)
        ]
        for _ in range(m)
    ]
    jobs = [
        model.add_linear_constraint(mathopt.fast_sum(x[i][j] for i in range(m)) == 1)
        for j in range(n)
    ]
    a, c = weight.tolist(), cost.tolist()
    for i in range(m):
        model.add_linear_constraint(
            mathopt.fast_sum(a[i][j] * x[i][j] for j in range(n)) <= int(capacity[i])
        )
    model.minimize(
        mathopt.fast_sum(c[i][j] * x[i][j] for i in range(m) for j in range(n))
    )
    return model, x, jobs


def highs_plan(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    *,
    deadline: float,
    seed: int,
    interrupter: SolveInterrupter | None = None,
    clock: GapClock = WALL_CLOCK,
    on_plan: Callable[[IntArray], None] | None = None,
    stop: threading.Event | None = None,
) -> IntArray | None:
    """Minimise ``sum c_ij x_ij`` as a 0-1 MIP in HiGHS until ``deadline`` (on
    ``clock``; building the model counts); the agent of each job in the best plan found,
    None when it found none (or stopped first). The plan is HiGHS's floating-point
    answer, to be checked by the caller. ``interrupter`` is handed to MathOpt, whose
    HiGHS ignores it in OR-Tools 9.15 (it runs to its wall limit,
    ``clock.wall_limit_s(deadline)``, or its optimum; ``mathopt.solve`` has no other way
    to stop it). ``on_plan`` hears each improving plan as HiGHS finds it (read from
    HiGHS's improving-solution file every ``POLL_S``, until the solve returns or
    ``stop`` is set), the last one included."""
    model, x, _ = gap_model(cost, weight, capacity, binary=True)
    with tempfile.TemporaryDirectory(prefix="gap-highs-") as folder:
        path = os.path.join(folder, "improving.sol")
        params = mathopt.SolveParameters(
            time_limit=datetime.timedelta(seconds=clock.wall_limit_s(deadline)),
            random_seed=seed,
            highs=None
            if on_plan is None
            else highs_pb2.HighsOptionsProto(
                bool_options={"mip_improving_solution_save": True},
                string_options={"mip_improving_solution_file": path},
            ),
        )
        solved = threading.Event()
        watcher = None
        if on_plan is not None:
            reader = ImprovingPlans(path, cost.shape)
            watcher = threading.Thread(
                target=_tell_plans, args=(reader, on_plan, solved, stop), daemon=True
            )
            watcher.start()
        try:
            result = mathopt.solve(
                model, mathopt.SolverType.HIGHS, params=params, interrupter=interrupter
            )
        finally:
            solved.set()
            if watcher is not None:
                watcher.join()
    if not result.has_primal_feasible_solution():
        return None
    values = np.array([result.variable_values(row) for row in x], np.float64)
    agent: IntArray = np.argmax(values, axis=0).astype(np.int64)
    return agent


def _tell_plans(
    reader: ImprovingPlans,
    on_plan: Callable[[IntArray], None],
    solved: threading.Event,
    stop: threading.Event | None,
) -> None:
    """Tell ``on_plan`` each plan ``reader`` finds until HiGHS returns (then once more:
    its last plans) or ``stop`` is set; then closes ``reader``."""
    try:
        while True:
            last = solved.wait(POLL_S)
            if stop is not None and stop.is_set():
                return
            plan = reader.latest()
            if plan is not None:
                on_plan(plan)
            if last:
                return
    finally:
        reader.close()


class ImprovingPlans:
    """Reads HiGHS's improving-solution file as it grows: records of ``Objective v``,
    ``# Columns k`` and k values, one per line (x in ``gap_model``'s order: agent by
    agent, job by job)."""

    def __init__(self, path: str, shape: tuple[int, int]) -> None:
        self._path, self._shape = path, shape
        self._file: BinaryIO | None = None
        self._buffer = b""

    def latest(self) -> IntArray | None:
        """The newest complete plan written since the last call (job j's agent), None
        when there is none (or the file is not there yet)."""
        if self._file is None:
            try:
                self._file = open(self._path, "rb")  # noqa: SIM115 (kept open: it grows)
            except FileNotFoundError:
                return None
        self._buffer += self._file.read()
        records = self._buffer.split(b"Objective")[1:]
        m, n = self._shape
        newest, done = None, 0
        for k, record in enumerate(records, start=1):
            values = record.split(b"\n", 2)[2:]  # after the value and "# Columns k"
            words = values[0].split() if values else []
            if len(words) < m * n or (k == len(records) and not record.endswith(b"\n")):
                break  # still being written
            newest, done = words[: m * n], k
        if newest is None:
            return None
        self._buffer = b"".join(b"Objective" + record for record in records[done:])
        table = np.array([float(v) for v in newest], np.float64).reshape(m, n)
        agent: IntArray = np.argmax(table, axis=0).astype(np.int64)
        return agent

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
