"""The policy under test: a thin adapter over the solver's policies (no cost logic here).

``make_policy(name, params)`` returns an object with ``.solve(problem, previous) ->
Solution``: ``optimizer`` is the real ``solver.solve`` with the scenario's (or a policy
file's) ``SolveParams``; ``round_robin``, ``least_loaded`` and ``nearest`` are the solver's
baselines (``solver.policies``), i.e. what ticket platforms do today.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from solver.model import Problem, Solution, SolveParams

POLICY_NAMES = ("optimizer", "round_robin", "least_loaded", "nearest")


class Policy(Protocol):
    """What the simulator calls at each solve."""

    def solve(self, problem: Problem, previous: Solution | None) -> Solution: ...


class _Optimizer:
    def __init__(self, params: SolveParams) -> None:
        import solver
        from solver.solve import solve as _solve  # until solver/__init__ re-exports it

        self._solve = solver.solve if callable(solver.solve) else _solve
        self.params = params

    def solve(self, problem: Problem, previous: Solution | None) -> Solution:
        return self._solve(problem, self.params, previous)


def make_policy(name: str, params: SolveParams) -> Policy:
    """Build the named policy.

    Parameters
    ----------
    name
        One of :data:`POLICY_NAMES` (or any other name ``solver.policies.make_policy``
        knows).
    params
        Solver settings; the baselines use what applies to them (e.g. shift/overtime rules).

    Raises
    ------
    ValueError
        Unknown policy name.
    """
    import importlib

    try:
        solver_policies: Any = importlib.import_module("solver.policies")
    except ImportError:
        solver_policies = None
    if solver_policies is not None and hasattr(solver_policies, "make_policy"):
        policy: Policy = solver_policies.make_policy(name, params)
        return policy
    if name == "optimizer":
        return _Optimizer(params)
    raise ValueError(
        f"unknown policy {name!r} (known: {', '.join(POLICY_NAMES)}); solver.policies is not available"
    )
