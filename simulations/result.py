"""What a simulation run produced: the per-ticket log and the other tables of a run.

``sim_result`` turns a finished ``simulations.engine.Engine``'s state into polars tables;
breaches are decided here, against the due times as moved by waits on the customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from simulations.clock import CAUSES
from simulations.events import CANCELLED, NOT_ARRIVED, PENDING, RESOLVED, STATUS_NAMES
from simulations.reach import unavoidable

if TYPE_CHECKING:
    from simulations.engine import Engine


@dataclass
class SimResult:
    """Everything a run produced (tables are polars DataFrames)."""

    tickets: pl.DataFrame  # the per-ticket log
    technicians: pl.DataFrame
    backlog: pl.DataFrame  # backlog over time
    solves: pl.DataFrame
    horizon_s: float
    events: int
    wall_s: float
    policy_wall_s: float
    meta: dict[str, Any] = field(default_factory=dict)


def sim_result(engine: Engine, wall: float) -> SimResult:
    """The tables of a finished run (``wall``: its wall time): the per-ticket log with
    each ticket's SLA outcome, the technicians, the backlog series and the solves."""
    s, r, c = engine.s, engine.r, engine.clock
    h = engine.horizon_s
    status = engine.status
    waiting = np.flatnonzero(status == PENDING)
    response_due_s, resolution_due_s, pending_s = c.at_horizon(waiting, h)
    arrived = status != NOT_ARRIVED
    # A breach is decided when the due time passed without the event (or the event was late).
    resp_t = np.where(np.isnan(engine.arrived_s), np.inf, engine.arrived_s)
    reso_t = np.where(np.isnan(engine.resolved_s), np.inf, engine.resolved_s)
    cancelled = status == CANCELLED
    # due times as moved by waits on the customer: time PENDING is off the clock
    resp_breach = (
        (resp_t > response_due_s)
        & (np.minimum(resp_t, h) >= response_due_s)
        & ~cancelled
    )
    reso_breach = (
        (reso_t > resolution_due_s)
        & (np.minimum(reso_t, h) >= resolution_due_s)
        & ~cancelled
    )
    decided = ~cancelled & ((status == RESOLVED) | resp_breach | reso_breach)
    tickets = pl.DataFrame(
        {
            "ticket_id": s.ticket_id,
            "source": pl.Series(
                [None] * s.count if s.source is None else s.source, dtype=pl.String
            ),  # the replay's source role (phone, email, ...); null: none
            "category": [s.categories[c] for c in s.category.tolist()],
            "skill": [s.skills[k] for k in s.skill.tolist()],
            "priority": s.priority,
            "tier": s.tier,
            "lat_deg": s.lat_deg,
            "lon_deg": s.lon_deg,
            "created_s": s.created_s,
            "response_due_s": response_due_s,
            "resolution_due_s": resolution_due_s,
            "duration_est_s": s.duration_est_s,
            "first_assigned_s": engine.first_assigned_s,
            "dispatched_s": engine.dispatched_s,
            "arrived_s": engine.arrived_s,
            "resolved_s": engine.resolved_s,
            "cancelled_s": engine.cancelled_s,
            "status": [STATUS_NAMES[v] for v in status.tolist()],
            "technician": [
                r.tech_id[j] if j >= 0 else None for j in engine.work_tech.tolist()
            ],
            "n_assignments": engine.n_assign,
            "n_reassignments": engine.n_moves,
            "n_unassignments": engine.n_drops,
            "n_declines": engine.n_declines,
            "n_escalations": c.escalated.sum(axis=1),
            **{f"escalations_{k}": c.escalated[:, x] for x, k in enumerate(CAUSES)},
            "escalated_s": c.escalated_s,
            "escalated_tier": c.tier,
            "pending_s": pending_s,
            "travel_s": engine.travel_s,
            "travel_km": engine.travel_km,
            "response_breached": resp_breach,
            "resolution_breached": reso_breach,
            "sla_decided": decided,
            "unavoidable": unavoidable(
                s, r, h, geo_travel=engine.geo_travel
            ),  # no policy could meet it
            "unavoidable_in_shift": unavoidable(
                s, r, h, geo_travel=engine.geo_travel, within_shift=True
            ),  # nor any policy that plans no overtime
        },
        nan_to_null=True,
    ).filter(pl.Series(arrived))
    technicians = pl.DataFrame(
        {
            "technician": r.tech_id,
            "group": r.group,
            "on_shift_s": engine.on_shift_s,
            "travel_s": engine.busy_travel_s,
            "work_s": engine.busy_work_s,
            "travel_km": engine.km,
            "completed": engine.completed,
        }
    )
    backlog = pl.DataFrame(
        engine.backlog_rows,
        schema=[
            "t_s",
            "queued",
            "assigned",
            "in_service",
            "open",
            "technicians_on_shift",
            "technicians_busy",
        ],
        orient="row",
    )
    solves = pl.DataFrame(
        engine.solve_rows,
        schema={
            "t_s": pl.Float64,
            "n_tickets": pl.Int64,
            "n_technicians": pl.Int64,
            "n_assigned": pl.Int64,
            "n_moved": pl.Int64,
            "wall_s": pl.Float64,
            "status": pl.String,
            "objective": pl.Float64,
        },
        orient="row",
    )
    return SimResult(
        tickets=tickets,
        technicians=technicians,
        backlog=backlog,
        solves=solves,
        horizon_s=h,
        events=engine.events,
        wall_s=wall,
        policy_wall_s=engine.policy_wall_s,
    )
