"""A GAP plan from HiGHS's MIP search (bundled with OR-Tools, through MathOpt).

HiGHS finds better GAP plans than CP-SAT within the same seconds on Chu & Beasley type C
and D instances (``./dev bench gap_chu_beasley``). Only its plan is used: ``solver.gap``
checks it exactly in integers; HiGHS's floating-point dual bound is not reported.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from ortools.math_opt.python import mathopt

if TYPE_CHECKING:
    from ortools.util.python.solve_interrupter import SolveInterrupter

IntArray = npt.NDArray[np.int64]

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
) -> IntArray | None:
    """Minimise ``sum c_ij x_ij`` as a 0-1 MIP in HiGHS until ``deadline`` (a
    ``time.perf_counter()`` value; building the model counts); the agent of each job in the best plan found, None when it found none (or stopped
    first). The plan is HiGHS's floating-point answer, to be checked by the caller.
    ``interrupter`` is handed to MathOpt, whose HiGHS ignores it in OR-Tools 9.15 (it
    runs to the deadline or its optimum; ``mathopt.solve`` has no other way to stop
    it)."""
    model, x, _ = gap_model(cost, weight, capacity, binary=True)
    left_s = max(deadline - time.perf_counter(), 0.01)
    params = mathopt.SolveParameters(
        time_limit=datetime.timedelta(seconds=left_s),
        random_seed=seed,
    )
    result = mathopt.solve(
        model, mathopt.SolverType.HIGHS, params=params, interrupter=interrupter
    )
    if not result.has_primal_feasible_solution():
        return None
    values = np.array([result.variable_values(row) for row in x], np.float64)
    agent: IntArray = np.argmax(values, axis=0).astype(np.int64)
    return agent
