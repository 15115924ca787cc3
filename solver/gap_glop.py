"""A 0/1-matrix LP in GLOP, re-solved warm after changes: the GAP's Dantzig-Wolfe
masters (:mod:`solver.gap_lagrange`, :mod:`solver.gap_dive`).

Built and changed as MathOpt protos and solved by MathOpt's proto solver (the engine
under ``mathopt.IncrementalSolver``), its answers read into numpy straight from the
result proto: through MathOpt's Python model, turning each answer into Python objects
cost as much as GLOP's solves (about 10 of 46 s of the Lagrangian bound of a type D
20 x 200 instance).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.math_opt import (
    callback_pb2,
    model_parameters_pb2,
    model_pb2,
    model_update_pb2,
    parameters_pb2,
    result_pb2,
    sparse_containers_pb2,
)
from ortools.math_opt.core.python import solver as core_solver
from ortools.math_opt.python import mathopt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class LpSolution:
    """An optimal solution: the objective, each column's value and each row's dual."""

    objective: float
    values: FloatArray
    duals: FloatArray


class GlopLp:
    """``min c x`` over columns with 0/1 entries, ``row_lower <= A x <= row_upper``."""

    def __init__(
        self, row_lower: FloatArray, row_upper: FloatArray, *, dual: bool = False
    ) -> None:
        self._dual = (
            dual  # dual simplex: after bounds tighten, the basis stays dual feasible
        )
        self._rows = len(row_lower)
        self._columns = 0
        self._proto = model_pb2.ModelProto()
        rows = self._proto.linear_constraints
        rows.ids.extend(range(self._rows))
        rows.lower_bounds.extend(np.asarray(row_lower, np.float64).tolist())
        rows.upper_bounds.extend(np.asarray(row_upper, np.float64).tolist())
        self._solver: Any = None  # created at the first solve
        self._update = model_update_pb2.ModelUpdateProto()
        self._bounds: dict[int, tuple[float, float]] = {}  # for the next update

    @property
    def columns(self) -> int:
        return self._columns

    def add_columns(
        self, cost: FloatArray, row: IntArray, col: IntArray, upper: float = np.inf
    ) -> None:
        """New columns in [0, ``upper``] costing ``cost``, with a 1 in row ``row[e]`` of
        new column ``col[e]`` for each entry e (``col`` counts from 0 among the new)."""
        first, count = self._columns, len(cost)
        self._columns += count
        new = self._solver is None
        target = self._proto if new else self._update
        variables = target.variables if new else target.new_variables
        variables.ids.extend(range(first, first + count))
        variables.lower_bounds.extend([0.0] * count)
        variables.upper_bounds.extend([upper] * count)
        variables.integers.extend([False] * count)
        objective = (
            target.objective.linear_coefficients
            if new
            else target.objective_updates.linear_coefficients
        )
        _append(objective, np.arange(first, first + count), np.asarray(cost, float))
        matrix = (
            target.linear_constraint_matrix
            if new
            else target.linear_constraint_matrix_updates
        )
        _append_matrix(
            matrix, np.asarray(row, np.int64), first + np.asarray(col, np.int64)
        )

    def set_bounds(self, columns: IntArray, lower: float, upper: float) -> None:
        """Set the bounds of these columns."""
        for k in np.asarray(columns, np.int64).tolist():
            if self._solver is None:  # still in the model: column k is variable k
                self._proto.variables.lower_bounds[k] = lower
                self._proto.variables.upper_bounds[k] = upper
            else:
                self._bounds[k] = (lower, upper)

    def solve(self, time_limit_s: float | None = None) -> LpSolution | None:
        """Solve (warm after the first time); None unless GLOP proves an optimum."""
        if self._solver is None:
            self._solver = core_solver.new(
                mathopt.SolverType.GLOP.value,
                self._proto,
                parameters_pb2.SolverInitializerProto(),
            )
            self._update = model_update_pb2.ModelUpdateProto()
        else:
            if self._bounds:
                ids = np.array(sorted(self._bounds), np.int64)
                lower, upper = np.array([self._bounds[k] for k in ids.tolist()]).T
                updates = self._update.variable_updates
                _append(updates.lower_bounds, ids, lower)
                _append(updates.upper_bounds, ids, upper)
                self._bounds = {}
            if self._update.ByteSize() and not self._solver.update(self._update):
                raise RuntimeError("GLOP refused an update of its LP")
            self._update = model_update_pb2.ModelUpdateProto()
        params = parameters_pb2.SolveParametersProto()
        if self._dual:
            params.lp_algorithm = parameters_pb2.LP_ALGORITHM_DUAL_SIMPLEX
        if time_limit_s is not None:
            params.time_limit.FromTimedelta(datetime.timedelta(seconds=time_limit_s))
        result = self._solver.solve(
            params,
            model_parameters_pb2.ModelSolveParametersProto(),
            None,
            callback_pb2.CallbackRegistrationProto(),
            None,
            None,
        )
        if result.termination.reason != result_pb2.TERMINATION_REASON_OPTIMAL:
            return None
        solution = result.solutions[0]
        return LpSolution(
            solution.primal_solution.objective_value,
            _dense(solution.primal_solution.variable_values, self._columns),
            _dense(solution.dual_solution.dual_values, self._rows),
        )


def _dense(
    sparse: sparse_containers_pb2.SparseDoubleVectorProto, size: int
) -> FloatArray:
    out = np.zeros(size, np.float64)
    out[np.array(sparse.ids, np.int64)] = np.array(sparse.values, np.float64)
    return out


def _append(
    vector: sparse_containers_pb2.SparseDoubleVectorProto,
    ids: IntArray,
    values: FloatArray,
) -> None:
    vector.ids.extend(ids.tolist())
    vector.values.extend(values.tolist())


def _append_matrix(
    matrix: sparse_containers_pb2.SparseDoubleMatrixProto, row: IntArray, col: IntArray
) -> None:
    """Add 1-entries, keeping the matrix sorted by row, then column (MathOpt's rule)."""
    row = np.concatenate([np.array(matrix.row_ids, np.int64), row])
    col = np.concatenate([np.array(matrix.column_ids, np.int64), col])
    order = np.lexsort((col, row))
    del matrix.row_ids[:], matrix.column_ids[:], matrix.coefficients[:]
    matrix.row_ids.extend(row[order].tolist())
    matrix.column_ids.extend(col[order].tolist())
    matrix.coefficients.extend([1.0] * row.size)
