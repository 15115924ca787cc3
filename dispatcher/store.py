"""The state store port (``StateStore``) and its Redis adapter (``RedisStateStore``).

Every change of a ticket or technician is one Lua script (``store_lua``) in its region's
hash slot that checks the current status and version, applies the change, bumps the
version and appends exactly one event to the region's stream. Ticket and technician ids
are unique per tenant: a tenant-wide hash maps each id to its region and is claimed
(``HSETNX``-style, in its own slot) before the region write. The solve loop reads a
consistent region snapshot and commits decisions fenced by its lease token and versions.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dispatcher import keys, store_lua
from dispatcher.cluster_client import call_script_batch
from dispatcher.domain import (
    Assignment,
    Location,
    Page,
    PriorityStats,
    RegionStats,
    Resolution,
    Shift,
    SubmitResult,
    SubmitTicket,
    Technician,
    TechnicianStatus,
    Ticket,
    TicketFilter,
    TicketStatus,
    UnassignedReason,
)
from dispatcher.errors import (
    AlreadyExists,
    FailedPrecondition,
    IllegalTransition,
    InvalidArgument,
    NotHolder,
    StaleVersion,
    UnknownTechnician,
    UnknownTicket,
)
from dispatcher.store_codec import (
    assignment_json,
    pairs_to_dict,
    resolution_json,
    shifts_json,
    technician_body,
    technician_from_hash,
    ticket_body,
    ticket_from_hash,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import redis.asyncio as aioredis

    from dispatcher.metrics import DispatchMetrics

ACTIONS = ("accept", "decline", "start", "complete", "cancel")
_LIST_SCAN_BUDGET = 5000
"""Most ticket ids one List call inspects before returning a (possibly short) page."""
_REGION_CACHE_SIZE = 200_000
_STATUS = {s.value: s for s in TicketStatus}
MAX_FLUSHES_IN_FLIGHT = 2
"""Coalesced unary-submit script calls running at once (see ``submit_one``)."""


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def now_ms() -> int:
    return int(time.time() * 1000)


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
    """What the commit did with one decision.

    ``code``: ASSIGNED, REASSIGNED, UNASSIGNED, UNASSIGNABLE (applied, one event each);
    UNCHANGED (applied without a state change: same technician, placement refreshed);
    rejected: LEASE, STALE_TICKET, STALE_TECHNICIAN, PINNED (accepted/started/closed),
    GONE, GONE_TECHNICIAN, UNAVAILABLE, EXCLUDED (declined by it), CAPACITY, DUPLICATE.
    """

    ticket_id: str
    code: str
    version: int

    @property
    def applied(self) -> bool:
        return self.code in (
            "ASSIGNED",
            "REASSIGNED",
            "UNASSIGNED",
            "UNASSIGNABLE",
            "UNCHANGED",
        )


@dataclass(frozen=True, slots=True)
class CommitResult:
    outcomes: tuple[DecisionOutcome, ...]

    @property
    def lease_lost(self) -> bool:
        return any(o.code == "LEASE" for o in self.outcomes)

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


def _encode_token(data: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(
        json.dumps(data, separators=(",", ":")).encode()
    ).decode()


def _decode_token(
    token: str, fingerprint: str, field_name: str = "page_token"
) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgument(
            field_name, "is not a token this service issued"
        ) from None
    if not isinstance(data, dict) or data.get("f") != fingerprint:
        raise InvalidArgument(field_name, "does not match this request's filter")
    return data


class RedisStateStore:
    """``StateStore`` on Redis (single node or Cluster; see ``keys``)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        events_maxlen: int = keys.EVENTS_MAXLEN_DEFAULT,
        request_ttl_s: int = keys.REQUEST_ID_TTL_S,
        metrics: DispatchMetrics | None = None,
    ) -> None:
        self.redis = redis
        # redis-py's reply types are loose unions; the replies here are known shapes
        self._r: Any = redis
        self.events_maxlen = events_maxlen
        self.request_ttl_s = request_ttl_s
        self.metrics = metrics
        self._submit = redis.register_script(store_lua.SUBMIT)
        self._transition = redis.register_script(store_lua.TRANSITION)
        self._update = redis.register_script(store_lua.UPDATE)
        self._upsert_tech = redis.register_script(store_lua.UPSERT_TECHNICIAN)
        self._availability = redis.register_script(store_lua.SET_AVAILABILITY)
        self._location = redis.register_script(store_lua.REPORT_LOCATION)
        self._remove_tech = redis.register_script(store_lua.REMOVE_TECHNICIAN)
        self._commit = redis.register_script(store_lua.COMMIT_ASSIGNMENTS)
        self._snapshot = redis.register_script(store_lua.SNAPSHOT)
        self._claim = redis.register_script(store_lua.CLAIM_IDS)
        self._ticket_regions: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._pending: dict[
            str, list[tuple[SubmitTicket, asyncio.Future[SubmitResult]]]
        ] = {}
        self._flush_scheduled = False
        self._flushes: set[asyncio.Future[None]] = set()
        self._known_tenants: set[str] = set()

    # --- helpers --------------------------------------------------------------------------

    def _conflict(self, kind: str, n: int = 1) -> None:
        if self.metrics is not None and n:
            self.metrics.store_conflicts_total.labels(kind=kind).inc(n)

    def _common(self, tenant: str, region: str) -> tuple[list[str], list[Any]]:
        return [keys.events_key(tenant, region)], [
            keys.region_prefix(tenant, region),
            now_ms(),
            self.events_maxlen,
        ]

    async def _remember_tenant(self, tenant: str) -> None:
        if tenant not in self._known_tenants:
            await self._r.sadd(keys.TENANTS_KEY, tenant)
            self._known_tenants.add(tenant)

    async def tenants(self) -> list[str]:
        return sorted(await self._r.smembers(keys.TENANTS_KEY))

    async def regions(self, tenant: str) -> list[str]:
        return sorted(await self._r.smembers(keys.regions_key(tenant)))

    async def ticket_region(self, tenant: str, ticket_id: str) -> str:
        """The region holding ``ticket_id``; ``UnknownTicket`` when none (ids never move)."""
        cached = self._ticket_regions.get((tenant, ticket_id))
        if cached is not None:
            return cached
        region = await self._r.hget(keys.ticket_region_key(tenant), ticket_id)
        if region is None:
            raise UnknownTicket(f"ticket {ticket_id!r} not found")
        self._cache_region(tenant, ticket_id, str(region))
        return str(region)

    def _cache_region(self, tenant: str, ticket_id: str, region: str) -> None:
        self._ticket_regions[(tenant, ticket_id)] = region
        if len(self._ticket_regions) > _REGION_CACHE_SIZE:
            self._ticket_regions.popitem(last=False)

    async def technician_region(self, tenant: str, technician_id: str) -> str:
        region = await self._r.hget(keys.technician_region_key(tenant), technician_id)
        if region is None:
            raise UnknownTechnician(f"technician {technician_id!r} not found")
        return str(region)

    # --- assets ---------------------------------------------------------------------------

    async def asset_locations(
        self, tenant: str, asset_ids: Sequence[str]
    ) -> dict[str, Location]:
        """Known locations of assets (learned from earlier tickets carrying both)."""
        if not asset_ids:
            return {}
        values = await self._r.hmget(keys.assets_key(tenant), list(asset_ids))
        out: dict[str, Location] = {}
        for asset, value in zip(asset_ids, values, strict=True):
            if value:
                lat, lon = str(value).split(",")
                out[asset] = Location(float(lat), float(lon))
        return out

    async def remember_assets(
        self, tenant: str, locations: Mapping[str, Location]
    ) -> None:
        if locations:
            await self._r.hset(
                keys.assets_key(tenant),
                mapping={
                    a: f"{loc.lat_deg!r},{loc.lon_deg!r}"
                    for a, loc in locations.items()
                },
            )

    # --- tickets --------------------------------------------------------------------------

    @property
    def is_cluster(self) -> bool:
        """True on Redis Cluster: tenant-wide keys then live in another slot than a region's."""
        return type(self.redis).__name__ == "RedisCluster"

    async def submit(
        self,
        tenant: str,
        items: Sequence[SubmitTicket],
        *,
        return_tickets: bool = False,
    ) -> list[SubmitResult]:
        """Store validated tickets (any regions); one result per item, in order.

        Idempotent by request id: an item whose request id was seen returns the first
        result with ``replayed=True``. A ticket id already used (in any region of the
        tenant, by another request) gives ``AlreadyExists`` in that item's result.
        On a single Redis node the tenant-wide id claim happens inside the same script
        (one round trip, atomic); on Redis Cluster it is a separate step just before.
        """
        await self._remember_tenant(tenant)
        results: list[SubmitResult | None] = [None] * len(items)
        by_region: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            by_region.setdefault(item.ticket.region, []).append(i)
        claim_key = keys.ticket_region_key(tenant)
        regions_key = keys.regions_key(tenant)
        for region, all_idx in by_region.items():
            idx = all_idx
            if self.is_cluster:
                claimed = await self._claim(
                    keys=[claim_key, regions_key],
                    args=[region, *(items[i].ticket.ticket_id for i in idx)],
                )
                for i, other in zip(idx, claimed, strict=True):
                    if other:
                        tid = items[i].ticket.ticket_id
                        results[i] = SubmitResult(
                            tid,
                            error=AlreadyExists(
                                f"ticket {tid!r} exists in region {other!r}"
                            ),
                        )
                idx = [i for i in idx if results[i] is None]
                if not idx:
                    continue
            payload = _dumps(
                [
                    [
                        items[i].ticket.ticket_id,
                        items[i].request_id,
                        ticket_body(
                            items[i].ticket,
                            response_due_ms=items[i].response_due_ms,
                            resolution_due_ms=items[i].resolution_due_ms,
                            allow_duplicate=items[i].allow_duplicate,
                        ),
                        items[i].ticket.priority,
                        items[i].response_due_ms or items[i].ticket.response_due_ms,
                    ]
                    for i in idx
                ]
            )
            ks, args = self._common(tenant, region)
            args += [
                self.request_ttl_s,
                "" if self.is_cluster else claim_key,
                regions_key,
                region,
                "1" if return_tickets else "0",
                payload,
            ]
            replies = await self._submit(keys=ks, args=args)
            created = 0
            for i, (code, tid, version, status, extra) in zip(
                idx, replies, strict=True
            ):
                st = _STATUS.get(status, TicketStatus.QUEUED)
                ticket = (
                    ticket_from_hash(pairs_to_dict(extra))
                    if return_tickets and isinstance(extra, list) and extra
                    else None
                )
                if code == "OK":
                    created += 1
                    self._cache_region(tenant, tid, region)
                    results[i] = SubmitResult(tid, int(version), st, ticket=ticket)
                elif code == "REPLAY":
                    results[i] = SubmitResult(
                        tid, int(version), st, replayed=True, ticket=ticket
                    )
                elif code == "CONFLICT":
                    results[i] = SubmitResult(
                        tid,
                        error=AlreadyExists(
                            f"ticket {tid!r} exists in region {extra!r}"
                        ),
                    )
                else:
                    results[i] = SubmitResult(
                        tid,
                        int(version),
                        st,
                        error=AlreadyExists(f"ticket {tid!r} already exists"),
                    )
            self._published(created)
        return [r for r in results if r is not None]

    async def submit_one(self, tenant: str, item: SubmitTicket) -> SubmitResult:
        """Submit one ticket, sharing a script call with concurrent submits.

        Adaptive batching: while ``MAX_FLUSHES_IN_FLIGHT`` script calls are running, new
        unary submits wait and go out together in the next one (one Redis round trip for
        all of them); when idle, a submit goes out on the next loop tick, alone. Each item
        is still applied and answered on its own, exactly as if it had been sent alone.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SubmitResult] = loop.create_future()
        self._pending.setdefault(tenant, []).append((item, future))
        if not self._flush_scheduled and len(self._flushes) < MAX_FLUSHES_IN_FLIGHT:
            self._flush_scheduled = True
            loop.call_soon(self._start_flush)
        return await future

    def _start_flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, {}
        for tenant, entries in pending.items():
            for lo in range(0, len(entries), 1000):
                task = asyncio.ensure_future(
                    self._flush(tenant, entries[lo : lo + 1000])
                )
                self._flushes.add(task)
                task.add_done_callback(self._flush_done)

    def _flush_done(self, task: asyncio.Future[None]) -> None:
        self._flushes.discard(task)
        if self._pending and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)

    async def _flush(
        self,
        tenant: str,
        entries: list[tuple[SubmitTicket, asyncio.Future[SubmitResult]]],
    ) -> None:
        try:
            results = await self.submit(
                tenant, [e[0] for e in entries], return_tickets=True
            )
        except BaseException as exc:
            for _, future in entries:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(entries, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _published(self, n: int) -> None:
        if self.metrics is not None and n:
            self.metrics.events_published_total.inc(n)

    async def get_ticket(self, tenant: str, ticket_id: str) -> Ticket:
        region = await self.ticket_region(tenant, ticket_id)
        h = await self._r.hgetall(keys.ticket_key(tenant, region, ticket_id))
        if not h:
            raise UnknownTicket(f"ticket {ticket_id!r} not found")
        return ticket_from_hash(h)

    async def transition(
        self,
        tenant: str,
        ticket_id: str,
        action: str,
        *,
        actor: str = "",
        expected_version: int = 0,
        argument: str = "",
    ) -> Ticket:
        """Apply a lifecycle action (accept, decline, start, complete, cancel) atomically.

        Raises ``UnknownTicket``, ``StaleVersion`` (expected_version not current),
        ``IllegalTransition`` (not allowed from the current status) or ``NotHolder``
        (``actor`` does not hold the ticket).
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        region = await self.ticket_region(tenant, ticket_id)
        ks, args = self._common(tenant, region)
        args += [ticket_id, action, actor, expected_version, argument]
        reply = await self._transition(keys=ks, args=args)
        code = reply[0]
        if code == "OK":
            self._published(1)
            return ticket_from_hash(pairs_to_dict(reply[1]))
        if code == "NOT_FOUND":
            raise UnknownTicket(f"ticket {ticket_id!r} not found")
        if code == "ABORTED":
            self._conflict("version")
            raise StaleVersion(
                f"ticket {ticket_id!r} is at version {reply[2]}, not {expected_version}"
            )
        if code == "NOT_HOLDER":
            holder = reply[2]
            raise NotHolder(
                f"ticket {ticket_id!r} is held by {holder or 'nobody'!r}, not {actor!r}",
                holder,
            )
        raise IllegalTransition(
            f"cannot {action} ticket {ticket_id!r} while it is {reply[1]}"
        )

    async def accept(
        self,
        tenant: str,
        ticket_id: str,
        technician_id: str = "",
        expected_version: int = 0,
    ) -> Ticket:
        return await self.transition(
            tenant,
            ticket_id,
            "accept",
            actor=technician_id,
            expected_version=expected_version,
        )

    async def cancel(
        self, tenant: str, ticket_id: str, reason: str = "", expected_version: int = 0
    ) -> Ticket:
        return await self.transition(
            tenant,
            ticket_id,
            "cancel",
            expected_version=expected_version,
            argument=reason,
        )

    async def complete(
        self,
        tenant: str,
        ticket_id: str,
        resolution: Resolution,
        technician_id: str = "",
        expected_version: int = 0,
    ) -> Ticket:
        return await self.transition(
            tenant,
            ticket_id,
            "complete",
            actor=technician_id,
            expected_version=expected_version,
            argument=resolution_json(resolution),
        )

    async def update_ticket(
        self, tenant: str, ticket: Ticket, read_version: int
    ) -> Ticket:
        """Replace the client fields of an open ticket read at ``read_version``.

        ``StaleVersion`` when it changed since (the caller re-reads and retries), or
        ``IllegalTransition`` when it is closed.
        """
        region = await self.ticket_region(tenant, ticket.ticket_id)
        ks, args = self._common(tenant, region)
        args += [
            ticket.ticket_id,
            read_version,
            ticket_body(ticket),
            ticket.priority,
            ticket.response_due_ms,
        ]
        reply = await self._update(keys=ks, args=args)
        if reply[0] == "OK":
            self._published(1)
            return ticket_from_hash(pairs_to_dict(reply[1]))
        if reply[0] == "NOT_FOUND":
            raise UnknownTicket(f"ticket {ticket.ticket_id!r} not found")
        if reply[0] == "RACE":
            self._conflict("version")
            raise StaleVersion(
                f"ticket {ticket.ticket_id!r} changed meanwhile (now version {reply[2]})"
            )
        raise IllegalTransition(
            f"cannot update ticket {ticket.ticket_id!r} while it is {reply[1]}"
        )

    async def list_tickets(
        self, tenant: str, flt: TicketFilter, page_size: int, page_token: str = ""
    ) -> Page[Ticket]:
        """Tickets matching ``flt`` ordered by (region, ticket id); at most ``page_size``."""
        fp = hashlib.sha256(repr(flt).encode()).hexdigest()[:16]
        start_region, after = "", ""
        if page_token:
            tok = _decode_token(page_token, fp)
            start_region, after = str(tok.get("r", "")), str(tok.get("a", ""))
        regions = [flt.region] if flt.region else await self.regions(tenant)
        regions = [r for r in regions if r >= start_region]
        out: list[Ticket] = []
        budget = _LIST_SCAN_BUDGET
        statuses = set(flt.statuses)
        for region in regions:
            cursor = after if region == start_region else ""
            prefix = keys.region_prefix(tenant, region)
            if flt.technician_id:
                held = sorted(
                    await self._r.zrange(
                        prefix + keys.TECH_QUEUE + flt.technician_id, 0, -1
                    )
                )
                candidates_all = [t for t in held if t > cursor]
            else:
                candidates_all = []
            while budget > 0:
                if flt.technician_id:
                    ids = candidates_all[: min(budget, 500)]
                    candidates_all = candidates_all[len(ids) :]
                else:
                    lo = f"({cursor}" if cursor else "-"
                    ids = await self._r.zrangebylex(
                        prefix + keys.TICKETS_ALL, lo, "+", 0, min(budget, 500)
                    )
                if not ids:
                    break
                budget -= len(ids)
                pipe = self._r.pipeline(transaction=False)
                for tid in ids:
                    pipe.hgetall(prefix + keys.TICKET + tid)
                for tid, h in zip(ids, await pipe.execute(), strict=True):
                    cursor = tid
                    if not h:
                        continue
                    t = ticket_from_hash(h)
                    if statuses and t.status not in statuses:
                        continue
                    if flt.priority and t.priority != flt.priority:
                        continue
                    out.append(t)
                    if len(out) >= page_size:
                        return Page(
                            tuple(out), _encode_token({"r": region, "a": tid, "f": fp})
                        )
            if budget <= 0:
                return Page(
                    tuple(out), _encode_token({"r": region, "a": cursor, "f": fp})
                )
        return Page(tuple(out), "")

    # --- technicians ----------------------------------------------------------------------

    async def upsert_technician(
        self, tenant: str, tech: Technician, expected_version: int = 0
    ) -> Technician:
        """Create or replace a technician (region immutable; capacity >= tickets held)."""
        await self._remember_tenant(tenant)
        claimed = await self._claim(
            keys=[keys.technician_region_key(tenant), keys.regions_key(tenant)],
            args=[tech.region, tech.technician_id],
        )
        if claimed[0]:
            exists = await self._r.exists(
                keys.technician_key(tenant, claimed[0], tech.technician_id)
            )
            if exists:
                raise FailedPrecondition(
                    f"technician {tech.technician_id!r} is in region {claimed[0]!r}; "
                    "remove it before re-creating it in another region"
                )
            # a stale claim (removed technician): take the id over
            await self._r.hset(
                keys.technician_region_key(tenant), tech.technician_id, tech.region
            )
        ks, args = self._common(tenant, tech.region)
        loc = tech.location
        args += [
            tech.technician_id,
            expected_version,
            technician_body(tech),
            tech.status.value,
            tech.capacity,
            shifts_json(tech.shifts),
            repr(loc.lat_deg) if loc else "",
            repr(loc.lon_deg) if loc else "",
        ]
        reply = await self._upsert_tech(keys=ks, args=args)
        if reply[0] == "ABORTED":
            self._conflict("version")
            raise StaleVersion(
                f"technician {tech.technician_id!r} is at version {reply[1]}"
            )
        if reply[0] == "CAPACITY":
            raise FailedPrecondition(
                f"technician {tech.technician_id!r} holds {reply[1]} open tickets, more than capacity {tech.capacity}"
            )
        self._published(1)
        return technician_from_hash(pairs_to_dict(reply[1]), reply[2])

    async def set_availability(
        self,
        tenant: str,
        technician_id: str,
        status: TechnicianStatus | None,
        shifts: Sequence[Shift] | None,
        expected_version: int = 0,
    ) -> Technician:
        region = await self.technician_region(tenant, technician_id)
        ks, args = self._common(tenant, region)
        args += [
            technician_id,
            expected_version,
            status.value if status else "",
            shifts_json(shifts) if shifts is not None else "",
        ]
        reply = await self._availability(keys=ks, args=args)
        if reply[0] == "NOT_FOUND":
            raise UnknownTechnician(f"technician {technician_id!r} not found")
        if reply[0] == "ABORTED":
            self._conflict("version")
            raise StaleVersion(f"technician {technician_id!r} is at version {reply[1]}")
        self._published(1)
        return technician_from_hash(pairs_to_dict(reply[1]), reply[2])

    async def report_locations(
        self, tenant: str, pings: Sequence[tuple[str, Location, int]]
    ) -> list[bool]:
        """Store pings ``(technician_id, location, measured_at_ms)``; False = older, ignored."""
        regions = {}
        for tech_id, _, _ in pings:
            if tech_id not in regions:
                regions[tech_id] = await self.technician_region(tenant, tech_id)
        # one pipeline on a single server; concurrent calls on a cluster (no EVALSHA in a
        # cluster pipeline), see dispatcher.cluster_client.call_script_batch
        replies = await call_script_batch(
            self._r,
            self._location,
            [
                (
                    [keys.technician_key(tenant, regions[tech_id], tech_id)],
                    [repr(loc.lat_deg), repr(loc.lon_deg), at_ms],
                )
                for tech_id, loc, at_ms in pings
            ],
        )
        out = []
        for (tech_id, _, _), r in zip(pings, replies, strict=True):
            if int(r) < 0:
                raise UnknownTechnician(f"technician {tech_id!r} not found")
            out.append(int(r) == 1)
        return out

    async def get_technician(self, tenant: str, technician_id: str) -> Technician:
        region = await self.technician_region(tenant, technician_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.hgetall(keys.technician_key(tenant, region, technician_id))
        pipe.zrange(keys.technician_queue_key(tenant, region, technician_id), 0, -1)
        h, queue = await pipe.execute()
        if not h:
            raise UnknownTechnician(f"technician {technician_id!r} not found")
        return technician_from_hash(h, queue)

    async def list_technicians(
        self,
        tenant: str,
        region: str,
        statuses: Sequence[TechnicianStatus],
        page_size: int,
        page_token: str = "",
    ) -> Page[Technician]:
        fp = hashlib.sha256(repr((region, sorted(statuses))).encode()).hexdigest()[:16]
        start_region, after = "", ""
        if page_token:
            tok = _decode_token(page_token, fp)
            start_region, after = str(tok.get("r", "")), str(tok.get("a", ""))
        regions = [region] if region else await self.regions(tenant)
        out: list[Technician] = []
        wanted = set(statuses)
        for reg in (r for r in regions if r >= start_region):
            cursor = after if reg == start_region else ""
            prefix = keys.region_prefix(tenant, reg)
            lo = f"({cursor}" if cursor else "-"
            ids = await self._r.zrangebylex(prefix + keys.TECHS_ALL, lo, "+")
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                pipe = self._r.pipeline(transaction=False)
                for tid in chunk:
                    pipe.hgetall(prefix + keys.TECH + tid)
                    pipe.zrange(prefix + keys.TECH_QUEUE + tid, 0, -1)
                replies = await pipe.execute()
                for k, tid in enumerate(chunk):
                    h, queue = replies[2 * k], replies[2 * k + 1]
                    if not h:
                        continue
                    t = technician_from_hash(h, queue)
                    if wanted and t.status not in wanted:
                        continue
                    out.append(t)
                    if len(out) >= page_size:
                        return Page(
                            tuple(out), _encode_token({"r": reg, "a": tid, "f": fp})
                        )
        return Page(tuple(out), "")

    async def remove_technician(
        self, tenant: str, technician_id: str, expected_version: int = 0
    ) -> list[str]:
        """Delete a technician; its ASSIGNED tickets return to QUEUED (their ids returned)."""
        region = await self.technician_region(tenant, technician_id)
        ks, args = self._common(tenant, region)
        args += [technician_id, expected_version]
        reply = await self._remove_tech(keys=ks, args=args)
        if reply[0] == "NOT_FOUND":
            raise UnknownTechnician(f"technician {technician_id!r} not found")
        if reply[0] == "ABORTED":
            self._conflict("version")
            raise StaleVersion(f"technician {technician_id!r} is at version {reply[1]}")
        if reply[0] == "BUSY":
            raise FailedPrecondition(
                f"technician {technician_id!r} holds ticket {reply[1]!r} in status {reply[2]}; "
                "it must be completed, declined or cancelled first"
            )
        self._published(1 + len(reply[1]))
        await self._r.hdel(keys.technician_region_key(tenant), technician_id)
        return [str(t) for t in reply[1]]

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
        UNASSIGNED, UNASSIGNABLE), in the same atomic step.
        """
        if not decisions:
            return CommitResult(())
        ks, args = self._common(tenant, region)
        args += [lease_token, solve_id, len(decisions)]
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
                    from dataclasses import replace

                    a = replace(
                        a,
                        technician_id=d.technician_id,
                        solve_id=a.solve_id or solve_id,
                    )
                asg = assignment_json(a)
            args += [
                d.ticket_id,
                expected_versions.tickets[d.ticket_id],
                d.technician_id,
                tech_version,
                d.assignment.position if d.assignment else 0,
                asg,
                d.unassigned_reason.value if not d.technician_id else "",
            ]
        flat = await self._commit(keys=ks, args=args)
        outcomes = tuple(
            DecisionOutcome(d.ticket_id, str(flat[2 * i]), int(flat[2 * i + 1]))
            for i, d in enumerate(decisions)
        )
        lease_lost = sum(1 for o in outcomes if o.code == "LEASE")
        self._conflict("lease", lease_lost)
        self._published(
            sum(
                1
                for o in outcomes
                if o.code in ("ASSIGNED", "REASSIGNED", "UNASSIGNED", "UNASSIGNABLE")
            )
        )
        self._conflict(
            "version", sum(1 for o in outcomes if o.code.startswith("STALE"))
        )
        return CommitResult(outcomes)

    # --- statistics -----------------------------------------------------------------------

    async def queue_stats(
        self, tenant: str, regions: Sequence[str], at_risk_margin_s: float
    ) -> list[RegionStats]:
        """Per region and priority: depth, oldest queued age, assigned, in progress, at risk."""
        now = now_ms()
        horizon = now + int(at_risk_margin_s * 1000)
        pipe = self._r.pipeline(transaction=False)
        for region in regions:
            p = keys.region_prefix(tenant, region)
            for prio in (1, 2, 3, 4):
                s = f"{p}{keys.STATUS_PRIO}"
                pipe.zcard(f"{s}QUEUED:{prio}")
                pipe.zcard(f"{s}ASSIGNED:{prio}")
                pipe.zcard(f"{s}ACCEPTED:{prio}")
                pipe.zcard(f"{s}IN_PROGRESS:{prio}")
                pipe.zrange(f"{s}QUEUED:{prio}", 0, 0, withscores=True)
                pipe.zcount(f"{p}{keys.DUE}{prio}", "-inf", now)
                pipe.zcount(f"{p}{keys.DUE}{prio}", f"({now}", horizon)
            pipe.zrange(p + keys.TECHS_ALL, 0, -1)
        replies = await pipe.execute()
        out: list[RegionStats] = []
        k = 0
        tech_lists: list[list[str]] = []
        per_region: list[list[PriorityStats]] = []
        for _ in regions:
            prios = []
            for prio in (1, 2, 3, 4):
                q, a, acc, ip, oldest, overdue, soon = replies[k : k + 7]
                k += 7
                age = max(0.0, (now - float(oldest[0][1])) / 1000.0) if oldest else 0.0
                prios.append(
                    PriorityStats(
                        prio,
                        int(q),
                        int(a) + int(acc),
                        int(ip),
                        age,
                        int(soon) + int(overdue),
                        int(overdue),
                    )
                )
            per_region.append(prios)
            tech_lists.append(list(replies[k]))
            k += 1
        pipe = self._r.pipeline(transaction=False)
        for region, techs in zip(regions, tech_lists, strict=True):
            for t in techs:
                pipe.hget(keys.technician_key(tenant, region, t), "status")
        statuses = await pipe.execute()
        j = 0
        for region, prios, techs in zip(regions, per_region, tech_lists, strict=True):
            st = statuses[j : j + len(techs)]
            j += len(techs)
            avail = sum(1 for s in st if s in ("AVAILABLE", "BUSY"))
            out.append(RegionStats(region, tuple(prios), len(techs), avail))
        return out
