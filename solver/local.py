"""Neighbourhood re-optimisation: re-solve exactly a sub-network around some tickets.

Used by the shift repair and by incremental re-solves. The technicians reachable from the
seed tickets (``hops`` levels through the tickets they hold) and every ticket that holds,
or could take, one of their places are re-assigned exactly; everything else stays fixed.
The result is never worse than the current decision restricted to the neighbourhood.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from solver.flow import assign_slots
from solver.model import NO_TECHNICIAN, SolveStatus

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def places(
    free: IntArray, load: IntArray, balance_scaled: float
) -> tuple[IntArray, IntArray]:
    """Queue places as flow arcs: the technician of each free place and its scaled cost.

    The s-th place of a technician (counted after its ``load`` pinned tickets) costs
    ``balance_scaled x s`` (the balance weight already multiplied by ``COST_SCALE``).
    """
    slot_tech = np.repeat(np.arange(free.size, dtype=np.int64), free)
    first = np.cumsum(free) - free
    place = np.arange(slot_tech.size) - np.repeat(first, free) + load[slot_tech]
    return slot_tech, place_costs(place, balance_scaled)


def place_costs(place: IntArray, balance_scaled: float) -> IntArray:
    """The scaled cost of each queue place ``place`` (0: a technician's first, its pinned
    tickets counted): ``balance_scaled x place``, rounded."""
    cost: IntArray = np.rint(balance_scaled * place).astype(np.int64)
    return cost


def places_total(used: IntArray, load: IntArray, balance_scaled: float) -> int:
    """The summed scaled cost of each technician's first ``used`` free places, as
    :func:`places` prices them: from a table of the costs of places 0, 1, ... summed
    (exact integers; no array of every place)."""
    top = load + used
    cost = place_costs(np.arange(int(top.max(initial=0)) + 1), balance_scaled)
    below = np.cumsum(cost) - cost  # below[j]: places 0 .. j - 1
    return int((below.take(top) - below.take(load)).sum())


def local_resolve(
    arc_tix: IntArray,
    arc_tech: IntArray,
    arc_cost: IntArray,
    penalty: IntArray,
    free: IntArray,
    load: IntArray,
    balance_scaled: float,
    tech_of: IntArray,
    seeds: IntArray,
    hops: int = 2,
    seed_arcs: int | None = None,
    live: BoolArray | None = None,
) -> tuple[IntArray, SolveStatus, int]:
    """Re-assign the neighbourhood of ``seeds`` exactly, the rest fixed.

    Parameters
    ----------
    arc_tix, arc_tech, arc_cost
        Candidate arcs (ticket row, technician row, scaled cost); only usable arcs, or
        those ``live`` marks.
    penalty
        Scaled unassigned penalty per ticket row.
    free, load
        Per technician: free places for movable tickets, pinned tickets held.
    balance_scaled
        Scaled cost per queue place index.
    tech_of
        Current technician per ticket row (NO_TECHNICIAN when unassigned).
    seeds
        Ticket rows to (re)place, e.g. new tickets.
    hops
        Neighbourhood depth through the tickets held by reached technicians.
    seed_arcs
        When set, only each seed's this many cheapest arcs reach technicians (a smaller,
        faster neighbourhood for many seeds).
    live
        Per arc, whether it is usable (default all): the same as passing only those
        arcs, without copying them.

    Returns
    -------
    tuple
        (new technician per ticket row, status, number of tickets re-optimised).
    """
    m = free.size
    live = np.ones(arc_tix.size, np.bool_) if live is None else live
    in_seed = np.zeros(tech_of.size, np.bool_)
    in_seed[seeds] = True
    reach = np.zeros(m, np.bool_)
    from_seed = np.flatnonzero(in_seed[arc_tix] & live)
    if seed_arcs is not None and from_seed.size:
        order = from_seed[np.lexsort((arc_cost[from_seed], arc_tix[from_seed]))]
        first = np.r_[0, np.flatnonzero(np.diff(arc_tix[order])) + 1]
        rank = np.arange(order.size) - np.repeat(
            first, np.diff(np.r_[first, order.size])
        )
        from_seed = order[rank < seed_arcs]
    reach[arc_tech[from_seed]] = True
    for _ in range(hops - 1):
        held = (tech_of >= 0) & reach[np.maximum(tech_of, 0)]
        reach[arc_tech[held[arc_tix] & live]] = True
    held = (tech_of >= 0) & reach[np.maximum(tech_of, 0)]
    # Unassigned tickets join only where a place is still open. Elsewhere they could only
    # swap with a holder, which the previous optimum already found not worth it (an
    # approximation once capacities or arcs changed: this is why the result is local).
    used = np.bincount(tech_of[tech_of >= 0], minlength=m)
    spare = reach & (used < free)
    into = np.zeros(tech_of.size, np.bool_)
    into[arc_tix[spare[arc_tech] & (tech_of < 0)[arc_tix] & live]] = True
    member = in_seed | held | into
    rows = np.flatnonzero(member)
    sub = member[arc_tix] & reach[arc_tech] & live
    local = np.searchsorted(rows, arc_tix[sub])
    sub_free = np.where(reach, free, 0)
    slot_tech, slot_cost = places(sub_free, load, balance_scaled)
    res = assign_slots(
        rows.size,
        local,
        arc_tech[sub],
        arc_cost[sub],
        penalty[rows],
        slot_tech,
        slot_cost,
    )
    out = tech_of.copy()
    if res.status is not SolveStatus.OPTIMAL:
        return out, res.status, int(rows.size)
    out[rows] = NO_TECHNICIAN
    out[rows[local[res.arc_used]]] = arc_tech[sub][res.arc_used]
    return out, res.status, int(rows.size)
