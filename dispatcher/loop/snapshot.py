"""Region snapshots for the solve loop: cached (and, under a backlog, bounded) reads of the
store's state, and the solver's views of them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dispatcher.loop.problem import TechnicianView, TicketView
from dispatcher.store import keys

if TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from dispatcher.domain import Technician, Ticket
    from dispatcher.store.state import RegionSnapshot
    from solver.policy import Policy

logger = logging.getLogger(__name__)


def _shift_end_s(tech: Technician, now_ms: int) -> float | None:
    """End of the shift running now (inf without shifts); None when off shift."""
    if not tech.shifts:
        return float("inf")
    for shift in tech.shifts:
        if shift.start_ms <= now_ms < shift.end_ms:
            return shift.end_ms / 1000.0
    return None


def on_duty(tech: Technician, now_ms: int) -> bool:
    """Available or busy, located, and within a shift now (or without shifts)."""
    return (
        tech.status.value in ("AVAILABLE", "BUSY")
        and tech.location is not None
        and _shift_end_s(tech, now_ms) is not None
    )


@dataclass
class ViewCache:
    """Views of the previous snapshot, reused while the decoded item is the same object
    (``SnapshotReader`` keeps unchanged items' objects) and the policy is the same."""

    tickets: dict[int, tuple[Ticket, Policy, TicketView]] = field(default_factory=dict)
    technicians: dict[int, tuple[Technician, TechnicianView]] = field(
        default_factory=dict
    )


def views_from_snapshot(
    snapshot: RegionSnapshot,
    policy: Policy,
    now_ms: int,
    cache: ViewCache | None = None,
) -> tuple[list[TicketView], list[TechnicianView]]:
    """The solver's view of a store snapshot (domain types -> plain rows)."""
    from dispatcher.sla import ticket_due_times

    tickets: list[TicketView] = []
    seen_t: dict[int, tuple[Ticket, Policy, TicketView]] = {}
    for t in snapshot.tickets:
        if cache is not None:
            hit = cache.tickets.get(id(t))
            if hit is not None and hit[0] is t and hit[1] is policy:
                tickets.append(hit[2])
                seen_t[id(t)] = hit
                continue
        if t.location is None:
            continue  # cannot be placed; validation requires a location, so this is rare
        created_s = t.created_at_ms / 1000.0
        response, resolution = ticket_due_times(policy, t)
        tickets.append(
            TicketView(
                ticket_id=t.ticket_id,
                version=t.version,
                status=t.status.value,
                priority=t.priority,
                lat_deg=t.location.lat_deg,
                lon_deg=t.location.lon_deg,
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
    seen_k: dict[int, tuple[Technician, TechnicianView]] = {}
    for k in snapshot.technicians:
        if (
            cache is not None and not k.shifts
        ):  # with shifts, the view depends on the clock
            khit = cache.technicians.get(id(k))
            if khit is not None and khit[0] is k:
                techs.append(khit[1])
                seen_k[id(k)] = khit
                continue
        shift_end = _shift_end_s(k, now_ms)
        loc = k.location
        techs.append(
            TechnicianView(
                technician_id=k.technician_id,
                version=k.version,
                available=on_duty(k, now_ms),
                lat_deg=loc.lat_deg if loc else 0.0,
                lon_deg=loc.lon_deg if loc else 0.0,
                capacity=k.capacity,
                speed_kmh=k.travel_speed_kmh or 40.0,
                shift_end_s=shift_end if shift_end is not None else now_ms / 1000.0,
                skills=tuple((s.skill, s.level) for s in k.skills),
            )
        )
        seen_k[id(k)] = (k, techs[-1])
    if cache is not None:
        cache.tickets, cache.technicians = seen_t, seen_k
    return tickets, techs


QUEUED_PER_PLACE = 2
"""A solve considers at most this many QUEUED tickets per free queue place (most urgent
first); the rest wait for a later solve. Bounds the solve under a backlog."""


def limit_queued(
    tickets: list[TicketView], technicians: Sequence[TechnicianView]
) -> list[TicketView]:
    """Keep every held ticket and the most urgent QUEUED ones (priority, then due time)."""
    queued = [t for t in tickets if t.status == "QUEUED"]
    places = sum(k.capacity for k in technicians if k.available)
    held = len(tickets) - len(queued)
    cap = max(64, QUEUED_PER_PLACE * max(0, places - held))
    if len(queued) <= cap:
        return tickets
    urgent = sorted(queued, key=lambda t: (t.priority, t.response_due_s, t.created_s))[
        :cap
    ]
    keep = {t.ticket_id for t in urgent}
    return [t for t in tickets if t.status != "QUEUED" or t.ticket_id in keep]


# --- cached snapshot reads --------------------------------------------------------------------


BOUNDED_SNAPSHOT = r"""
-- ARGV[1] region prefix, ARGV[2] most QUEUED tickets to return, ARGV[3] '1' = include the
-- technicians. Like the store's SNAPSHOT (same reply shape, plus the total QUEUED count),
-- but of the QUEUED tickets only the most urgent: P1 first, oldest first (the
-- per-status/priority sets are scored by submit time); technicians without their queues
-- (the solver does not use them), and only when asked.
local P, maxq = ARGV[1], tonumber(ARGV[2])
local ids = {}
for _, st in ipairs({'ASSIGNED', 'ACCEPTED', 'IN_PROGRESS'}) do
  for p = 1, 4 do
    for _, id in ipairs(redis.call('ZRANGE', P .. 's:' .. st .. ':' .. p, 0, -1)) do
      ids[#ids + 1] = id
    end
  end
end
local total = 0
for p = 1, 4 do total = total + redis.call('ZCARD', P .. 's:QUEUED:' .. p) end
local left = maxq
for p = 1, 4 do
  if left <= 0 then break end
  local q = redis.call('ZRANGE', P .. 's:QUEUED:' .. p, 0, left - 1)
  for _, id in ipairs(q) do ids[#ids + 1] = id end
  left = left - #q
end
local tickets = {}
for i, id in ipairs(ids) do tickets[i] = redis.call('HGETALL', P .. 'ticket:' .. id) end
local tids, techs, queues = {}, {}, {}
if ARGV[3] == '1' then
  tids = redis.call('ZRANGE', P .. 'techs', 0, -1)
  for i, id in ipairs(tids) do
    techs[i] = redis.call('HGETALL', P .. 'tech:' .. id)
    queues[i] = {}
  end
end
return {ids, tickets, tids, techs, queues, redis.call('GET', P .. 'lease') or '', total}
"""


class SnapshotReader:
    """``RedisStateStore.snapshot`` with a parse cache for one region, optionally bounded.

    Runs the store's own snapshot script (or ``BOUNDED_SNAPSHOT``, which reads only the
    most urgent QUEUED tickets so that a backlog does not make every solve read all of it)
    and the store's codec, keeping the decoded tickets and technicians keyed by their raw
    hash contents: most items are unchanged from one solve to the next, and decoding them
    again is most of a snapshot's CPU cost. ``truncated`` tells whether QUEUED tickets
    were left out of the last read.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        from dispatcher.store import lua as store_lua

        self._script = redis.register_script(store_lua.SNAPSHOT)
        self._bounded = redis.register_script(BOUNDED_SNAPSHOT)
        self._tickets: dict[tuple[str, ...], Ticket] = {}
        self._techs: dict[tuple[tuple[str, ...], tuple[str, ...]], Technician] = {}
        self.truncated = False

    async def read(
        self,
        tenant: str,
        region: str,
        max_queued: int | None = None,
        *,
        technicians: bool = True,
    ) -> RegionSnapshot:
        """A snapshot; bounded to ``max_queued`` QUEUED tickets when given, and then, with
        ``technicians=False``, reusing the technicians of the previous read (the caller
        knows none changed: they change only with a technician event or a location ping).
        """
        from dispatcher.store.codec import (
            pairs_to_dict,
            technician_from_hash,
            ticket_from_hash,
        )
        from dispatcher.store.state import RegionSnapshot, now_ms

        taken = now_ms()
        with_techs = True
        if max_queued is None:
            reply = await self._script(
                keys=[keys.events_key(tenant, region)],
                args=[keys.region_prefix(tenant, region)],
            )
            _ids, raw_tickets, _tids, raw_techs, queues, lease = reply
            self.truncated = False
        else:
            with_techs = technicians or not self._techs
            reply = await self._bounded(
                keys=[keys.events_key(tenant, region)],
                args=[
                    keys.region_prefix(tenant, region),
                    max_queued,
                    "1" if with_techs else "0",
                ],
            )
            _ids, raw_tickets, _tids, raw_techs, queues, lease, total = reply
            self.truncated = int(total) > max_queued
        tickets: dict[tuple[str, ...], Ticket] = {}
        for h in raw_tickets:
            if h:
                key = tuple(h)
                hit = self._tickets.get(key)
                tickets[key] = (
                    hit if hit is not None else ticket_from_hash(pairs_to_dict(h))
                )
        techs: dict[tuple[tuple[str, ...], tuple[str, ...]], Technician] = {}
        if max_queued is not None and not with_techs:
            techs = self._techs  # unchanged since the last read (the caller says so)
        for h, q in zip(raw_techs, queues, strict=True):
            if h:
                tkey = (tuple(h), tuple(q))
                thit = self._techs.get(tkey)
                techs[tkey] = (
                    thit
                    if thit is not None
                    else technician_from_hash(pairs_to_dict(h), q)
                )
        self._tickets, self._techs = tickets, techs
        return RegionSnapshot(
            tenant=tenant,
            region=region,
            tickets=tuple(tickets.values()),
            technicians=tuple(techs.values()),
            lease_token=str(lease),
            taken_at_ms=taken,
        )
