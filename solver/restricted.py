"""``solve_keeping``: re-plan part of a region, keeping the rest of its committed plan.

The live loop's incremental cycle (``dispatcher.loop.region_solver``): most assigned
tickets of a region are where the last solve put them and nothing about them changed, so
only the new, changed and unassigned tickets (and the queues they held) need a solve. The
kept rows are held on their current technician for the solve (as pinned rows are: their
queue comes first, its places are taken), the other movable rows go through the cold
pipeline (:func:`solver.solve.cold_core`, :func:`solver.core.run_core`: candidates,
certified flow, shift repair, position rounds; no polish: limited to the re-planned rows it
cost a third of the cycle's CPU and changed the plans' cost by less than 0.02% on
``./dev bench loop_cycles``) over the places left, and the
plan (kept rows on their technician, the rest as solved) is finalized on the *whole*
problem: every queue sequenced together, predicted times, terms and reasons at the
problem's clock, exactly as :func:`solver.solve` would report that plan.

What is exact and what is not:

- every hard rule holds as in a cold solve: skills, exclusions, capacity (kept rows take
  their places first), shifts (the sub-solve keeps its rows within the shift after the
  kept queue, and the whole plan's queues sequenced together are checked again: an
  overrun returns None, the caller solves cold), pinned rows never move, and a kept row
  does not move at all (the churn rule holds trivially for it); a re-planned assigned row
  moved by the sub-solve is checked against the churn rule as the whole problem prices it
  at the places of the whole plan (:func:`solver.position.moves_below`; the sub-solve
  priced it after the kept queues, from another place), and a move below its gain returns
  None too;
- the predicted times and the objective are the returned plan's at the problem's clock;
- the choice of technician of a kept row is the one an earlier solve made at an earlier
  clock: a cold solve now might move it (only when that pays the stability cost and the
  move threshold). So the plan is not proven optimal: the status is FEASIBLE (never
  OPTIMAL), with no bound (``stats.model_bound`` None).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np

from solver.core import run_core
from solver.finalize import finalize
from solver.model import Problem, SolveParams, SolveStatus, UnassignedReason
from solver.position import moves_below
from solver.solve import cold_core, tech_state

if TYPE_CHECKING:
    from solver.cost import TechState
    from solver.model import BoolArray, IntArray, Solution

KEPT_STATUSES = (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
"""Sub-solve outcomes a plan is built from (anything else: the caller solves cold)."""

CONTESTED = (
    UnassignedReason.CAPACITY,
    UnassignedReason.SHIFT,
    UnassignedReason.PENALTY_CHEAPER,
)
"""Reasons of an unassigned ticket that a kept ticket's place could have changed: a plan
leaving one is not used (a cold solve may give that place to it, e.g. a P1 ticket arriving
when every queue is full bumps a P4 one back to the queue). Under saturation every cycle
is then cold: keeping queues there made the plan cost up to 2.7x a cold solve's
(``./dev bench loop_cycles --per-cycle 150 --hold-cycles 10``)."""


def solve_keeping(
    problem: Problem, params: SolveParams, keep: BoolArray
) -> Solution | None:
    """Solve ``problem`` with the ``keep`` rows held on their current technician.

    Parameters
    ----------
    problem
        The region now.
    params
        Solver parameters.
    keep
        (n,) rows to keep where they are: only unpinned rows with a current technician
        count (others are ignored).

    Returns
    -------
    Solution or None
        The plan, FEASIBLE (module doc); None when the sub-solve gave no usable plan
        (time limit, clipped costs), moved an assigned ticket for less than the churn
        rule's gain, the whole plan's queues, sequenced together, overrun a shift, or it
        leaves a ticket unassigned for a reason a kept place could change (``CONTESTED``):
        then solve cold.

    Raises
    ------
    ValueError
        If the arguments are not a problem, parameters and an (n,) boolean mask.
    """
    if not isinstance(problem, Problem) or not isinstance(params, SolveParams):
        raise ValueError("solve_keeping: expected (Problem, SolveParams, keep)")
    t = problem.tickets
    keep = np.asarray(keep)
    if keep.dtype != np.bool_ or keep.shape != (t.count,):
        raise ValueError(f"keep: expected a ({t.count},) boolean mask")
    t0 = time.perf_counter()
    keep = keep & ~t.pinned & (t.current_technician >= 0)
    held = dataclasses.replace(t, pinned=t.pinned | keep)
    sub = dataclasses.replace(problem, tickets=held)
    # no polish: it could only move the re-planned rows here, and it did not pay for
    # itself (module doc); the periodic cold solve polishes the whole region
    core, t1 = cold_core(sub, dataclasses.replace(params, polish=False), t0)
    tech_of, status = run_core(core)
    if status not in KEPT_STATUSES:
        return None
    plan = tech_of.copy()
    plan[keep] = t.current_technician[keep]
    state = tech_state(problem, params.weights)
    if _below_churn_gain(problem, params, state, plan):
        return None
    t2 = time.perf_counter()
    phases = {"candidates": t1 - t0, "assignment": t2 - t1}
    sol = finalize(
        problem, params, state, core.cands, plan, SolveStatus.FEASIBLE, phases, t0,
    )  # fmt: skip
    if not params.allow_overtime and _overruns(problem, sol):
        return None
    if np.isin(sol.reason[~problem.tickets.pinned], CONTESTED).any():
        return None
    return sol


def _below_churn_gain(
    problem: Problem, params: SolveParams, state: TechState, plan: IntArray
) -> bool:
    """Whether ``plan`` moves an assigned ticket for less than the churn rule's gain, as
    the whole problem prices it at the places of the whole plan
    (:func:`solver.position.moves_below`; the sub-solve priced its moves against
    technicians whose kept queue came first: from another place, at another time)."""
    w = params.weights
    return moves_below(problem, w, state, plan, params.allow_overtime).size > 0


def _overruns(problem: Problem, sol: Solution) -> bool:
    """Whether a movable row of ``sol`` finishes after its technician's shift, in its
    queue as finalize sequenced it (a kept queue too: the clock moved since it was
    planned)."""
    rows = np.flatnonzero((sol.technician >= 0) & ~problem.tickets.pinned)
    shift_end = problem.technicians.shift_end_s[sol.technician[rows]]
    return bool(np.any(sol.finish_s[rows] > shift_end))
