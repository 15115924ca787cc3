"""The solve loop's duplicate handling for one region: link new tickets that duplicate
an open one (``dispatcher.duplicates`` finds them), and settle held-back duplicates whose
original closed."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dispatcher.domain import TicketStatus, UnassignedReason
from dispatcher.duplicates import DuplicateProbe
from dispatcher.errors import DispatchError

if TYPE_CHECKING:
    from dispatcher.domain import Ticket
    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.store.duplicates import DuplicateIndex, DuplicateLinker
    from dispatcher.store.state import RedisStateStore, RegionSnapshot
    from solver.policy import Policy

logger = logging.getLogger(__name__)

HOUSEKEEPING_MAX = 50
"""Most held-back duplicates whose original closed are settled per cycle."""


class DuplicateStep:
    """The solve loop's duplicate work, built with what it reads and writes through."""

    def __init__(
        self,
        store: RedisStateStore,
        index: DuplicateIndex,
        linker: DuplicateLinker,
        metrics: DispatchMetrics,
    ) -> None:
        self.store = store
        self.index = index
        self.linker = linker
        self.metrics = metrics

    async def link_duplicates(
        self,
        checked: set[str],
        snap: RegionSnapshot,
        policy: Policy,
        token: str,
        *,
        complete: bool = True,
    ) -> set[str]:
        """Link new tickets that duplicate an open one; settle links whose original closed.

        Returns the ids held back by links made in this cycle (the snapshot predates them).
        """
        open_by_id = {t.ticket_id: t for t in snap.tickets}
        if complete:  # a bounded read does not list every open ticket
            checked &= open_by_id.keys()
        held: set[str] = set()
        rule = policy.duplicates
        fresh = sorted(
            (
                t
                for t in snap.tickets
                if t.status is TicketStatus.QUEUED
                and not t.duplicate_of_ticket_id
                and not t.declined_by_technician_ids
                and t.unassigned_reason is UnassignedReason.NOT_YET_SOLVED
                and t.ticket_id not in checked
            ),
            key=lambda t: (t.created_at_ms, t.ticket_id),
        )

        async def is_open(ticket_id: str) -> tuple[bool, str, str]:
            other = open_by_id.get(ticket_id)
            if other is None and not complete:  # maybe just not in this bounded read
                try:
                    other = await self.store.get_ticket(snap.tenant, ticket_id)
                except DispatchError:
                    other = None
                if other is not None and not other.status.is_open:
                    other = None
            if other is None:
                return False, "", ""
            return True, other.category, other.asset_id

        for t in fresh:
            checked.add(t.ticket_id)
            if not rule.enabled or not (t.asset_id or (t.category and t.location)):
                continue  # nothing to match on: no Redis round trip
            probe = DuplicateProbe(
                t.ticket_id,
                t.category,
                t.created_at_ms / 1000.0,
                t.location.lat_deg if t.location else None,
                t.location.lon_deg if t.location else None,
                t.asset_id,
            )
            original = await self.index.find_duplicate(
                snap.tenant,
                snap.region,
                rule,
                probe,
                is_open,
                allow_duplicate=t.allow_duplicate,
            )
            if original is None:
                continue
            ok = await self.linker.link(
                snap.tenant,
                snap.region,
                token,
                t.ticket_id,
                original,
                held_back=not t.allow_duplicate,
                maxlen=self.store.events_maxlen,
            )
            if ok:
                if not t.allow_duplicate:
                    held.add(t.ticket_id)
                self.metrics.duplicates_detected_total.inc()
        if complete:
            await self.settle_links(snap, open_by_id, token)
        return held

    async def settle_links(
        self, snap: RegionSnapshot, open_by_id: dict[str, Ticket], token: str
    ) -> None:
        """A held-back duplicate whose original is resolved is cancelled; one whose original
        was cancelled is released for dispatch."""
        orphans = [
            t
            for t in snap.tickets
            if t.duplicate_of_ticket_id
            and not t.allow_duplicate
            and t.duplicate_of_ticket_id not in open_by_id
        ][:HOUSEKEEPING_MAX]
        for t in orphans:
            original = t.duplicate_of_ticket_id
            try:
                status = (
                    await self.store.get_ticket(snap.tenant, original)
                ).status.value
            except DispatchError:
                status = "GONE"
            try:
                if status == "RESOLVED":
                    await self.store.cancel(
                        snap.tenant,
                        t.ticket_id,
                        f"duplicate of {original}, which was resolved",
                    )
                else:  # cancelled or gone: the duplicate is dispatched on its own
                    await self.linker.link(
                        snap.tenant,
                        snap.region,
                        token,
                        t.ticket_id,
                        "",
                        held_back=False,
                        maxlen=self.store.events_maxlen,
                    )
            except DispatchError:
                logger.info(
                    "could not settle duplicate %s of %s", t.ticket_id, original
                )
