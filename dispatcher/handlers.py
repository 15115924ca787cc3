"""Use cases of the live state (no gRPC): authorise, validate, derive, then call the store.

Every method takes the authenticated ``Principal``; its tenant scopes every key, so no call
can reach another tenant's data. Validation runs completely before anything is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from dispatcher import validation as v
from dispatcher.domain import (
    Page,
    RegionStats,
    Resolution,
    Role,
    Shift,
    SubmitResult,
    SubmitTicket,
    Technician,
    TechnicianStatus,
    Ticket,
    TicketFilter,
    TicketStatus,
)
from dispatcher.errors import (
    InvalidArgument,
    NotHolder,
    PermissionDenied,
    StaleVersion,
    UnknownTicket,
)
from dispatcher.store.codec import resolution_json, ticket_body
from dispatcher.store.policy import PolicyConflict, PolicyStore, PolicyVersion
from solver.policy import Policy, PolicyError, policy_from_dict, policy_to_dict

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dispatcher.domain import Location, Principal
    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.store.state import RedisStateStore

logger = logging.getLogger(__name__)

AT_RISK_MARGIN_S = 1800.0
"""Queue statistics count a not-started ticket at risk when its response is due within this."""
POLICY_CACHE_S = 5.0
"""How long a region's effective policy is reused for SLA derivation on submit."""
UPDATE_RETRIES = 3

STAFF = (Role.PLATFORM, Role.ADMIN)


