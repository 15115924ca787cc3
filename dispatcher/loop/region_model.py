"""The solve loop's in-memory model of a held region, fed by the region's event stream.

docs/DESIGN.md §6. A ``RegionModel`` holds what a region snapshot holds (its open tickets,
its technicians with their queues, with versions) and the stream position it is current
at. Each ``read`` asks the store only for the items the events after that position name
(``dispatcher.store.feed``: one atomic delta script) and replaces them; it reads the whole
region instead (a **resync**) when

- it has no state yet, or holds it under another lease token (a lease acquired or taken
  over: a new holder never trusts what it may have missed),
- the delta cannot be told (a gap: events trimmed past the position, a deleted stream,
  more than ``DELTA_MAX_EVENTS`` pending, an event naming nothing, an event of a commit
  it applied itself missing, the mark its last read left missing: a failover lost what
  it wrote or read), or a cycle failed
  after a write whose effect the model may not know (``invalidate``),
- ``resync_s`` passed since the last one (the ``region_model_resync_s`` setting).

It then answers the snapshot a read of the store would have given (the same tickets and
technicians; bounded to the most urgent QUEUED tickets as ``lua.BOUNDED_SNAPSHOT`` bounds
them), so the rest of the cycle is unchanged. Correctness never rests on it: every commit
is still fenced by the lease token and the versions the solve saw (invariant 5), so a stale
model can waste a solve but never commit a wrong assignment.
"""

from __future__ import annotations

import bisect
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dispatcher.domain import TicketStatus
from dispatcher.frozen import with_changes
from dispatcher.store.state import RegionSnapshot, now_ms

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from dispatcher.domain import Technician, Ticket
    from dispatcher.store.feed import RegionFeed
    from dispatcher.store.state import CommitResult, Decision, ExpectedVersions

logger = logging.getLogger(__name__)

DELTA_MAX_EVENTS = 20_000
"""More events than this pending: read the region in full instead (as cheap by then)."""


def queued_order(t: Ticket) -> tuple[int, int, str]:
    """The order in which a bounded snapshot reads QUEUED tickets (``lua.BOUNDED_SNAPSHOT``:
    the per-priority sets, scored by submit time, equal scores by id)."""
    return (t.priority, t.created_at_ms, t.ticket_id)


