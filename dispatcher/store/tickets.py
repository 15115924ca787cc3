"""Ticket operations of the Redis state store: submit (idempotent, batched, coalesced),
reads, lists, updates, lifecycle transitions, queue statistics."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any

from dispatcher.backend import observed as redis_metrics
from dispatcher.backend.cluster import call_script_batch, is_cluster_client
from dispatcher.domain import (
    SUBMITTED_REASON,
    SUBMITTED_STATUS,
    SUBMITTED_VERSION,
    Location,
    Page,
    PriorityStats,
    RegionStats,
    Resolution,
    SubmitResult,
    SubmitTicket,
    Ticket,
    TicketFilter,
    TicketStatus,
)
from dispatcher.errors import (
    AlreadyExists,
    IllegalTransition,
    NotHolder,
    StaleVersion,
    UnknownTicket,
)
from dispatcher.store import keys
from dispatcher.store.codec import (
    dumps,
    location_from_text,
    location_text,
    pairs_to_dict,
    request_digest,
    resolution_json,
    ticket_body,
    ticket_from_hash,
)
from dispatcher.store.outcomes import ScriptReply

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


from dispatcher.store.base import (
    ACTIONS,
    LINGER_BELOW,
    LINGER_S,
    LIST_SCAN_BUDGET,
    MAX_FLUSHES_IN_FLIGHT,
    STATUS_BY_NAME,
    StoreBase,
    decode_page_token,
    encode_page_token,
    now_ms,
)


def _moving(ticket_id: str) -> StaleVersion:
    return StaleVersion(
        f"ticket {ticket_id!r} is being moved to a neighbouring region (escalation); "
        "read it again and retry"
    )


def _digest(item: SubmitTicket) -> str:
    """The request digest kept with the item's request-id reservation: of the ticket as
    the client sent it (before the SLA due times and a learned location)."""
    return request_digest(item.ticket, item.allow_duplicate)


def _as_created(item: SubmitTicket, now: int) -> Ticket:
    """The ticket exactly as the submit script stores it (same fields as a read-back)."""
    t = item.ticket
    # every client-given field in declaration order (half the cost of dataclasses.replace
    # on this hot path; test_submit_answer_equals_the_stored_ticket checks it field by field)
    return Ticket(
        t.ticket_id,
        t.region,
        t.priority,
        t.work_duration_s,
        t.category,
        t.title,
        t.description,
        t.required_skills,
        item.location or t.location,
        t.asset_id,
        t.customer_tier,
        t.window_start_ms,
        t.window_end_ms,
        item.response_due_ms or t.response_due_ms,
        item.resolution_due_ms or t.resolution_due_ms,
        t.preferred_technician_ids,
        t.excluded_technician_ids,
        t.attributes,
        t.allow_duplicate or item.allow_duplicate,
        status=SUBMITTED_STATUS,
        version=SUBMITTED_VERSION,
        unassigned_reason=SUBMITTED_REASON,
        created_at_ms=now,
        updated_at_ms=now,
    )


def _replayed(
    item: SubmitTicket, original: Sequence[Any], with_ticket: bool
) -> SubmitResult:
    """A retried submit's answer: the original one, the ticket exactly as that submit
    stored it (version 1, QUEUED), however it changed since. ``original`` is what the
    reservation kept: the submit's clock, derived due times and the location learned from
    the asset (none in a reservation of an older version); the rest is the retry's
    payload, the same as the original's (the request digest matched)."""
    created, response_due, resolution_due = (int(x) for x in original[:3])
    first = dataclasses.replace(
        item,
        response_due_ms=response_due,
        resolution_due_ms=resolution_due,
        location=location_from_text(str(original[3])) if len(original) > 3 else None,
    )
    ticket = _as_created(first, created)
    return SubmitResult(
        ticket.ticket_id,
        ticket.version,
        ticket.status,
        replayed=True,
        ticket=ticket if with_ticket else None,
    )


