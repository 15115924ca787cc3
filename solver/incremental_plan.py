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
    cost: int  # scaled cost of ``plan`` in the flow model
    arcs: int  # the flow's live arcs (the plan's candidates)


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
    has it.

    Each part reads only the flow's arcs it needs (the same arcs, in the same order, as
    in :func:`flow_core`): the refill those of the queues that changed, the pricing
    (:func:`solver.core.model_cost`) those of the plan's pairs."""
    n, m = problem.tickets.count, problem.technicians.count
    late = late_pricing(problem, params.weights) if late is None else late
    prev = np.full(n, NO_TECHNICIAN, np.int64)
    prev[: previous.size] = previous
    flow_tech = flow.tech_of[moved]
    plan = prev.copy()
    plan[moved] = np.where(flow_tech >= 0, flow_tech, NO_TECHNICIAN)
    queues = _core(problem, params, state, flow, np.zeros(0, np.int64), late)  # no arcs
    # Each pass reverts moves to the previous plan (whose queues fit), so it ends; a
    # move reverted for a shift can fill its old queue past its places again.
    for _ in range(moved.size + 1):
        plan = revert_overfull(state, prev, plan, moved)
        fitted = revert_overruns(queues, prev, plan.copy(), moved)
        if np.array_equal(fitted, plan):
            break
        plan = fitted
    scope = changed_techs(prev, plan, m)
    # the refill offers only these technicians' arcs (none: no queue changed)
    into = (
        np.flatnonzero(flow.alive & scope.take(flow.arc_tech))
        if scope.any()
        else np.zeros(0, np.int64)
    )
    core = _core(problem, params, state, flow, _by_ticket(flow, into), late)
    if into.size:  # (no arc to offer: the refill keeps the plan)
        plan = refill(core, plan, scope)
    plan = bound_churn(core, plan)  # the churn rule at the plan's places, as cold
    priced = _core(problem, params, state, flow, _plan_arcs(flow, plan), late)
    return PlanStep(plan, model_cost(priced, plan), int(np.count_nonzero(flow.alive)))


def flow_core(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    flow: ResidualFlow,
    late: LatePricing | None = None,
) -> Core:
    """The flow's live arcs as a working set, ticket by ticket (each ticket's in index
    order): the candidates of the plan step."""
    late = late_pricing(problem, params.weights) if late is None else late
    live = _by_ticket(flow, np.flatnonzero(flow.alive))
    return _core(problem, params, state, flow, live, late)


def _by_ticket(flow: ResidualFlow, arcs: IntArray) -> IntArray:
    """``arcs`` ticket by ticket, each ticket's in index order (``arcs`` ascending)."""
    return arcs[np.argsort(flow.arc_tix[arcs], kind="stable")]


def _plan_arcs(flow: ResidualFlow, plan: IntArray) -> IntArray:
    """The live arcs of ``plan``'s pairs, ticket by ticket (each ticket's in index
    order): the flow's own arc where the plan keeps the flow's technician, else found
    among the ticket's arcs. Ordered by one sort of (ticket, arc) keys (none when each
    ticket has one such arc: ticket order)."""
    on = np.flatnonzero(plan >= 0)
    own = flow.arc_of.take(on)
    kept = (flow.tech_of.take(on) == plan.take(on)) & (own >= 0)
    kept[kept] = flow.alive[own[kept]]
    other = on[~kept]
    if other.size == 0:  # one arc per ticket, the tickets ascending
        return own
    found = np.concatenate([flow.arcs_of[t] for t in other.tolist()])
    found = found[flow.alive[found]]
    found = found[flow.arc_tech[found] == plan[flow.arc_tix[found]]]
    if np.array_equal(flow.arc_tix[found], other):  # one arc each: in their places
        own[~kept] = found
        return own
    arcs = np.concatenate([own[kept], found])
    size = max(flow.arc_tix.size, 1)
    key = np.concatenate([on[kept], flow.arc_tix[found]]) * size + arcs
    key.sort()
    return np.asarray(key % size, np.int64)


def _core(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    flow: ResidualFlow,
    arcs: IntArray,
    late: LatePricing,
) -> Core:
    """A working set of the flow's ``arcs`` (the shift repair's candidates: costs are
    the scaled ones)."""
    cands = Candidates(
        flow.arc_tix[arcs],
        flow.arc_tech[arcs],
        np.zeros(arcs.size),
        np.zeros(problem.tickets.count, np.bool_),
    )
    return Core(
        problem, params, state, cands, flow.arc_cost[arcs], flow.penalty,
        np.ones(arcs.size, np.bool_), state.free_slots.copy(), late,
    )  # fmt: skip


def revert_overfull(
    state: TechState, prev: IntArray, plan: IntArray, moved: IntArray
) -> IntArray:
    """``plan`` with the moves into a queue it fills past its places reverted to
    ``prev`` (the flow's queue held other tickets), until every queue fits."""
    m = state.free_slots.size
    for _ in range(moved.size + 1):
        count = np.bincount(plan.compress(plan >= 0), minlength=m)
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
        changed = changed_techs(prev, plan, m)
        if not changed.any():  # every queue as in ``prev``
            break
        bad = overrunning(core, plan, changed)
        if not bad.any():
            break
        hit = moved[bad[np.maximum(plan[moved], 0)] & (plan[moved] >= 0)]
        left = moved[bad[np.maximum(prev[moved], 0)] & (prev[moved] >= 0)]
        back = np.union1d(hit, left)
        plan[back] = prev[back]
    return plan
