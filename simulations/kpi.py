"""KPIs of a run, computed with polars from the per-ticket and per-technician logs.

Definitions (all over tickets that *arrived* within the horizon):

- **SLA attainment** (overall and per priority) = tickets whose SLA is met / tickets that
  arrived (cancelled ones left out). Met: work started by ``response_due_s`` and ended by
  ``resolution_due_s``. A ticket still open at the horizon is a miss, even when its due time
  is still ahead (a policy cannot look good by leaving work undone). ``sla_breaches`` counts
  arrived, not cancelled, not-met tickets; ``breach_rate`` = breaches / those tickets.
  ``sla_attainment_decided`` is the older, kinder figure: met / decided, where decided means
  resolved or a due time already passed (an open ticket that could still make it is left out).
- **Where breaches come from** (:func:`breach_sources`): ``breaches_unavoidable`` =
  tickets no policy could meet (``simulations.reach``, a per-ticket lower bound from the
  ticket, the technicians' skills, shifts and homes and the horizon; policy-independent);
  ``breaches_avoidable`` = ``sla_breaches`` - those; of these, ``breaches_avoidable_open``
  are still open at the horizon with no due time passed, ``breaches_avoidable_late`` the
  rest (a due time passed unmet). ``breaches_unavoidable_in_shift``: the bound for
  policies that plan no work past a shift end (every solver policy without
  ``allow_overtime``), at least ``breaches_unavoidable``.
- **Response time** = work start (technician on site) - creation; **resolution time** = work
  end - creation; percentiles over tickets that reached that point, in minutes.
- **Travel**: total and per resolved ticket, km and hours (the solver's travel model).
- **Utilization** per technician = (travel + work time) / time on shift; the mean is over
  technicians who were on shift at all; ``utilization_work_mean`` and
  ``utilization_travel_mean`` split it into work and travel (they add up to the mean). A job in hand at shift end is finished (overtime)
  and counted as busy time, so a technician's value can exceed 1.
- **Fairness**: ``workload_cv`` = coefficient of variation (std / mean) of busy time across
  technicians on shift (0 = perfectly even), and Jain's index ``(Σx)² / (n Σx²)`` (1 = even).
- **Churn**: ``reassignments`` = moves of an ASSIGNED ticket from one technician to another by
  a solve; ``churn_per_ticket`` = reassignments / tickets ever assigned;
  ``moves_per_technician`` = reassignments / technicians who were on shift at all.
- **Declines**: ``declines`` = dispatches a technician declined.
- **Escalations** (``simulations.clock``): ``escalations`` = all of them, split by cause:
  ``escalations_clock`` (a rule's condition and time), ``escalations_declined`` (declined
  by every able technician: the next tier rule) and ``escalations_override`` (declined by
  every able technician, no tier anybody serves: a supervisor overrides the declines, at
  most once per ticket).
- **By source** (:func:`ticket_kpis_by`, a replay mapping ``source``): the ticket-side
  KPIs above per source of the tickets (``kpis_by_source`` of ``--out``).
- **Waits on the customer**: ``pending_tickets`` = tickets that went PENDING,
  ``pending_h`` = hours spent PENDING; off the SLA clock (their due times move later by
  the wait, as in the service), so a wait is never a breach by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from simulations.clock import CAUSES

if TYPE_CHECKING:
    from simulations.result import SimResult

PERCENTILES = (50, 90, 95)


def _pct(series: pl.Series, q: float) -> float | None:
    s = series.drop_nulls()
    if s.len() == 0:
        return None
    v = s.quantile(q / 100.0, interpolation="linear")
    return None if v is None else float(v)


def ticket_kpis(tickets: pl.DataFrame) -> dict[str, Any]:
    """Ticket-side KPIs (see the module docstring) as a flat dict."""
    t = tickets
    out: dict[str, Any] = {
        "arrived": t.height,
        "resolved": int((t["status"] == "resolved").sum()),
        "cancelled": int((t["status"] == "cancelled").sum()),
        "open_at_end": int((~t["status"].is_in(["resolved", "cancelled"])).sum()),
    }
    met = t["sla_decided"] & ~t["response_breached"] & ~t["resolution_breached"]
    t = t.with_columns(met.alias("sla_met"))
    decided = int(t["sla_decided"].sum())
    n_met = int(t["sla_met"].sum())
    counted = t.height - out["cancelled"]
    out["sla_decided"] = decided
    out["sla_breaches"] = counted - n_met
    out["breach_rate"] = out["sla_breaches"] / counted if counted else None
    out["sla_attainment"] = n_met / counted if counted else None
    out["sla_attainment_decided"] = n_met / decided if decided else None
    out.update(breach_sources(t))
    out["response_breaches"] = int(t["response_breached"].sum())
    out["resolution_breaches"] = int(t["resolution_breached"].sum())
    per_p = (
        t.filter(pl.col("status") != "cancelled")
        .group_by("priority")
        .agg(pl.len().alias("n"), pl.col("sla_met").sum().alias("met"))
        .sort("priority")
    )
    for p in (1, 2, 3, 4):
        row = per_p.filter(pl.col("priority") == p)
        n = int(row["n"][0]) if row.height else 0
        out[f"sla_attainment_p{p}"] = int(row["met"][0]) / n if n else None
    response_min = (t["arrived_s"] - t["created_s"]) / 60.0
    resolution_min = (t["resolved_s"] - t["created_s"]) / 60.0
    assign_min = (t["first_assigned_s"] - t["created_s"]) / 60.0
    for q in PERCENTILES:
        out[f"response_p{q}_min"] = _pct(response_min, q)
    for q in PERCENTILES:
        out[f"resolution_p{q}_min"] = _pct(resolution_min, q)
    out["first_assignment_p50_min"] = _pct(assign_min, 50)
    resolved = max(out["resolved"], 1)
    travelled = t.filter(pl.col("dispatched_s").is_not_null())
    out["travel_km"] = float(travelled["travel_km"].sum())
    out["travel_h"] = float(travelled["travel_s"].sum()) / 3600.0
    out["travel_km_per_ticket"] = out["travel_km"] / resolved
    out["travel_min_per_ticket"] = out["travel_h"] * 60.0 / resolved
    ever = int((t["n_assignments"] > 0).sum())
    out["reassignments"] = int(t["n_reassignments"].sum())
    out["churn_per_ticket"] = out["reassignments"] / ever if ever else 0.0
    out["declines"] = int(t["n_declines"].sum())
    out["escalations"] = int(t["n_escalations"].sum())
    for cause in CAUSES:
        out[f"escalations_{cause}"] = int(t[f"escalations_{cause}"].sum())
    out["pending_tickets"] = int((t["pending_s"] > 0).sum())
    out["pending_h"] = float(t["pending_s"].sum()) / 3600.0
    return out


def ticket_kpis_by(tickets: pl.DataFrame, column: str) -> pl.DataFrame:
    """The ticket-side KPIs (:func:`ticket_kpis`) per value of ``column`` of the ticket
    log, e.g. a replay's ``source`` (phone, email, ...): one row each, sorted, tickets
    without a value last (null); empty when no ticket has a value."""
    if tickets.height == 0 or tickets[column].is_null().all():
        return pl.DataFrame()
    rows = [
        {column: value, **ticket_kpis(group)}
        for (value,), group in tickets.group_by(column, maintain_order=True)
    ]
    return pl.DataFrame(rows, infer_schema_length=None).sort(column, nulls_last=True)


def breach_sources(tickets: pl.DataFrame) -> dict[str, Any]:
    """Where the breaches come from (``tickets`` with the ``sla_met`` column): the
    unavoidable ones (``simulations.reach``: a lower bound, the same for every policy on a
    seed), the rest (avoidable), and of those the tickets still open at the horizon with
    no due time passed (a miss only because the run ended) and the late ones (a due time
    passed unmet). Empty without the ``unavoidable`` column."""
    if "unavoidable" not in tickets.columns:
        return {}
    counted = tickets.filter(pl.col("status") != "cancelled")
    breached = counted.filter(~pl.col("sla_met"))
    avoidable = breached.filter(~pl.col("unavoidable"))
    open_not_due = avoidable.filter(
        ~pl.col("status").is_in(["resolved", "cancelled"])
        & ~pl.col("response_breached")
        & ~pl.col("resolution_breached")
    ).height
    return {
        "breaches_unavoidable": int(counted["unavoidable"].sum()),
        "breaches_unavoidable_in_shift": int(counted["unavoidable_in_shift"].sum()),
        "breaches_avoidable": avoidable.height,
        "breaches_avoidable_open": open_not_due,
        "breaches_avoidable_late": avoidable.height - open_not_due,
    }


def technician_table(technicians: pl.DataFrame) -> pl.DataFrame:
    """The technician log with ``busy_s`` and ``utilization`` added."""

    def share(col: str) -> pl.Expr:
        return (
            pl.when(pl.col("on_shift_s") > 0)
            .then(pl.col(col) / pl.col("on_shift_s"))
            .otherwise(None)
        )

    return technicians.with_columns(
        (pl.col("travel_s") + pl.col("work_s")).alias("busy_s"),
    ).with_columns(
        share("busy_s").alias("utilization"),
        share("work_s").alias("utilization_work"),
        share("travel_s").alias("utilization_travel"),
    )


def technician_kpis(technicians: pl.DataFrame) -> dict[str, Any]:
    """Technician-side KPIs: utilization and fairness."""
    tt = technician_table(technicians).filter(pl.col("on_shift_s") > 0)
    if tt.height == 0:
        return {
            "utilization_mean": None,
            "utilization_work_mean": None,
            "utilization_travel_mean": None,
            "on_shift_technicians": 0,
            "utilization_p10": None,
            "utilization_p90": None,
            "workload_cv": None,
            "jain_index": None,
        }
    busy = tt["busy_s"]
    mean = float(busy.mean() or 0.0)  # type: ignore[arg-type]
    std = float(busy.std(ddof=0) or 0.0)  # type: ignore[arg-type]
    sq = float((busy * busy).sum())
    return {
        "utilization_mean": float(tt["utilization"].mean() or 0.0),  # type: ignore[arg-type]
        "utilization_work_mean": float(tt["utilization_work"].mean() or 0.0),  # type: ignore[arg-type]
        "utilization_travel_mean": float(tt["utilization_travel"].mean() or 0.0),  # type: ignore[arg-type]
        "on_shift_technicians": tt.height,
        "utilization_p10": _pct(tt["utilization"], 10),
        "utilization_p90": _pct(tt["utilization"], 90),
        "workload_cv": std / mean if mean > 0 else 0.0,
        "jain_index": float(busy.sum()) ** 2 / (tt.height * sq) if sq > 0 else 1.0,
    }


def run_kpis(result: SimResult) -> dict[str, Any]:
    """All KPIs of one run, plus the run's own cost (solves, wall time, events)."""
    out = ticket_kpis(result.tickets)
    out.update(technician_kpis(result.technicians))
    on_shift = out["on_shift_technicians"]
    out["moves_per_technician"] = out["reassignments"] / on_shift if on_shift else 0.0
    s = result.solves
    out["solves"] = s.height
    out["solve_p50_ms"] = _pct(s["wall_s"] * 1000.0, 50) if s.height else None
    out["solve_max_ms"] = float(s["wall_s"].max()) * 1000.0 if s.height else None  # type: ignore[arg-type]
    out["events"] = result.events
    out["wall_s"] = result.wall_s
    out["policy_wall_s"] = result.policy_wall_s
    return out


