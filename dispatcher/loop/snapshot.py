"""Region snapshots for the solve loop: cached (and, under a backlog, bounded) reads of the
store's state, and the solver's views of them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dispatcher.domain import ON_DUTY_STATUSES
from dispatcher.loop.problem import TechnicianView, TicketView
from dispatcher.sla import ticket_due_times

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dispatcher.domain import Location, Technician, Ticket
    from dispatcher.store.state import RegionSnapshot
    from solver.policy import Policy

logger = logging.getLogger(__name__)

NO_LOCATION = float("nan")
"""Coordinate of a ticket or technician without location (``solver.geo``: travel 0)."""


def _shift_end_s(tech: Technician, now_ms: int) -> float | None:
    """End of the shift running now (inf without shifts); None when off shift."""
    if not tech.shifts:
        return float("inf")
    for shift in tech.shifts:
        if shift.start_ms <= now_ms < shift.end_ms:
            return shift.end_ms / 1000.0
    return None


def on_duty(tech: Technician, now_ms: int) -> bool:
    """Available or busy, and within a shift now (or without shifts). A technician without
    location (a help desk agent) is on duty too: its travel is 0 (``solver.geo``)."""
    return tech.status in ON_DUTY_STATUSES and _shift_end_s(tech, now_ms) is not None


_TechKey = tuple[int, int, "Location | None"]


@dataclass
class ViewCache:
    """Views of the previous snapshot: a ticket's reused while its decoded item is the
    same object (``SnapshotReader`` and the region model keep unchanged items' objects)
    and the policy is the same; a technician's while its version, creation time and
    location are (a commit gives it a new queue, so a new object, but the same view: the
    build's technician arrays are then reused too, ``problem.TechnicianArrays``)."""

    tickets: dict[int, tuple[Ticket, Policy, TicketView]] = field(default_factory=dict)
    technicians: dict[str, tuple[_TechKey, TechnicianView]] = field(
        default_factory=dict
    )
    """By technician id: its version, creation time and location, and the view built
    from them (every other field a view reads bumps the version, a removed and re-created
    technician has a new creation time; a new queue does not change the view)."""


def views_from_snapshot(
    snapshot: RegionSnapshot,
    policy: Policy,
    now_ms: int,
    cache: ViewCache | None = None,
) -> tuple[list[TicketView], list[TechnicianView]]:
    """The solver's view of a store snapshot (domain types -> plain rows)."""
    tickets: list[TicketView] = []
    seen_t: dict[int, tuple[Ticket, Policy, TicketView]] = {}
    for t in snapshot.tickets:
        if cache is not None:
            hit = cache.tickets.get(id(t))
            if hit is not None and hit[0] is t and hit[1] is policy:
                tickets.append(hit[2])
                seen_t[id(t)] = hit
                continue
        created_s = t.created_at_ms / 1000.0
        response, resolution = ticket_due_times(policy, t)
        tickets.append(
            TicketView(
                ticket_id=t.ticket_id,
                version=t.version,
                status=t.status.value,
                priority=t.priority,
                lat_deg=t.location.lat_deg if t.location else NO_LOCATION,
                lon_deg=t.location.lon_deg if t.location else NO_LOCATION,
                duration_s=float(t.work_duration_s),
                created_s=created_s,
                response_due_s=response,
                resolution_due_s=resolution,
                window_start_s=t.window_start_ms / 1000.0
                if t.window_start_ms
                else float("-inf"),
                window_end_s=t.window_end_ms / 1000.0
                if t.window_end_ms
                else float("inf"),
                tier=t.customer_tier,
                skills=tuple((s.skill, s.level) for s in t.required_skills),
                technician_id=t.assignment.technician_id if t.assignment else "",
                excluded=(*t.excluded_technician_ids, *t.declined_by_technician_ids),
                preferred=t.preferred_technician_ids,
                started_s=t.started_at_ms / 1000.0 if t.started_at_ms else float("nan"),
                held_back=bool(t.duplicate_of_ticket_id) and not t.allow_duplicate,
            )
        )
        seen_t[id(t)] = (t, policy, tickets[-1])
    techs: list[TechnicianView] = []
    seen_k: dict[str, tuple[_TechKey, TechnicianView]] = {}
    for k in snapshot.technicians:
        kkey = (k.version, k.created_at_ms, k.location)
        if (
            cache is not None and not k.shifts
        ):  # with shifts, the view depends on the clock
            khit = cache.technicians.get(k.technician_id)
            if khit is not None and khit[0] == kkey:
                techs.append(khit[1])
                seen_k[k.technician_id] = khit
                continue
        shift_end = _shift_end_s(k, now_ms)
        loc = k.location
        techs.append(
            TechnicianView(
                technician_id=k.technician_id,
                version=k.version,
                available=on_duty(k, now_ms),
                lat_deg=loc.lat_deg if loc else NO_LOCATION,
                lon_deg=loc.lon_deg if loc else NO_LOCATION,
                capacity=k.capacity,
                concurrency=k.concurrency,
                speed_kmh=k.travel_speed_kmh or 40.0,
                shift_end_s=shift_end if shift_end is not None else now_ms / 1000.0,
                skills=tuple((s.skill, s.level) for s in k.skills),
            )
        )
        seen_k[k.technician_id] = (kkey, techs[-1])
    if cache is not None:
        cache.tickets, cache.technicians = seen_t, seen_k
    return tickets, techs


QUEUED_PER_PLACE = 2
"""A solve considers at most this many QUEUED tickets per free queue place (most urgent
first); the rest wait for a later solve. Bounds the solve under a backlog."""


def limit_queued(
    tickets: list[TicketView], technicians: Sequence[TechnicianView]
) -> list[TicketView]:
    """Keep every held ticket and the most urgent QUEUED ones (priority, then due time;
    equal ones by submit time and id, so the choice does not depend on the input order)."""
    queued = [t for t in tickets if t.status == "QUEUED"]
    places = sum(k.capacity for k in technicians if k.available)
    held = len(tickets) - len(queued)
    cap = max(64, QUEUED_PER_PLACE * max(0, places - held))
    if len(queued) <= cap:
        return tickets
    urgent = sorted(
        queued,
        key=lambda t: (t.priority, t.response_due_s, t.created_s, t.ticket_id),
    )[:cap]
    keep = {t.ticket_id for t in urgent}
    return [t for t in tickets if t.status != "QUEUED" or t.ticket_id in keep]
