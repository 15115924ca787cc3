"""``solve_keeping``: re-plan part of a region, keeping the rest of its committed plan.

The live loop's incremental cycle (``dispatcher.loop.region_solver``): most assigned
tickets of a region are where the last solve put them and nothing about them changed, so
only the new, changed and unassigned tickets (and the queues they held) need a solve. The
kept rows are held on their current technician for the solve (as pinned rows are: their
queue comes first, its places are taken), the other movable rows go through the whole
cold pipeline (:func:`solver.solve.cold_core`, :func:`solver.core.run_core`: candidates,
certified flow, shift repair, position rounds, polish) over the places left, and the
plan (kept rows on their technician, the rest as solved) is finalized on the *whole*
problem: every queue sequenced together, predicted times, terms and reasons at the
problem's clock, exactly as :func:`solver.solve` would report that plan.

What is exact and what is not:

- every hard rule holds as in a cold solve: skills, exclusions, capacity (kept rows take
  their places first), shifts (the sub-solve keeps its rows within the shift after the
  kept queue, and the whole plan's queues sequenced together are checked again: an
  overrun returns None, the caller solves cold), pinned rows never move, and a kept row
  does not move at all (the churn rule holds trivially for it; a re-planned assigned row
  is priced against its incumbent by the same rule as in a cold solve);
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
from solver.cost import late_pricing
from solver.finalize import finalize
from solver.model import Problem, SolveParams, SolveStatus
from solver.sequence import sequence_queues
from solver.solve import cold_core, tech_state

if TYPE_CHECKING:
    from solver.cost import TechState
    from solver.model import BoolArray, IntArray, Solution

KEPT_STATUSES = (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
"""Sub-solve outcomes a plan is built from (anything else: the caller solves cold)."""


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
        The plan, FEASIBLE (module doc); None when the sub-solve did not give a usable plan (time limit,
        clipped costs) or the whole plan's queues, sequenced together, overrun a shift:
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
    core, t1 = cold_core(sub, params, t0)
    tech_of, status, dropped = run_core(core)
    if status not in KEPT_STATUSES:
        return None
    plan = tech_of.copy()
    plan[keep] = t.current_technician[keep]
    state = tech_state(problem, params.weights)
    if not params.allow_overtime and _overruns(problem, params, state, plan):
        return None
    t2 = time.perf_counter()
    phases = {"candidates": t1 - t0, "assignment": t2 - t1}
    return finalize(
        problem, params, state, core.cands, plan, SolveStatus.FEASIBLE, dropped,
        phases, t0,
    )  # fmt: skip


def _overruns(
    problem: Problem, params: SolveParams, state: TechState, plan: IntArray
) -> bool:
    """Whether some queue of ``plan`` (movable rows), sequenced as finalize sequences it,
    ends after its technician's shift (a kept queue too: the clock moved since it was
    planned)."""
    rows = np.flatnonzero((plan >= 0) & ~problem.tickets.pinned)
    if rows.size == 0:
        return False
    sch = sequence_queues(
        problem, late_pricing(problem, params.weights), rows, plan[rows],
        state.lat_deg, state.lon_deg, state.ready_s, False,
    )  # fmt: skip
    return bool(np.any(sch.overrun))
