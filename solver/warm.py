"""Warm re-solves of the assignment flow: start from the arcs an earlier optimum priced low.

A solve repeats the flow (:func:`solver.flow.assign_slots`) over nearly the same network:
the certification adds a few arcs, the position rounds re-price them, a polish round
re-solves with repaired capacities. The earlier optimum's node potentials
(:func:`solver.certify.potentials`) say which arcs can matter: an arc whose reduced cost
against them is large stays unused unless the changes reach far.

:func:`warm_assign` solves the flow first over the arcs whose reduced cost against the
hint potentials is at most ``WARM_SLACK``, and only over the tickets those arcs touch
(the others stay unassigned, at their penalties). The sub-solution's own potentials then
price every left-out arc; an arc with a negative reduced cost joins and the sub-network
is solved again (``WARM_ROUNDS`` at most, then the whole network). When none is negative,
the sub-solution's potentials are feasible for the whole network and complementary to
its flow, so it is optimal there too: the result is an optimum of the whole network,
exactly as :func:`solver.flow.assign_slots` would return one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solver.certify import potentials
from solver.flow import FlowResult, assign_slots
from solver.local import places
from solver.model import SolveStatus
from solver.ordering import distinct

if TYPE_CHECKING:
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]
    Potentials = tuple[FloatArray, FloatArray]

WARM_SLACK = 3000
"""Arcs with at most this reduced cost against the hint potentials start in the
sub-network (30 weight units: 30 seconds of travel at the default weights). A small
sub-network takes a few rounds to take in the arcs the changes reach, and each round is
cheap: OR-Tools' cost grows faster than the network (50k x 5k, a position round's
re-solve after its pricing added 2,126 arcs: 5 rounds of ~22k arcs, 0.49 s, where at
2,000 units 3 rounds of ~240k arcs took 0.94 s and the whole network cold 0.75 s)."""

WARM_ROUNDS = 10
"""Most sub-network solves before the whole network is solved instead."""


def warm_assign(
    n_tickets: int,
    arc_tix: IntArray,
    arc_tech: IntArray,
    arc_cost: IntArray,
    penalty: IntArray,
    free: IntArray,
    load: IntArray,
    balance_scaled: float,
    hint: Potentials,
) -> tuple[FlowResult, Potentials | None]:
    """The flow of :func:`solver.flow.assign_slots` (places from ``free`` and ``load``,
    :func:`solver.local.places`), solved warm from ``hint``: (ticket, technician)
    potentials of an earlier optimum of a similar network. Any hint gives an optimum;
    a good one gives it faster (module doc).

    Returns
    -------
    tuple
        The :class:`solver.flow.FlowResult` (arcs used, aligned with ``arc_tix``; status;
        optimal cost), and the potentials :func:`solver.certify.potentials` gives for it
        over the whole network when the sub-network proved it (None when the whole network
        was solved). They are equal: the sub-network's potentials are feasible for the
        whole network, so at most its largest ones, which are at most the sub-network's.
    """
    m = free.size
    slot_tech, slot_cost = places(free, load, balance_scaled)
    hint_ticket, hint_tech = hint
    reduced = arc_cost + hint_tech[arc_tech] - hint_ticket[arc_tix]
    keep = reduced <= WARM_SLACK
    pen = penalty.astype(np.float64)
    for _ in range(WARM_ROUNDS):
        sub = np.flatnonzero(keep)
        rows = distinct(arc_tix[sub], n_tickets)
        local = np.searchsorted(rows, arc_tix[sub])
        res = assign_slots(
            rows.size, local, arc_tech[sub], arc_cost[sub], penalty[rows],
            slot_tech, slot_cost, m,
        )  # fmt: skip
        if res.status is not SolveStatus.OPTIMAL:
            break
        pot = potentials(
            rows.size, local, arc_tech[sub], arc_cost[sub], res.arc_used,
            penalty[rows], free, load, balance_scaled,
        )  # fmt: skip
        if pot is None:
            break
        p_ticket = pen.copy()  # a ticket outside the sub-network is unassigned
        p_ticket[rows] = pot[0]
        reduced = arc_cost + pot[1][arc_tech] - p_ticket[arc_tix]
        if not np.any(~keep & (reduced < 0)):
            used = np.zeros(arc_tix.size, np.bool_)
            used[sub[res.arc_used]] = True
            outside = int(penalty.sum()) - int(penalty[rows].sum())
            return FlowResult(used, res.status, res.cost + outside), (p_ticket, pot[1])
        keep |= reduced <= WARM_SLACK
    whole = assign_slots(
        n_tickets, arc_tix, arc_tech, arc_cost, penalty, slot_tech, slot_cost, m
    )
    return whole, None
