"""The incumbent plan: the queues a problem already carries, as a decision.

A solve's new plan is chosen in the first-in-queue flow model and then changed by the
shift repair, the position rounds and polish; as driven it can cost more than simply
keeping the queues the technicians already hold (the caller's committed plan). So
:func:`solver.core.run_core` also builds the incumbent plan from :func:`held_decision`,
makes it shift-feasible with the same shift repair as the new plan, and returns it when
it is cheaper as driven.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solver.cost import evaluate_pairs
from solver.model import NO_TECHNICIAN

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.cost import LatePricing, TechState
    from solver.model import CostWeights, Problem

    IntArray = npt.NDArray[np.int64]


def held_decision(
    problem: Problem, weights: CostWeights, state: TechState, late: LatePricing
) -> IntArray:
    """Each held (assigned, unpinned) ticket on its current technician, when that
    technician may still take it; every other row NO_TECHNICIAN.

    A held ticket is kept when the pair's own rules hold (skills, exclusion; the shift
    is left to the shift repair, which sequences the whole queue) and its technician has
    places (available, capacity after the pinned work). A technician holding more tickets
    than it has places keeps the cheapest ones (first-in-queue placement cost, then row).
    """
    t = problem.tickets
    tech_of = np.full(t.count, NO_TECHNICIAN, np.int64)
    held = np.flatnonzero((t.current_technician >= 0) & ~t.pinned)
    if held.size == 0:
        return tech_of
    cur = t.current_technician[held]
    ev, _ = evaluate_pairs(problem, weights, state, held, cur, True, late=late)
    ok = ev.placeable
    held, cur, total = held[ok], cur[ok], ev.total[ok]
    order = np.lexsort((held, total, cur))
    held, cur = held[order], cur[order]
    rank = np.arange(held.size) - np.searchsorted(cur, cur, side="left")
    keep = rank < state.free_slots[cur]
    tech_of[held[keep]] = cur[keep]
    return tech_of