class TicketStore(StoreBase):
    """Tickets: every change one Lua script with its event (see ``store.lua``)."""

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
            loc = location_from_text(str(value or ""))
            if loc is not None:
                out[asset] = loc
        return out

    async def remember_assets(
        self, tenant: str, locations: Mapping[str, Location]
    ) -> None:
        if locations:
            await self._r.hset(
                keys.assets_key(tenant),
                mapping={a: location_text(loc) for a, loc in locations.items()},
            )

    # --- tickets --------------------------------------------------------------------------

    @property
    def is_cluster(self) -> bool:
        """True on Redis Cluster: tenant-wide keys then live in another slot than a region's."""
        return is_cluster_client(self.redis)

    async def submit(
        self,
        tenant: str,
        items: Sequence[SubmitTicket],
        *,
        return_tickets: bool = False,
    ) -> list[SubmitResult]:
        """Store validated tickets (any regions); one result per item, in order.

        The items of one region form one group of the submit script; on a single Redis
        node every group goes in one script call, on Redis Cluster each in its own (a
        region's keys share one slot), every call in one round trip. A group that fails
        (e.g. Redis out of memory, a broken key of its region) answers its own items with
        its error, the others are answered with what they did. When every group failed,
        the error is raised.

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
        # once per call: the client's type check costs ~2-4 us, and was made twice per region
        cluster = self.is_cluster
        groups: list[tuple[str, list[int]]] = []  # region, its items
        for region, idx in by_region.items():
            if cluster:
                idx = await self._claim_ids(
                    tenant, region, items, idx, results, return_tickets
                )
            if idx:
                groups.append((region, idx))
        # one call on a single node; one per region on a cluster (a call's keys, one slot)
        calls_of = (
            [[group] for group in groups] if cluster else [groups] if groups else []
        )
        planned: list[tuple[list[tuple[str, list[int]]], int]] = []  # groups, clock
        calls: list[tuple[list[str], list[Any]]] = []
        for call_groups in calls_of:
            ks, args = self._common(tenant, call_groups[0][0])
            args += [
                self.request_ttl_s,
                "" if cluster else keys.ticket_region_key(tenant),
                keys.regions_key(tenant),
                "1" if return_tickets else "0",
                dumps(
                    [
                        [
                            keys.region_prefix(tenant, region),
                            region,
                            _submit_items(items, idx),
                        ]
                        for region, idx in call_groups
                    ]
                ),
            ]
            planned.append((call_groups, int(args[1])))
            calls.append((ks, args))
        # every call in one round trip (one pipeline; see call_script_batch)
        replies_by_call = (
            await call_script_batch(
                self.redis, self._submit, calls, return_exceptions=True
            )
            if calls
            else []
        )
        # per group: region, items, clock, its replies or its error
        answered: list[tuple[str, list[int], int, Any]] = []
        for (call_groups, now), replies in zip(planned, replies_by_call, strict=True):
            for n, (region, idx) in enumerate(call_groups):
                # a failed call fails each of its groups; a failed group is an error reply
                group = replies if isinstance(replies, Exception) else replies[n]
                if isinstance(group, Exception) and not isinstance(replies, Exception):
                    redis_metrics.count_error(self.metrics, group)
                answered.append((region, idx, now, group))
        failed = [group for *_, group in answered if isinstance(group, Exception)]
        if failed and len(failed) == len(answered):
            raise failed[0]  # as a lone call would
        for region, idx, now, group in answered:
            if isinstance(group, Exception):  # this region's group did not run through
                for i in idx:
                    results[i] = SubmitResult(items[i].ticket.ticket_id, error=group)
                continue
            for i, reply in zip(idx, group, strict=True):
                results[i] = await self._result_of(
                    tenant, region, items[i], now, reply, return_tickets
                )
            self._published(sum(1 for reply in group if reply[0] == ScriptReply.OK))
        return [r for r in results if r is not None]

    async def _claim_ids(
        self,
        tenant: str,
        region: str,
        items: Sequence[SubmitTicket],
        idx: list[int],
        results: list[SubmitResult | None],
        return_tickets: bool,
    ) -> list[int]:
        """Redis Cluster: claim the items' ids tenant-wide before the region's script (the
        claims live in another slot); answer the items whose id another region holds in
        ``results`` and return the others."""
        claimed = await self._claim(
            keys=[keys.ticket_region_key(tenant), keys.regions_key(tenant)],
            args=[region, *(items[i].ticket.ticket_id for i in idx)],
        )
        for i, other in zip(idx, claimed, strict=True):
            if other:
                tid = items[i].ticket.ticket_id
                results[i] = await self._moved_replay(
                    tenant, region, items[i], return_tickets
                ) or SubmitResult(
                    tid,
                    error=AlreadyExists(f"ticket {tid!r} exists in region {other!r}"),
                )
        return [i for i in idx if results[i] is None]

    async def _result_of(
        self,
        tenant: str,
        region: str,
        item: SubmitTicket,
        now: int,
        reply: Sequence[Any],
        return_tickets: bool,
    ) -> SubmitResult:
        """One item's answer from its submit script reply (code, id, version, status, extra)."""
        code, tid, version, status, extra = reply
        st = STATUS_BY_NAME.get(status, TicketStatus.QUEUED)
        if code == ScriptReply.OK:
            self._cache_region(tenant, tid, region)
            # as stored, without reading it back
            created = item.received_ms or now
            ticket = _as_created(item, created) if return_tickets else None
            return SubmitResult(tid, int(version), st, ticket=ticket)
        if code == ScriptReply.REPLAY:
            return _replayed(item, extra, return_tickets)
        if code == ScriptReply.REPLAY_CURRENT:
            ticket = (
                ticket_from_hash(pairs_to_dict(extra))
                if return_tickets and isinstance(extra, list) and extra
                else None
            )
            if not status:  # the ticket has moved region since (widening)
                ticket = await self.get_ticket(tenant, tid)
                version, st = ticket.version, ticket.status
                if not return_tickets:
                    ticket = None
            return SubmitResult(tid, int(version), st, replayed=True, ticket=ticket)
        if code == ScriptReply.MISMATCH:
            return SubmitResult(
                tid,
                error=AlreadyExists(
                    f"request_id {item.request_id!r} was already used for "
                    f"a different request (ticket {extra!r}); a retry must "
                    "repeat the same request, a new request needs a new "
                    "request_id"
                ),
            )
        if code == ScriptReply.CONFLICT:
            return SubmitResult(
                tid, error=AlreadyExists(f"ticket {tid!r} exists in region {extra!r}")
            )
        return SubmitResult(
            tid, int(version), st, error=AlreadyExists(f"ticket {tid!r} already exists")
        )

    async def _moved_replay(
        self, tenant: str, region: str, item: SubmitTicket, return_tickets: bool
    ) -> SubmitResult | None:
        """On Redis Cluster, a retried submit (same request id and payload) of a ticket that
        has moved region since: the ticket where it is now; None when it is no retry."""
        if not item.request_id:
            return None
        tid = item.ticket.ticket_id
        held = await self._r.get(keys.request_key(tenant, region, item.request_id))
        if not held:
            return None
        held_id, _, rest = str(held).partition("\t")
        held_digest, *original = rest.split("\t")
        if held_id != tid or (held_digest and held_digest != _digest(item)):
            return None
        if len(original) >= 3:
            return _replayed(item, original, return_tickets)
        ticket = await self.get_ticket(tenant, tid)
        return SubmitResult(
            tid,
            ticket.version,
            ticket.status,
            replayed=True,
            ticket=ticket if return_tickets else None,
        )

    async def submit_one(self, tenant: str, item: SubmitTicket) -> SubmitResult:
        """Submit one ticket, sharing a script call with concurrent submits.

        Adaptive batching: while ``MAX_FLUSHES_IN_FLIGHT`` script calls are running, new
        unary submits wait and go out together in the next one (one Redis round trip for
        all of them), after up to ``LINGER_S`` more when few are waiting; when idle, a
        submit goes out on the next loop tick, alone. Each item is still applied and
        answered on its own, exactly as if it had been sent alone.
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
            loop = asyncio.get_running_loop()
            if sum(len(e) for e in self._pending.values()) < LINGER_BELOW:
                loop.call_later(LINGER_S, self._start_flush)  # under load: gather more
            else:
                loop.call_soon(self._start_flush)

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
                if future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:  # the flush itself was cancelled (shutdown): so are its waiters
                    future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(entries, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def get_ticket(self, tenant: str, ticket_id: str) -> Ticket:
        async def read(region: str) -> Ticket:
            h = await self._r.hgetall(keys.ticket_key(tenant, region, ticket_id))
            if not h:
                raise UnknownTicket(f"ticket {ticket_id!r} not found")
            return ticket_from_hash(h)

        return await self.in_ticket_region(tenant, ticket_id, read)

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

        async def apply(region: str) -> Any:
            ks, args = self._common(tenant, region)
            args += [ticket_id, action, actor, expected_version, argument]
            reply = await self._transition(keys=ks, args=args)
            if reply[0] == ScriptReply.NOT_FOUND:
                raise UnknownTicket(f"ticket {ticket_id!r} not found")
            return reply

        reply = await self.in_ticket_region(tenant, ticket_id, apply)
        code = reply[0]
        if code == ScriptReply.OK:
            self._published(1)
            return ticket_from_hash(pairs_to_dict(reply[1]))
        if code == ScriptReply.NOT_FOUND:
            raise UnknownTicket(f"ticket {ticket_id!r} not found")
        if code == ScriptReply.MOVING:
            raise _moving(ticket_id)
        if code == ScriptReply.ABORTED:
            self._conflict("version")
            raise StaleVersion(
                f"ticket {ticket_id!r} is at version {reply[2]}, not {expected_version}"
            )
        if code == ScriptReply.NOT_HOLDER:
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

        async def apply(region: str) -> Any:
            ks, args = self._common(tenant, region)
            args += [
                ticket.ticket_id,
                read_version,
                ticket_body(dataclasses.replace(ticket, region=region)),
                ticket.priority,
                ticket.response_due_ms,
            ]
            reply = await self._update(keys=ks, args=args)
            if reply[0] == ScriptReply.NOT_FOUND:
                raise UnknownTicket(f"ticket {ticket.ticket_id!r} not found")
            return reply

        reply = await self.in_ticket_region(tenant, ticket.ticket_id, apply)
        if reply[0] == ScriptReply.OK:
            self._published(1)
            return ticket_from_hash(pairs_to_dict(reply[1]))
        if reply[0] == ScriptReply.NOT_FOUND:
            raise UnknownTicket(f"ticket {ticket.ticket_id!r} not found")
        if reply[0] == ScriptReply.MOVING:
            raise _moving(ticket.ticket_id)
        if reply[0] == ScriptReply.RACE:
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
            tok = decode_page_token(page_token, fp)
            start_region, after = str(tok.get("r", "")), str(tok.get("a", ""))
        regions = [flt.region] if flt.region else await self.regions(tenant)
        regions = [r for r in regions if r >= start_region]
        out: list[Ticket] = []
        budget = LIST_SCAN_BUDGET
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
                            tuple(out),
                            encode_page_token({"r": region, "a": tid, "f": fp}),
                        )
            if budget <= 0:
                return Page(
                    tuple(out), encode_page_token({"r": region, "a": cursor, "f": fp})
                )
        return Page(tuple(out), "")

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
                pipe.zcard(f"{s}PENDING:{prio}")
        # technicians and those on duty: one script call per region (all in one round
        # trip), not a read per technician
        calls = [
            (
                [keys.region_prefix(tenant, r) + keys.TECHS_ALL],
                [keys.region_prefix(tenant, r)],
            )
            for r in regions
        ]
        replies, counts = await asyncio.gather(
            pipe.execute(), call_script_batch(self.redis, self._on_duty, calls)
        )
        out: list[RegionStats] = []
        k = 0
        for region, (total, on_duty) in zip(regions, counts, strict=True):
            prios = []
            for prio in (1, 2, 3, 4):
                q, a, acc, ip, oldest, overdue, soon, pending = replies[k : k + 8]
                k += 8
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
                        int(pending),
                    )
                )
            out.append(RegionStats(region, tuple(prios), int(total), int(on_duty)))
        return out


def _submit_items(items: Sequence[SubmitTicket], idx: list[int]) -> list[list[Any]]:
    """One region's items for the submit script: [id, request id, body, priority, response
    due, request digest, resolution due, learned location, created (0 = the call's clock)]
    per item."""
    return [
        [
            items[i].ticket.ticket_id,
            items[i].request_id,
            ticket_body(
                items[i].ticket,
                response_due_ms=items[i].response_due_ms,
                resolution_due_ms=items[i].resolution_due_ms,
                allow_duplicate=items[i].allow_duplicate,
                location=items[i].location,
            ),
            items[i].ticket.priority,
            items[i].response_due_ms or items[i].ticket.response_due_ms,
            _digest(items[i]) if items[i].request_id else "",
            items[i].resolution_due_ms or items[i].ticket.resolution_due_ms,
            location_text(items[i].location),
            items[i].received_ms,
        ]
        for i in idx
    ]
