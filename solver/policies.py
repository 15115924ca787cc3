"""One shape for every dispatch policy, so the simulator and the service can swap them.

``make_policy(name, params).solve(problem, previous) -> Solution`` for the optimizer and
each baseline; a policy object may keep state between calls (the round-robin cursor, the
incremental solver's cached work).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from solver.baselines import BASELINES, baseline_solve
from solver.incremental import IncrementalSolver
from solver.solve import solve

if TYPE_CHECKING:
    from solver.model import Problem, Solution, SolveParams

POLICY_NAMES = (
    "optimizer",
    "optimizer_incremental",
    "round_robin",
    "least_loaded",
    "nearest",
    "priority_edd",
    "regret",
)
"""Names accepted by :func:`make_policy`."""


@runtime_checkable
class DispatchPolicy(Protocol):
    """A dispatch rule: problem in, solution out (may keep state between calls)."""

    name: str
    params: SolveParams

    def solve(self, problem: Problem, previous: Solution | None = None) -> Solution:
        """Decide every open ticket of ``problem``."""
        ...


class OptimizerPolicy:
    """The exact optimizer (:func:`solver.solve`), stateless."""

    name = "optimizer"

    def __init__(self, params: SolveParams) -> None:
        self.params = params

    def solve(self, problem: Problem, previous: Solution | None = None) -> Solution:
        """Solve from scratch; ``previous`` supplies incumbents as in :func:`solver.solve`."""
        return solve(problem, self.params, previous)


class IncrementalPolicy:
    """The optimizer through an :class:`~solver.incremental.IncrementalSolver`."""

    name = "optimizer_incremental"

    def __init__(self, params: SolveParams) -> None:
        self.params = params
        self.solver = IncrementalSolver(params)

    def solve(self, problem: Problem, previous: Solution | None = None) -> Solution:
        """Re-solve incrementally when only tickets were added, else cold (``previous`` unused)."""
        return self.solver.solve(problem)


class BaselinePolicy:
    """A baseline rule of :mod:`solver.baselines` (simple FIFO ones or the strong ones)."""

    def __init__(self, name: str, params: SolveParams) -> None:
        self.name = name
        self.params = params
        self.cursor = 0  # round robin: technician row to try first next time

    def solve(self, problem: Problem, previous: Solution | None = None) -> Solution:
        """Dispatch new tickets by the rule; already assigned tickets stay (``previous`` unused)."""
        m = problem.technicians.count
        sol, cursor = baseline_solve(
            problem, self.params, self.name, self.cursor % max(m, 1)
        )
        self.cursor = cursor
        return sol


def make_policy(name: str, params: SolveParams) -> DispatchPolicy:
    """Build a policy by name.

    Parameters
    ----------
    name
        One of ``POLICY_NAMES``.
    params
        Solver parameters (weights cost every policy's result the same way).

    Returns
    -------
    DispatchPolicy
        A fresh policy object (keep it between calls: it may hold state).

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name == "optimizer":
        return OptimizerPolicy(params)
    if name == "optimizer_incremental":
        return IncrementalPolicy(params)
    if name in BASELINES:
        return BaselinePolicy(name, params)
    raise ValueError(f"policy: unknown name {name!r}, expected one of {POLICY_NAMES}")
