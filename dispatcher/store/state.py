"""The state store port (``StateStore``) and its Redis adapter (``RedisStateStore``).

Every change of a ticket or technician is one Lua script (``store.lua``) in its region's
hash slot that checks the current status and version, applies the change, bumps the
version and appends exactly one event to the region's stream. Ticket and technician ids
are unique per tenant: a tenant-wide hash maps each id to its region, claimed inside the
submit script on a single node, or just before it on Redis Cluster (another slot). The
solve loop reads a consistent region snapshot (``snapshot``) and commits decisions fenced by
its lease token and versions (``commit_assignments``), both here; ticket operations live in
``store.tickets``, technician operations in ``store.technicians``, shared parts in
``store.base``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from dispatcher.domain import (
    Assignment,
    SubmitResult,
    SubmitTicket,
    Technician,
    Ticket,
    TicketStatus,
    UnassignedReason,
)
from dispatcher.frozen import with_changes
from dispatcher.store import keys
from dispatcher.store.base import (
    now_ms as now_ms,  # re-exported (sla, duplicates use it)
)
from dispatcher.store.codec import (
    assignment_json,
    commit_code,
    dumps,
    pairs_to_dict,
    technician_from_hash,
    ticket_from_hash,
)
from dispatcher.store.outcomes import CommitCode
from dispatcher.store.technicians import TechnicianStore
from dispatcher.store.tickets import TicketStore

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


@dataclass(frozen=True, slots=True)
class RegionSnapshot:
    """A consistent (one atomic read) view of a region for the solver.

    ``tickets``: every open ticket (QUEUED, ASSIGNED, ACCEPTED, IN_PROGRESS) with its
    version; ``technicians``: every technician with version and queue (ticket ids held,
    queue order); ``lease_token``: the lease value at read time ('' = none).
    """

    tenant: str
    region: str
    tickets: tuple[Ticket, ...]
    technicians: tuple[Technician, ...]
    lease_token: str
    taken_at_ms: int


@dataclass(frozen=True, slots=True)
class Decision:
    """One solve decision for a ticket: place it with a technician, or leave it unassigned.

    ``technician_id`` '' = unassigned, with ``unassigned_reason``; otherwise
    ``assignment`` carries position, predictions and cost terms (its technician_id is
    ignored in favour of ``technician_id``).
    """

    ticket_id: str
    technician_id: str = ""
    assignment: Assignment | None = None
    unassigned_reason: UnassignedReason = UnassignedReason.PENALTY_CHEAPER


@dataclass(frozen=True, slots=True)
class ExpectedVersions:
    """Versions the decisions were computed from (from the ``RegionSnapshot``)."""

    tickets: Mapping[str, int]
    technicians: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """What the commit did with one decision (``CommitCode`` lists the codes)."""

    ticket_id: str
    code: CommitCode
    version: int

    @property
    def applied(self) -> bool:
        return self.code.applied


@dataclass(frozen=True, slots=True)
class CommitResult:
    outcomes: tuple[DecisionOutcome, ...]
    at_ms: int = 0
    """The commit's clock (``updated_at_ms`` of the tickets whose state it changed)."""
    placements: Mapping[str, Assignment] = field(default_factory=dict)
    """The placement it was given to write per decision with a technician, by ticket id."""
    events: tuple[str, str] = ("", "")
    """Ids of the first and the last event it appended ('' = none); every entry of the
    region's stream between them is its own (one atomic script)."""
    queues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The queue (ticket ids by position) of each technician whose queue it changed, as
    it left it."""

    def technician_after(self, before: Technician) -> Technician:
        """``before`` with the queue this commit left it (itself when the commit did not
        change its queue)."""
        queue = self.queues.get(before.technician_id)
        if queue is None or queue == before.queue_ticket_ids:
            return before
        return with_changes(before, queue_ticket_ids=queue)

    def ticket_after(
        self, before: Ticket, decision: Decision, outcome: DecisionOutcome
    ) -> Ticket | None:
        """``before``, the ticket at the version ``decision`` expected, as this commit left
        it: ``lua.COMMIT_ASSIGNMENTS``'s writes for the outcome (what a read of the ticket
        now decodes, unless something else changed it since); None when it wrote nothing."""
        code = outcome.code
        if code in (CommitCode.ASSIGNED, CommitCode.REASSIGNED):
            return with_changes(
                before,
                status=TicketStatus.ASSIGNED,
                assignment=self.placements[decision.ticket_id],
                unassigned_reason=UnassignedReason.NONE,
                version=outcome.version,
                updated_at_ms=self.at_ms,
            )
        if code is CommitCode.UNCHANGED and decision.technician_id:
            # a same-place refresh: the placement only
            return with_changes(before, assignment=self.placements[decision.ticket_id])
        if code is CommitCode.UNASSIGNED:
            return with_changes(
                before,
                status=TicketStatus.QUEUED,
                assignment=None,
                unassigned_reason=decision.unassigned_reason,
                version=outcome.version,
                updated_at_ms=self.at_ms,
            )
        if code is CommitCode.UNASSIGNABLE:
            return with_changes(
                before,
                unassigned_reason=decision.unassigned_reason,
                version=outcome.version,
                updated_at_ms=self.at_ms,
            )
        return None

    @property
    def lease_lost(self) -> bool:
        return any(o.code is CommitCode.LEASE for o in self.outcomes)

    @property
    def applied(self) -> int:
        return sum(1 for o in self.outcomes if o.applied)


class StateStore(Protocol):
    """The port the handlers and the solve loop use (``RedisStateStore`` implements it)."""

    async def submit(
        self,
        tenant: str,
        items: Sequence[SubmitTicket],
        *,
        return_tickets: bool = False,
    ) -> list[SubmitResult]: ...
    async def get_ticket(self, tenant: str, ticket_id: str) -> Ticket: ...
    async def transition(
        self,
        tenant: str,
        ticket_id: str,
        action: str,
        *,
        actor: str = "",
        expected_version: int = 0,
        argument: str = "",
    ) -> Ticket: ...
    async def snapshot(self, tenant: str, region: str) -> RegionSnapshot: ...
    async def commit_assignments(
        self,
        tenant: str,
        region: str,
        lease_token: str,
        decisions: Sequence[Decision],
        expected_versions: ExpectedVersions,
        *,
        solve_id: str = "",
    ) -> CommitResult: ...


class RedisStateStore(TicketStore, TechnicianStore):
    """``StateStore`` on Redis (single node or Cluster; see ``store.keys``)."""

    # --- solve loop -----------------------------------------------------------------------

    async def snapshot(self, tenant: str, region: str) -> RegionSnapshot:
        """Open tickets and technicians of a region, with versions, read atomically."""
        taken = now_ms()
        _ids, tickets, _tids, techs, queues, lease = await self._snapshot(
            keys=[keys.events_key(tenant, region)],
            args=[keys.region_prefix(tenant, region)],
        )
        return RegionSnapshot(
            tenant=tenant,
            region=region,
            tickets=tuple(ticket_from_hash(pairs_to_dict(h)) for h in tickets if h),
            technicians=tuple(
                technician_from_hash(pairs_to_dict(h), q)
                for h, q in zip(techs, queues, strict=True)
                if h
            ),
            lease_token=str(lease),
            taken_at_ms=taken,
        )

    async def commit_assignments(
        self,
        tenant: str,
        region: str,
        lease_token: str,
        decisions: Sequence[Decision],
        expected_versions: ExpectedVersions,
        *,
        solve_id: str = "",
    ) -> CommitResult:
        """Apply the decisions whose ticket/technician versions are unchanged, atomically.

        Nothing is applied when ``lease_token`` is not the region's current lease value
        (every outcome LEASE). Capacity and "one technician per ticket" are enforced here,
        whatever the decisions say. One event per changed ticket (ASSIGNED, REASSIGNED,
        UNASSIGNED, UNASSIGNABLE), in the same atomic step, ordered so that a consumer
        replaying them never sees a technician over capacity; a REASSIGNED in a ring of
        moves between full technicians (a swap) becomes UNASSIGNED then ASSIGNED (two
        events, two versions; its outcome still says REASSIGNED).
        """
        if not decisions:
            return CommitResult(())
        ks, args = self._common(tenant, region)
        placements: dict[str, Assignment] = {}
        # one JSON argument for all decisions: redis-py encodes each argument in Python
        # (7 per decision: 0.3-0.7 ms of the event loop per cycle of ~100 decisions; the
        # script's cjson.decode costs Redis 0.15-0.24 ms of it back)
        items: list[list[Any]] = []
        for d in decisions:
            if d.ticket_id not in expected_versions.tickets:
                raise ValueError(f"no expected version for ticket {d.ticket_id!r}")
            tech_version = 0
            asg = ""
            if d.technician_id:
                if d.technician_id not in expected_versions.technicians:
                    raise ValueError(
                        f"no expected version for technician {d.technician_id!r}"
                    )
                tech_version = expected_versions.technicians[d.technician_id]
                a = d.assignment or Assignment(d.technician_id)
                if a.technician_id != d.technician_id or (solve_id and not a.solve_id):
                    a = replace(
                        a,
                        technician_id=d.technician_id,
                        solve_id=a.solve_id or solve_id,
                    )
                asg = assignment_json(a)
                placements[d.ticket_id] = a
            items.append(
                [
                    d.ticket_id,
                    expected_versions.tickets[d.ticket_id],
                    d.technician_id,
                    tech_version,
                    d.assignment.position if d.assignment else 0,
                    asg,
                    d.unassigned_reason.value if not d.technician_id else "",
                ]
            )
        args += [lease_token, solve_id, dumps(items)]
        flat = await self._commit(keys=ks, args=args)
        n = 2 * len(decisions)
        outcomes = tuple(
            DecisionOutcome(d.ticket_id, commit_code(code), int(version))
            for d, code, version in zip(
                decisions, flat[0:n:2], flat[1:n:2], strict=True
            )
        )
        first, last, raw = flat[n:]
        queues = {
            str(raw[i]): tuple(str(t) for t in raw[i + 1])
            for i in range(0, len(raw), 2)
        }
        counts = Counter(o.code for o in outcomes)
        self._conflict("lease", counts[CommitCode.LEASE])
        self._published(sum(n for c, n in counts.items() if c.published))
        self._conflict("version", sum(n for c, n in counts.items() if c.stale))
        return CommitResult(
            outcomes, int(args[1]), placements, (str(first), str(last)), queues
        )
