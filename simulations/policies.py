"""The policy under test: a thin adapter over ``solver.policies`` (no cost logic here).

``make_policy(name, params)`` returns an object with ``.solve(problem, previous) ->
Solution``: ``optimizer`` is the real ``solver.solve`` with the scenario's (or a policy
file's) ``SolveParams``; ``optimizer_incremental`` the solver's incremental variant;
``round_robin``, ``least_loaded`` and ``nearest`` are the solver's FIFO baselines, i.e. what
ticket platforms do today; ``priority_edd`` and ``regret`` the strong ones (a good human
dispatcher, regret-2 insertion); ``vroom`` and ``vroom_keep`` the peer routing engine VROOM
(``simulations.vroom_policy``, needs pyvroom from the ``dev`` extra). Policy objects may
keep state between calls (one per run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from simulations.vroom_policy import VROOM_POLICIES
from solver.policies import POLICY_NAMES as SOLVER_POLICY_NAMES

if TYPE_CHECKING:
    from solver.model import Problem, Solution, SolveParams

__all__ = ["POLICY_NAMES", "Policy", "make_policy"]

POLICY_NAMES = SOLVER_POLICY_NAMES + VROOM_POLICIES
"""Every policy the simulator runs: the solver's and the VROOM peers."""


class Policy(Protocol):
    """What the simulator calls at each solve."""

    def solve(self, problem: Problem, previous: Solution | None) -> Solution: ...


def make_policy(name: str, params: SolveParams) -> Policy:
    """Build the named policy (one of ``POLICY_NAMES``) with ``params``.

    Raises
    ------
    ValueError
        Unknown policy name.
    simulations.vroom_policy.VroomUnavailableError
        A VROOM policy without pyvroom installed.
    """
    from solver.policies import make_policy as solver_make_policy

    if name in VROOM_POLICIES:
        from simulations.vroom_policy import VroomPolicy

        return VroomPolicy(name, params)

    return solver_make_policy(name, params)