@dataclass
class RegionModel:
    """Open tickets and technicians of one region, kept current from its event stream."""

    feed: RegionFeed
    tenant: str
    region: str
    resync_s: float
    tickets: dict[str, Ticket] = field(default_factory=dict)
    technicians: dict[str, Technician] = field(default_factory=dict)
    position: str = ""
    """Last event id applied ('' = no state: the next read resyncs)."""
    token: str = ""
    """The lease token the state was read under."""
    synced_at: float = float("-inf")
    truncated: bool = False
    """The last read left QUEUED tickets out (bounded)."""
    resyncs: int = 0
    deltas: int = 0
    last_resync: str = ""
    """Why the last resync happened."""
    _held: dict[str, Ticket] = field(default_factory=dict)
    """The open tickets that are not QUEUED."""
    _queued: list[tuple[int, int, str]] = field(default_factory=list)
    """``queued_order`` of every QUEUED ticket, sorted: a bounded read takes a prefix."""
    _also_tickets: set[str] = field(default_factory=set)
    _also_technicians: set[str] = field(default_factory=set)
    _own: list[tuple[str, str]] = field(default_factory=list)
    """(first, last) event ids of commits applied here since the last read."""
    _stale: str = ""
    _mark: str = ""
    """The mark the last read left in the store (``feed.delta``'s ``marks``)."""

    def invalidate(self, why: str) -> None:
        """Resync at the next read (the model may have missed a change)."""
        self._stale = why

    def touch(self, ticket_ids: Iterable[str], technician_ids: Iterable[str]) -> None:
        """Re-read these at the next read: changed by a write that appends no event (the
        commit's same-place refresh)."""
        self._also_tickets.update(ticket_ids)
        self._also_technicians.update(technician_ids)

    def committed(
        self,
        decisions: Sequence[Decision],
        result: CommitResult,
        expected: ExpectedVersions,
    ) -> None:
        """After a commit: apply what it wrote to the tickets this model holds at the
        version the decisions expected and to the queues of the technicians it holds (the
        next read does not read them again for the commit's own events); re-read at the
        next read what it wrote that this cannot apply."""
        reread: set[str] = set()
        for d, outcome in zip(decisions, result.outcomes, strict=True):
            if not outcome.code.applied:
                continue
            before = self.tickets.get(d.ticket_id)
            if before is None or before.version != expected.tickets[d.ticket_id]:
                reread.add(d.ticket_id)
                continue
            after = result.ticket_after(before, d, outcome)
            if after is not None:
                self._put(d.ticket_id, after)
        missing: set[str] = set()
        for kid in result.queues:
            tech = self.technicians.get(kid)
            if tech is None:
                missing.add(kid)
            else:
                self.technicians[kid] = result.technician_after(tech)
        if result.events[0]:
            # the next delta checks that these events (so the whole commit) are still
            # in the store: a failover may lose an acknowledged commit
            self._own.append(result.events)
        else:
            # no event tells whether this commit survives a failover: read what it
            # wrote again (a same-place refresh)
            reread.update(
                d.ticket_id
                for d, o in zip(decisions, result.outcomes, strict=True)
                if o.code.applied
            )
            missing.update(result.queues)
        self.touch(reread, missing)

    def _resync_reason(self, token: str) -> str:
        if not self.position:
            return "first read"
        if token != self.token:
            return "new lease token"
        if self._stale:
            return self._stale
        if time.monotonic() - self.synced_at >= self.resync_s:
            return "periodic"
        return ""

    async def read(self, token: str, max_queued: int | None = None) -> RegionSnapshot:
        """The region as a snapshot would show it now (bounded to ``max_queued`` QUEUED
        tickets when given), fetching only what changed since the last read."""
        taken = now_ms()
        why = self._resync_reason(token)
        lease = ""
        if not why:
            also_t, also_k = set(self._also_tickets), set(self._also_technicians)
            own = list(self._own)
            mark = secrets.token_hex(8)
            delta = await self.feed.delta(
                self.tenant,
                self.region,
                self.position,
                token,
                max_events=DELTA_MAX_EVENTS,
                also_tickets=sorted(also_t),
                also_technicians=sorted(also_k),
                own=own,
                marks=(self._mark, mark),
            )
            unknown = [k for k in delta.queues if k not in self.technicians]
            if delta.gap:
                why = delta.gap
            elif unknown:
                # a ticket's event names a technician this model never read: its hash
                # is not here to keep
                why = f"technician {unknown[0]!r} named by a ticket event is not in the model"
            else:
                for tid, ticket in delta.tickets.items():
                    self._put(tid, ticket)
                for kid, tech in delta.technicians.items():
                    if tech is None:
                        self.technicians.pop(kid, None)
                    else:
                        self.technicians[kid] = tech
                for kid, queue in delta.queues.items():
                    tech = self.technicians[kid]
                    if tech.queue_ticket_ids != queue:
                        self.technicians[kid] = with_changes(
                            tech, queue_ticket_ids=queue
                        )
                self._also_tickets -= also_t
                self._also_technicians -= also_k
                del self._own[: len(own)]
                self.position, lease = delta.position, delta.lease_token
                self._mark = mark
                self.deltas += 1
        if why:
            lease = await self._resync(token, why)
        return self._snapshot(lease, taken, max_queued)

    async def _resync(self, token: str, why: str) -> str:
        """Read the region in full; returns the lease value read with it."""
        log = logger.debug if why in ("periodic", "first read") else logger.info
        log("region model %s/%s: full read (%s)", self.tenant, self.region, why)
        mark = secrets.token_hex(8)
        full = await self.feed.full(self.tenant, self.region, token, mark)
        self.tickets, self.technicians = full.tickets, full.technicians
        self._held = {
            i: t for i, t in self.tickets.items() if t.status is not TicketStatus.QUEUED
        }
        self._queued = sorted(
            queued_order(t)
            for t in self.tickets.values()
            if t.status is TicketStatus.QUEUED
        )
        self._also_tickets.clear()
        self._also_technicians.clear()
        self._own.clear()
        self._stale = ""
        # under another holder's lease the location marks stayed unread: no state to keep
        self.position = full.position if full.lease_token == token else ""
        self._mark = mark
        self.token, self.synced_at = token, time.monotonic()
        self.resyncs += 1
        self.last_resync = why
        return full.lease_token

    def _put(self, ticket_id: str, ticket: Ticket | None) -> None:
        """Replace a ticket (None: it is no longer open), keeping the QUEUED order."""
        old = self.tickets.pop(ticket_id, None)
        self._held.pop(ticket_id, None)
        if old is not None and old.status is TicketStatus.QUEUED:
            key = queued_order(old)
            at = bisect.bisect_left(self._queued, key)
            if at < len(self._queued) and self._queued[at] == key:
                del self._queued[at]
        if ticket is None:
            return
        self.tickets[ticket_id] = ticket
        if ticket.status is TicketStatus.QUEUED:
            bisect.insort(self._queued, queued_order(ticket))
        else:
            self._held[ticket_id] = ticket

    def _snapshot(
        self, lease: str, taken: int, max_queued: int | None
    ) -> RegionSnapshot:
        tickets: tuple[Ticket, ...]
        self.truncated = max_queued is not None and len(self._queued) > max_queued
        if self.truncated:
            urgent = self._queued[:max_queued]
            tickets = (
                *self._held.values(),
                *(self.tickets[ticket_id] for _, _, ticket_id in urgent),
            )
        else:
            tickets = tuple(self.tickets.values())
        return RegionSnapshot(
            tenant=self.tenant,
            region=self.region,
            tickets=tickets,
            technicians=tuple(self.technicians.values()),
            lease_token=lease,
            taken_at_ms=taken,
        )
