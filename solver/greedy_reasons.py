"""Unassigned reasons of the greedy baselines: judged against the places they left open.

A baseline appends each ticket at the tail of a queue, so "an eligible technician has a
free place" does not mean it could have taken the ticket: its arcs (``Candidates``) are
the (ticket, technician) pairs it found capacity-bound. The optimizer's reasons, judged
against every technician, are :func:`solver.reasons.judge`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solver.candidates import skill_holders
from solver.model import Problem, UnassignedReason

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.candidates import Candidates
    from solver.cost import TechState

    IntArray = npt.NDArray[np.int64]
    BoolArray = npt.NDArray[np.bool_]


def greedy_reasons(
    problem: Problem,
    state: TechState,
    cands: Candidates,
    tech_of: IntArray,
    alive: BoolArray | None = None,
    free: IntArray | None = None,
) -> IntArray:
    """The binding reason (``UnassignedReason``) of every ticket row; ASSIGNED when assigned.

    Order of tests: no available technician; no available technician with the skills;
    all skilled ones excluded; all of those without a free place (CAPACITY); no feasible
    placement (SHIFT); every candidate technician full after the solve (CAPACITY);
    otherwise the penalty was cheaper (PENALTY_CHEAPER). ``alive`` / ``free``: arcs
    still usable and places per technician (default: all arcs, ``state.free_slots``).
    """
    t, k = problem.tickets, problem.technicians
    n, m = t.count, k.count
    reason = np.full(n, int(UnassignedReason.ASSIGNED), np.int64)
    un = np.flatnonzero(tech_of < 0)
    if un.size == 0:
        return reason
    avail = np.flatnonzero(k.available)
    if avail.size == 0:
        reason[un] = UnassignedReason.NO_TECHNICIANS
        return reason
    inv, skilled = skill_holders(problem, un)
    n_skill = skilled.sum(axis=1)[inv]
    n_slot = (skilled & (state.free_slots > 0)[None, :]).sum(axis=1)[inv]
    ex = t.excluded
    ex_pos = np.searchsorted(un, ex[:, 0])
    ex_pos = np.minimum(ex_pos, max(un.size - 1, 0))
    hit = (un[ex_pos] == ex[:, 0]) if ex.shape[0] else np.zeros(0, np.bool_)
    ex_u, ex_tech = ex_pos[hit], ex[hit, 1]
    ex_pairs = np.unique(ex_u * max(m, 1) + ex_tech)
    ex_u, ex_tech = ex_pairs // max(m, 1), ex_pairs % max(m, 1)
    is_sk = skilled[inv[ex_u], ex_tech]
    n_ex_skill = np.bincount(ex_u[is_sk], minlength=un.size)
    n_ex_slot = np.bincount(
        ex_u[is_sk & (state.free_slots[ex_tech] > 0)], minlength=un.size
    )
    free = state.free_slots if free is None else free
    full = (
        np.bincount(tech_of[(tech_of >= 0) & ~problem.tickets.pinned], minlength=m)
        >= free
    )
    arc_tix = cands.tix if alive is None else cands.tix[alive]
    arc_tech = cands.tech if alive is None else cands.tech[alive]
    open_arc = np.zeros(n, np.bool_)
    open_arc[arc_tix[~full[arc_tech]]] = True
    has_arc = np.zeros(n, np.bool_)
    has_arc[arc_tix] = True
    r = np.full(un.size, int(UnassignedReason.PENALTY_CHEAPER), np.int64)
    feas = cands.any_feasible[un]
    r[feas & has_arc[un] & ~open_arc[un]] = UnassignedReason.CAPACITY
    r[~feas] = UnassignedReason.SHIFT
    r[~feas & (n_slot - n_ex_slot <= 0)] = UnassignedReason.CAPACITY
    r[n_skill - n_ex_skill <= 0] = UnassignedReason.EXCLUDED
    r[n_skill == 0] = UnassignedReason.NO_SKILL
    reason[un] = r
    return reason
