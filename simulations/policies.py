"""The policy under test: a thin adapter over ``solver.policies`` (no cost logic here).

``make_policy(name, params)`` returns an object with ``.solve(problem, previous) ->
Solution``: ``optimizer`` is the real ``solver.solve`` with the scenario's (or a policy
file's) ``SolveParams``; ``optimizer_incremental`` the solver's incremental variant;
``round_robin``, ``least_loaded`` and ``nearest`` are the solver's FIFO baselines, i.e. what
ticket platforms do today; ``priority_edd`` and ``regret`` the strong ones (a good human
dispatcher, regret-2 insertion). Policy objects may keep state between calls (one per run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from solver.policies import POLICY_NAMES

if TYPE_CHECKING:
    from solver.model import Problem, Solution, SolveParams

__all__ = ["POLICY_NAMES", "Policy", "make_policy"]


class Policy(Protocol):
    """What the simulator calls at each solve."""

    def solve(self, problem: Problem, previous: Solution | None) -> Solution: ...


def make_policy(name: str, params: SolveParams) -> Policy:
    """Build the named policy (one of ``POLICY_NAMES``) with ``params``.

    Raises
    ------
    ValueError
        Unknown policy name.
    """
    from solver.policies import make_policy as solver_make_policy

    return solver_make_policy(name, params)