def require(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise PermissionDenied(f"role {principal.role.value!r} may not do this")


def _own_technician(principal: Principal, technician_id: str, field: str) -> str:
    """The technician a call acts for: a technician app may only name itself."""
    if principal.role is Role.TECHNICIAN_APP:
        if technician_id and technician_id != principal.technician_id:
            raise PermissionDenied(
                f"{field}: a technician app acts only for its own technician"
            )
        return principal.technician_id
    return technician_id


def _due_ms(
    policy: Policy,
    priority: int,
    created_ms: int,
    response_due_ms: int = 0,
    resolution_due_ms: int = 0,
) -> tuple[int, int]:
    """``Policy.due_times`` in whole milliseconds (the store's unit)."""
    response, resolution = policy.due_times(
        priority, created_ms, response_due_ms, resolution_due_ms, per_second=1000
    )
    return int(response), int(resolution)


class Handlers:
    """The live-state use cases over one ``RedisStateStore``."""

    def __init__(self, store: RedisStateStore, metrics: DispatchMetrics) -> None:
        self.store = store
        self.policies = PolicyStore(store.redis)
        self.metrics = metrics
        self._policy_cache: dict[tuple[str, str], tuple[float, Policy]] = {}
        self._policy_loads: dict[tuple[str, str], asyncio.Future[PolicyVersion]] = {}

    async def _policy(self, tenant: str, region: str) -> Policy:
        """The region's effective policy, cached ``POLICY_CACHE_S``; concurrent misses share one read."""
        key = (tenant, region)
        hit = self._policy_cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < POLICY_CACHE_S:
            return hit[1]
        task = self._policy_loads.get(key)
        if task is not None:
            return (await asyncio.shield(task)).policy
        task = asyncio.ensure_future(self.policies.effective(tenant, region))
        self._policy_loads[key] = task
        try:
            policy = (await task).policy
        finally:
            self._policy_loads.pop(key, None)
        self._policy_cache[key] = (time.monotonic(), policy)
        return policy

    # --- tickets --------------------------------------------------------------------------

    async def submit(
        self, principal: Principal, items: Sequence[SubmitTicket], *, batch: bool
    ) -> list[SubmitResult]:
        """Validate every item, derive SLA due times, then store; one result per item."""
        require(principal, *STAFF)
        if batch and not items:
            raise InvalidArgument("requests", "must contain at least one item")
        if len(items) > v.MAX_BATCH:
            raise InvalidArgument(
                "requests", f"at most {v.MAX_BATCH} items, got {len(items)}"
            )
        need_assets = [
            i.ticket.asset_id
            for i in items
            if i.ticket.location is None and i.ticket.asset_id
        ]
        known = await self.store.asset_locations(principal.tenant, need_assets)
        ticket_ids: dict[str, int] = {}
        request_ids: dict[str, int] = {}
        prepared: list[SubmitTicket] = []
        now_ms = int(time.time() * 1000)
        for i, item in enumerate(items):
            prefix = f"requests[{i}]" if batch else ""
            tfield = f"{prefix}.ticket" if batch else "ticket"
            rfield = f"{prefix}.request_id" if batch else "request_id"
            t = item.ticket
            at_asset = known.get(t.asset_id) if t.location is None else None
            if at_asset is not None:
                t = dataclasses.replace(t, location=at_asset)
            v.validate_ticket(t, tfield)
            v.check_id(rfield, item.request_id, required=False)
            if t.ticket_id in ticket_ids:
                raise InvalidArgument(
                    f"{tfield}.ticket_id",
                    f"{t.ticket_id!r} also in requests[{ticket_ids[t.ticket_id]}]",
                )
            ticket_ids[t.ticket_id] = i
            if item.request_id:
                if item.request_id in request_ids:
                    raise InvalidArgument(
                        rfield,
                        f"{item.request_id!r} also in requests[{request_ids[item.request_id]}]",
                    )
                request_ids[item.request_id] = i
            response_due, resolution_due = t.response_due_ms, t.resolution_due_ms
            if not response_due or not resolution_due:
                policy = await self._policy(principal.tenant, t.region)
                response_due, resolution_due = _due_ms(
                    policy, t.priority, now_ms, response_due, resolution_due
                )
            prepared.append(
                SubmitTicket(
                    item.ticket,
                    item.request_id,
                    item.allow_duplicate or t.allow_duplicate,
                    response_due_ms=response_due,
                    resolution_due_ms=resolution_due,
                    location=at_asset,
                    received_ms=now_ms,  # created when its due times start
                )
            )
        if batch:
            results = await self.store.submit(principal.tenant, prepared)
        else:
            results = [await self.store.submit_one(principal.tenant, prepared[0])]
        learned: dict[str, Location] = {
            p.ticket.asset_id: p.ticket.location
            for p, r in zip(prepared, results, strict=True)
            if r.error is None
            and p.ticket.asset_id
            and p.ticket.location is not None
            and p.ticket.asset_id not in known
        }
        await self.store.remember_assets(principal.tenant, learned)
        return results

    async def get_ticket(self, principal: Principal, ticket_id: str) -> Ticket:
        v.check_id("ticket_id", ticket_id)
        ticket = await self.store.get_ticket(principal.tenant, ticket_id)
        if principal.role is Role.TECHNICIAN_APP:
            holder = ticket.assignment.technician_id if ticket.assignment else ""
            if holder != principal.technician_id or not ticket.status.is_open:
                raise PermissionDenied(
                    f"ticket {ticket_id!r} is not held by this technician"
                )
        return ticket

    async def list_tickets(
        self, principal: Principal, flt: TicketFilter, page_size: int, page_token: str
    ) -> Page[Ticket]:
        require(principal, *STAFF)
        if flt.region:
            v.check_name("region", flt.region)
        if flt.technician_id:
            v.check_id("technician_id", flt.technician_id)
        size = v.check_page_size("page_size", page_size)
        return await self.store.list_tickets(principal.tenant, flt, size, page_token)

    async def update_ticket(
        self,
        principal: Principal,
        ticket_id: str,
        patch: Mapping[str, Any],
        expected_version: int,
    ) -> Ticket:
        """Apply ``patch`` (domain field -> value) to an open ticket; re-validated as a whole."""
        require(principal, *STAFF)
        v.check_expected_version("expected_version", expected_version)
        v.check_id("ticket.ticket_id", ticket_id)
        # the store refuses a write over a change made since the read (StaleVersion): read
        # again and retry, unless the caller asked for one version
        for _ in range(UPDATE_RETRIES - 1):
            try:
                return await self._update_once(
                    principal, ticket_id, patch, expected_version
                )
            except StaleVersion:
                if expected_version:
                    raise
        return await self._update_once(principal, ticket_id, patch, expected_version)

    async def _update_once(
        self,
        principal: Principal,
        ticket_id: str,
        patch: Mapping[str, Any],
        expected_version: int,
    ) -> Ticket:
        """One read-patch-write of ``update_ticket``."""
        current = await self.store.get_ticket(principal.tenant, ticket_id)
        if expected_version and current.version != expected_version:
            raise StaleVersion(
                f"ticket {ticket_id!r} is at version {current.version}, not {expected_version}"
            )
        updated = dataclasses.replace(current, **dict(patch))
        if (
            "priority" in patch
            and "response_due_ms" not in patch
            and "resolution_due_ms" not in patch
        ):
            # a new priority brings its own SLA targets, counted from submission
            policy = await self._policy(principal.tenant, current.region)
            response_due, resolution_due = _due_ms(
                policy, updated.priority, current.created_at_ms
            )
            updated = dataclasses.replace(
                updated,
                response_due_ms=response_due,
                resolution_due_ms=resolution_due,
            )
        if updated.location is None and updated.asset_id:
            known = await self.store.asset_locations(
                principal.tenant, [updated.asset_id]
            )
            if updated.asset_id in known:
                updated = dataclasses.replace(updated, location=known[updated.asset_id])
        v.validate_ticket(updated, "ticket")
        return await self.store.update_ticket(
            principal.tenant, updated, current.version
        )

    async def lifecycle(
        self,
        principal: Principal,
        action: str,
        ticket_id: str,
        *,
        technician_id: str = "",
        expected_version: int = 0,
        reason: str = "",
        resolution: Resolution | None = None,
    ) -> Ticket:
        """accept / decline / start / complete (by the holder) or cancel, pend, resume
        (staff only)."""
        if action in ("cancel", "pend", "resume"):
            require(principal, *STAFF)
        v.check_expected_version("expected_version", expected_version)
        v.check_id("ticket_id", ticket_id)
        v.check_id("technician_id", technician_id, required=False)
        actor = _own_technician(principal, technician_id, "technician_id")
        argument = reason
        if action in ("decline", "cancel", "pend"):
            v.check_text("reason", reason, v.MAX_REASON)
            if action == "decline" and not reason.strip():
                raise InvalidArgument("reason", "is required")
        if action == "complete":
            if resolution is None:
                raise InvalidArgument("resolution", "is required")
            v.check_text("resolution.notes", resolution.notes, v.MAX_TEXT)
            argument = resolution_json(resolution)
        if action == "resume":
            argument, expected_version = await self._resumed(
                principal.tenant, ticket_id, expected_version
            )
        try:
            return await self.store.transition(
                principal.tenant,
                ticket_id,
                action,
                actor=actor,
                expected_version=expected_version,
                argument=argument,
            )
        except NotHolder as exc:
            if principal.role is Role.TECHNICIAN_APP:
                raise PermissionDenied(
                    f"ticket {ticket_id!r} is not held by this technician"
                ) from exc
            raise
        except UnknownTicket:
            raise

    async def _resumed(
        self, tenant: str, ticket_id: str, expected_version: int
    ) -> tuple[str, int]:
        """The resume argument (body and response due with the clock moved by the wait)
        and the version it was computed from (the transition refuses a later one)."""
        t = await self.store.get_ticket(tenant, ticket_id)
        if expected_version and t.version != expected_version:
            raise StaleVersion(
                f"ticket {ticket_id!r} is at version {t.version}, not {expected_version}"
            )
        if t.status is not TicketStatus.PENDING:
            return "{}", t.version  # the transition answers ILLEGAL
        policy = await self._policy(tenant, t.region)
        response, resolution = policy.resumed_due_times(
            t.priority,
            (t.response_due_ms, t.resolution_due_ms),
            t.pending_since_ms,
            time.time() * 1000.0,
            per_second=1000.0,
        )
        body = ticket_body(
            t, response_due_ms=int(response), resolution_due_ms=int(resolution)
        )
        return json.dumps({"body": body, "due": int(response)}), t.version

    # --- technicians ----------------------------------------------------------------------

    async def upsert_technician(
        self, principal: Principal, tech: Technician, expected_version: int
    ) -> Technician:
        require(principal, *STAFF)
        v.check_expected_version("expected_version", expected_version)
        v.validate_technician(tech)
        return await self.store.upsert_technician(
            principal.tenant, tech, expected_version
        )

    async def report_locations(
        self,
        principal: Principal,
        pings: Sequence[tuple[str, Location, int]],
        field: str = "",
    ) -> list[bool]:
        """Validate and store location pings ``(technician_id, location, measured_ms)``."""
        clean: list[tuple[str, Location, int]] = []
        now_ms = int(time.time() * 1000)
        for i, (tech_id, loc, at_ms) in enumerate(pings):
            prefix = f"{field}[{i}]." if field else ""
            v.check_id(
                f"{prefix}technician_id",
                tech_id,
                required=principal.role is not Role.TECHNICIAN_APP,
            )
            tech_id = _own_technician(principal, tech_id, f"{prefix}technician_id")
            v.check_location(f"{prefix}location", loc)
            v.check_time(f"{prefix}reported_at_ms", at_ms)
            if at_ms > now_ms + 60_000:
                raise InvalidArgument(
                    f"{prefix}reported_at_ms", "is more than a minute in the future"
                )
            clean.append((tech_id, loc, at_ms or now_ms))
        if not clean:
            return []
        return await self.store.report_locations(principal.tenant, clean)

    async def set_availability(
        self,
        principal: Principal,
        technician_id: str,
        status: TechnicianStatus | None,
        shifts: Sequence[Shift] | None,
        expected_version: int,
    ) -> Technician:
        v.check_expected_version("expected_version", expected_version)
        v.check_id(
            "technician_id",
            technician_id,
            required=principal.role is not Role.TECHNICIAN_APP,
        )
        technician_id = _own_technician(principal, technician_id, "technician_id")
        if shifts is not None:
            v.check_shifts("shifts", shifts)
        if status is None and shifts is None:
            raise InvalidArgument("update_mask", "names nothing to change")
        return await self.store.set_availability(
            principal.tenant, technician_id, status, shifts, expected_version
        )

    async def get_technician(
        self, principal: Principal, technician_id: str
    ) -> Technician:
        v.check_id(
            "technician_id",
            technician_id,
            required=principal.role is not Role.TECHNICIAN_APP,
        )
        technician_id = _own_technician(principal, technician_id, "technician_id")
        return await self.store.get_technician(principal.tenant, technician_id)

    async def list_technicians(
        self,
        principal: Principal,
        region: str,
        statuses: Sequence[TechnicianStatus],
        page_size: int,
        page_token: str,
    ) -> Page[Technician]:
        require(principal, *STAFF)
        if region:
            v.check_name("region", region)
        size = v.check_page_size("page_size", page_size)
        return await self.store.list_technicians(
            principal.tenant, region, statuses, size, page_token
        )

    async def remove_technician(
        self, principal: Principal, technician_id: str, expected_version: int
    ) -> list[str]:
        require(principal, *STAFF)
        v.check_expected_version("expected_version", expected_version)
        v.check_id("technician_id", technician_id)
        return await self.store.remove_technician(
            principal.tenant, technician_id, expected_version
        )

    # --- insight --------------------------------------------------------------------------

    async def queue_stats(
        self, principal: Principal, regions: Sequence[str]
    ) -> list[RegionStats]:
        require(principal, *STAFF)
        for i, r in enumerate(regions):
            v.check_name(f"regions[{i}]", r)
        wanted = list(regions) or await self.store.regions(principal.tenant)
        stats = await self.store.queue_stats(principal.tenant, wanted, AT_RISK_MARGIN_S)
        self.publish_queue_metrics(principal.tenant, stats)
        return stats

    def publish_queue_metrics(self, tenant: str, stats: Sequence[RegionStats]) -> None:
        for s in stats:
            for p in s.priorities:
                labels = {
                    "tenant": tenant,
                    "region": s.region,
                    "priority": f"P{p.priority}",
                }
                self.metrics.queue_depth.labels(**labels).set(p.queued)
                self.metrics.queue_oldest_age_seconds.labels(**labels).set(
                    p.oldest_queued_age_s
                )
            self.metrics.queue_at_risk.labels(tenant=tenant, region=s.region).set(
                sum(p.at_risk for p in s.priorities)
            )

    async def refresh_queue_metrics(self) -> None:
        """Recompute the queue gauges of every tenant and region (background, periodic)."""
        for tenant in await self.store.tenants():
            regions = await self.store.regions(tenant)
            if regions:
                self.publish_queue_metrics(
                    tenant,
                    await self.store.queue_stats(tenant, regions, AT_RISK_MARGIN_S),
                )

    # --- policy ---------------------------------------------------------------------------

    async def get_policy(self, principal: Principal, region: str) -> PolicyVersion:
        require(principal, *STAFF)
        if region:
            v.check_name("region", region)
            return await self.policies.effective(principal.tenant, region)
        return await self.policies.get(principal.tenant)

    async def update_policy(
        self,
        principal: Principal,
        region: str,
        sections: Mapping[str, Any],
        replace: Sequence[str],
        expected_version: int,
        comment: str,
    ) -> PolicyVersion:
        """Replace the ``sections`` named in ``replace`` (every one when empty; names of the
        policy's dict form, ``solver.policy.policy_to_dict``) and store a new version."""
        require(principal, Role.ADMIN)
        v.check_expected_version("expected_version", expected_version)
        if region:
            v.check_name("policy.region", region)
        v.check_text("policy.comment", comment, v.MAX_REASON)
        current = await self.policies.get(principal.tenant, region)
        if replace:
            data = policy_to_dict(current.policy)
            for name in replace:
                data[name] = sections[name]
        else:
            data = dict(sections)
        try:
            policy = policy_from_dict(data)
        except PolicyError as exc:
            # the path of the policy's dict form; api.convert maps it onto the .proto
            raise InvalidArgument(f"policy.{exc.field}", exc.message) from None
        except (ValueError, TypeError) as exc:  # solver.model checks its dataclasses
            raise InvalidArgument("policy", str(exc)) from None
        v.check_policy_names(policy)
        try:
            stored = await self.policies.update(
                principal.tenant,
                policy,
                updated_by=principal.name or principal.role.value,
                scope=region,
                expected_version=expected_version or None,
                comment=comment,
            )
        except PolicyConflict as exc:
            raise StaleVersion(str(exc)) from None
        self._policy_cache.pop((principal.tenant, region), None)
        return stored

    async def policy_history(
        self, principal: Principal, region: str, page_size: int, page_token: str
    ) -> tuple[list[PolicyVersion], str]:
        require(principal, *STAFF)
        if region:
            v.check_name("region", region)
        size = v.check_page_size("page_size", page_size, default=20)
        offset = 0
        if page_token:
            if not page_token.isdigit():
                raise InvalidArgument(
                    "page_token", "is not a token this service issued"
                )
            offset = int(page_token)
        versions = await self.policies.history(
            principal.tenant, region, limit=offset + size + 1
        )
        page = versions[offset : offset + size]
        more = len(versions) > offset + size
        return page, str(offset + size) if more else ""
