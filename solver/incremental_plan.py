"""The plan step of an incremental re-solve: the previous plan changed where the flow moved.

:class:`solver.incremental.IncrementalSolver` keeps a certified flow
(:class:`solver.residual.ResidualFlow`) and the plan it last returned. After the flow took
new tickets, :func:`plan_step` puts the new tickets and those their shortest paths moved
where the flow put them, unless that fills a queue past its places or overruns a shift,
then refills the queues that changed (:func:`solver.core.refill`).
:func:`solver.core.model_cost` prices the plan in the flow model, to compare it with the
flow's certified optimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.candidates import Candidates
from solver.core import (
    Core,
    bound_churn,
    changed_techs,
    model_cost,
    overrunning,
    refill,
)
from solver.cost import late_pricing
from solver.model import NO_TECHNICIAN

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.cost import LatePricing, TechState
    from solver.model import Problem, SolveParams
    from solver.residual import ResidualFlow

    IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PlanStep:
    """The plan of one incremental call."""

    plan: IntArray  # technician per movable row, else NO_TECHNICIAN
    core: Core  # the flow's live arcs as a working set (the plan's candidates)
    cost: int  # scaled cost of ``plan`` in the flow model


def plan_step(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    flow: ResidualFlow,
    previous: IntArray,
    moved: IntArray,
    late: LatePricing | None = None,
) -> PlanStep:
    """The ``previous`` plan (its first rows; later rows unassigned) with the ``moved``
    tickets where ``flow`` put them, unless that fills a queue past its places or its
    shift (reverted: an exact local re-solve there, first-in-queue priced like the shift
    repair's, made the driven cost 20-40% worse); then the refill on the queues that
    changed. ``late``: the problem's :func:`solver.cost.late_pricing` when the caller
    has it."""
    n, m = problem.tickets.count, problem.technicians.count
    prev = np.full(n, NO_TECHNICIAN, np.int64)
    prev[: previous.size] = previous
    flow_tech = np.where(flow.tech_of >= 0, flow.tech_of, NO_TECHNICIAN)
    plan = prev.copy()
    plan[moved] = flow_tech[moved]
    live = flow.live_arcs()
    cands = Candidates(  # the shift repair's candidates: costs are the scaled ones
        flow.arc_tix[live],
        flow.arc_tech[live],
        np.zeros(live.size),
        np.zeros(n, np.bool_),
    )
    core = Core(
        problem, params, state, cands, flow.arc_cost[live], flow.penalty,
        np.ones(live.size, np.bool_), state.free_slots.copy(),
        late_pricing(problem, params.weights) if late is None else late,
    )  # fmt: skip
    # Each pass reverts moves to the previous plan (whose queues fit), so it ends; a
    # move reverted for a shift can fill its old queue past its places again.
    for _ in range(moved.size + 1):
        plan = revert_overfull(state, prev, plan, moved)
        fitted = revert_overruns(core, prev, plan.copy(), moved)
        if np.array_equal(fitted, plan):
            break
        plan = fitted
    plan = refill(core, plan, changed_techs(prev, plan, m))
    plan = bound_churn(core, plan)  # the churn rule at the plan's places, as cold
    return PlanStep(plan, core, model_cost(core, plan))


def revert_overfull(
    state: TechState, prev: IntArray, plan: IntArray, moved: IntArray
) -> IntArray:
    """``plan`` with the moves into a queue it fills past its places reverted to
    ``prev`` (the flow's queue held other tickets), until every queue fits."""
    m = state.free_slots.size
    for _ in range(moved.size + 1):
        count = np.bincount(plan[plan >= 0], minlength=m)
        over = count > state.free_slots
        if not over.any():
            break
        into = plan[moved]
        bad = moved[(into >= 0) & over[np.maximum(into, 0)] & (into != prev[moved])]
        plan[bad] = prev[bad]
    return plan


def revert_overruns(
    core: Core, prev: IntArray, plan: IntArray, moved: IntArray
) -> IntArray:
    """``plan`` with the moves into or out of a queue that now overruns its shift
    reverted to ``prev`` (whose queues fit), until every changed queue fits. (The
    shift repair's exact local re-solve, first-in-queue priced, made the driven cost
    ~20% worse at 10k x 1k in one call.)"""
    m = core.problem.technicians.count
    if core.params.allow_overtime:
        return plan
    for _ in range(moved.size + 1):
        bad = overrunning(core, plan, changed_techs(prev, plan, m))
        if not bad.any():
            break
        hit = moved[bad[np.maximum(plan[moved], 0)] & (plan[moved] >= 0)]
        left = moved[bad[np.maximum(prev[moved], 0)] & (prev[moved] >= 0)]
        back = np.union1d(hit, left)
        plan[back] = prev[back]
    return plan