def backlog_with_breaches(result: SimResult) -> pl.DataFrame:
    """Backlog over time plus, at each sample, the running SLA attainment (decided so far)."""
    t = result.tickets
    met_t = pl.max_horizontal("arrived_s", "resolved_s")
    rows = []
    for t_s in result.backlog["t_s"].to_list():
        done = t.filter(pl.col("resolved_s") <= t_s)
        met_now = done.filter(
            ~pl.col("response_breached")
            & ~pl.col("resolution_breached")
            & (met_t <= t_s)
        ).height
        late = t.filter(
            (pl.col("status") != "cancelled")
            & (
                (
                    (pl.col("response_due_s") <= t_s)
                    & (
                        pl.col("arrived_s").is_null()
                        | (pl.col("arrived_s") > pl.col("response_due_s"))
                    )
                )
                | (
                    (pl.col("resolution_due_s") <= t_s)
                    & (
                        pl.col("resolved_s").is_null()
                        | (pl.col("resolved_s") > pl.col("resolution_due_s"))
                    )
                )
            )
        ).height
        decided = met_now + late
        rows.append((t_s, met_now, late, met_now / decided if decided else None))
    extra = pl.DataFrame(
        rows,
        schema=[
            "t_s",
            "sla_met_so_far",
            "sla_breached_so_far",
            "sla_attainment_so_far",
        ],
        orient="row",
    )
    return result.backlog.join(extra, on="t_s", how="left")
