"""The exact core: capacitated min-cost assignment over queue places (OR-Tools min-cost flow).

Network: one node per ticket (supply 1), one per technician, one sink (demand = tickets).
Arcs: ticket -> technician (capacity 1, the placement cost), ticket -> sink (capacity 1,
the unassigned penalty), technician -> sink once per free queue place (capacity 1, that
place's cost; place costs must not decrease so places fill in order). Arcs are fed as
numpy arrays; no Python loop over arcs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from solver.model import SolveStatus

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class FlowResult:
    """Outcome of :func:`assign_slots`."""

    arc_used: npt.NDArray[
        np.bool_
    ]  # per candidate arc: carries the ticket's unit of flow
    status: SolveStatus
    cost: int  # optimal scaled cost (candidate arcs + places + unassigned penalties)


_STATUS = {
    min_cost_flow.SimpleMinCostFlow.OPTIMAL: SolveStatus.OPTIMAL,
    min_cost_flow.SimpleMinCostFlow.FEASIBLE: SolveStatus.FEASIBLE,
    min_cost_flow.SimpleMinCostFlow.INFEASIBLE: SolveStatus.INFEASIBLE,
    min_cost_flow.SimpleMinCostFlow.UNBALANCED: SolveStatus.INFEASIBLE,
    min_cost_flow.SimpleMinCostFlow.BAD_COST_RANGE: SolveStatus.OVERFLOW,
    min_cost_flow.SimpleMinCostFlow.BAD_CAPACITY_RANGE: SolveStatus.OVERFLOW,
}


def assign_slots(
    n_tickets: int,
    arc_ticket: IntArray,
    arc_tech: IntArray,
    arc_cost: IntArray,
    penalty: IntArray,
    slot_tech: IntArray,
    slot_cost: IntArray,
    n_techs: int | None = None,
) -> FlowResult:
    """Solve the capacitated assignment exactly.

    Parameters
    ----------
    n_tickets
        Tickets 0..n_tickets-1 (local numbering).
    arc_ticket, arc_tech, arc_cost
        Candidate arcs: ticket, technician label in ``[0, n_techs)``, scaled int64 cost.
    penalty
        (n_tickets,) scaled cost of leaving each ticket unassigned.
    slot_tech, slot_cost
        One entry per queue place: its technician label and scaled cost. Places of one
        technician must have non-decreasing costs.
    n_techs
        Number of technician labels (default: 1 + the largest label used).

    Returns
    -------
    FlowResult
        Which arcs are used; ``status`` OPTIMAL unless OR-Tools reports otherwise.
    """
    if n_techs is None:
        n_techs = 1 + max(int(arc_tech.max(initial=-1)), int(slot_tech.max(initial=-1)))
    a_tech = arc_tech.astype(np.int64) + n_tickets
    s_tech = slot_tech.astype(np.int64) + n_tickets
    sink = n_tickets + n_techs
    smcf = min_cost_flow.SimpleMinCostFlow()
    ones = np.ones(arc_ticket.size, np.int64)
    arcs = smcf.add_arcs_with_capacity_and_unit_cost(
        arc_ticket.astype(np.int64), a_tech, ones, arc_cost
    )
    tix = np.arange(n_tickets, dtype=np.int64)
    smcf.add_arcs_with_capacity_and_unit_cost(
        tix, np.full(n_tickets, sink, np.int64), np.ones(n_tickets, np.int64), penalty
    )
    smcf.add_arcs_with_capacity_and_unit_cost(
        s_tech,
        np.full(s_tech.size, sink, np.int64),
        np.ones(s_tech.size, np.int64),
        slot_cost,
    )
    supplies = np.zeros(sink + 1, np.int64)
    supplies[:n_tickets] = 1
    supplies[sink] = -n_tickets
    smcf.set_nodes_supplies(np.arange(sink + 1, dtype=np.int64), supplies)
    status = _STATUS.get(smcf.solve(), SolveStatus.INFEASIBLE)
    if status is not SolveStatus.OPTIMAL:
        return FlowResult(np.zeros(arc_ticket.size, np.bool_), status, 0)
    used = (
        np.asarray(smcf.flows(arcs)) > 0 if arc_ticket.size else np.zeros(0, np.bool_)
    )
    return FlowResult(used, status, int(smcf.optimal_cost()))
