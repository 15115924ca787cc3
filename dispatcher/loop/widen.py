"""Escalation "widen to neighbouring regions": move a waiting ticket where there is room.

When an escalation rule with ``widen_to_neighbours`` fires for a ticket that is still
QUEUED (no technician of its own region has taken it), the solve loop looks at the
region's neighbours (``Policy.neighbours``) and moves the ticket to the one with the most
free queue places among technicians who are on duty and hold the ticket's skills
(``dispatcher.store.moves``); that region's solve then dispatches it. A ticket already
held by a technician, held back as a duplicate, or with no neighbour that has room, stays.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dispatcher.loop.snapshot import on_duty
from dispatcher.store.outcomes import ScriptReply

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dispatcher.domain import Technician, Ticket
    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.store.moves import TicketMover
    from dispatcher.store.state import RedisStateStore, RegionSnapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Widening:
    """One ticket to widen: its rule and the neighbours the policy names."""

    ticket_id: str
    rule: str
    neighbours: tuple[str, ...]


def free_places(ticket: Ticket, technicians: Sequence[Technician], now_ms: int) -> int:
    """Free queue places of the on-duty technicians holding the ticket's skills."""
    need = {s.skill: s.level for s in ticket.required_skills}
    total = 0
    for tech in technicians:
        held = {s.skill: s.level for s in tech.skills}
        if on_duty(tech, now_ms) and all(
            held.get(k, 0) >= lvl for k, lvl in need.items()
        ):
            total += max(0, tech.capacity - len(tech.queue_ticket_ids))
    return total


async def widen(
    store: RedisStateStore,
    mover: TicketMover,
    snap: RegionSnapshot,
    token: str,
    wanted: Sequence[Widening],
    metrics: DispatchMetrics,
) -> dict[str, str]:
    """Move the wanted tickets that are still QUEUED; returns ticket id -> target region."""
    by_id = {t.ticket_id: t for t in snap.tickets}
    neighbour_snaps: dict[str, RegionSnapshot] = {}
    moved: dict[str, str] = {}
    now_ms = int(time.time() * 1000)
    for w in wanted:
        ticket = by_id.get(w.ticket_id)
        if ticket is None or ticket.status.value != "QUEUED":
            continue  # held by a technician (or closed): nothing to widen
        if ticket.duplicate_of_ticket_id and not ticket.allow_duplicate:
            continue  # held back as a duplicate
        best, room = "", 0
        for region in w.neighbours:
            if region == snap.region:
                continue
            if region not in neighbour_snaps:
                neighbour_snaps[region] = await store.snapshot(snap.tenant, region)
            free = free_places(ticket, neighbour_snaps[region].technicians, now_ms)
            if free > room:
                best, room = region, free
        if not best:
            logger.info(
                "widen %s: no neighbour of %s has room", w.ticket_id, snap.region
            )
            continue
        outcome = await mover.move(
            snap.tenant,
            snap.region,
            best,
            token,
            ticket.ticket_id,
            ticket.version,
            {"rule": w.rule, "from_region": snap.region},
        )
        if outcome is ScriptReply.OK:
            moved[ticket.ticket_id] = best
            metrics.tickets_moved_total.inc()
        else:
            logger.info("widen %s to %s: %s", ticket.ticket_id, best, outcome)
    return moved
