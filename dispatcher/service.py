"""gRPC servicers of dispatch.v1: convert -> handler -> convert back; one error-mapping table.

Every call goes through ``_Base.call``: admission (bounded in-flight calls, else
RESOURCE_EXHAUSTED), authentication (metadata -> principal), the client's deadline, and the
mapping of domain errors to status codes (``ERROR_CODES``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dispatcher import convert
from dispatcher import events as ev
from dispatcher.auth import Authenticator, AuthGate
from dispatcher.domain import Role, SubmitTicket, TicketFilter
from dispatcher.errors import (
    AlreadyExists,
    DispatchError,
    FailedPrecondition,
    IllegalTransition,
    InvalidArgument,
    NotFound,
    NotImplementedYet,
    OutOfRange,
    Overloaded,
    PermissionDenied,
    StaleVersion,
    Unauthenticated,
)
from dispatcher.handlers import Handlers
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
from dispatcher.store import RedisStateStore
from dispatcher.validation import check_name

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from dispatcher.call_observer import ObservedServer
    from dispatcher.context import AppContext
    from dispatcher.domain import Principal

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT_DEFAULT = 512
"""Unary calls handled at once before new ones are shed with RESOURCE_EXHAUSTED."""
QUEUE_METRICS_INTERVAL_S = 5.0
LOCATION_CHUNK = 200

ERROR_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (StaleVersion, grpc.StatusCode.ABORTED),
    (OutOfRange, grpc.StatusCode.OUT_OF_RANGE),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (NotImplementedYet, grpc.StatusCode.UNIMPLEMENTED),
    (TimeoutError, grpc.StatusCode.DEADLINE_EXCEEDED),
    # the Redis client's connection pool is full: shed load (before its base class below)
    (MaxConnectionsError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (RedisConnectionError, grpc.StatusCode.UNAVAILABLE),
    (RedisTimeoutError, grpc.StatusCode.UNAVAILABLE),
)
"""Domain error -> gRPC status code (first match wins; subclasses before bases)."""

_REJECT_REASONS = {
    grpc.StatusCode.RESOURCE_EXHAUSTED: "overload",
    grpc.StatusCode.UNAUTHENTICATED: "unauthenticated",
    grpc.StatusCode.PERMISSION_DENIED: "permission_denied",
    grpc.StatusCode.INVALID_ARGUMENT: "invalid_argument",
    grpc.StatusCode.DEADLINE_EXCEEDED: "deadline_exceeded",
}


def status_code_for(exc: BaseException) -> grpc.StatusCode | None:
    for cls, code in ERROR_CODES:
        if isinstance(exc, cls):
            return code
    return None


class Admission:
    """Counts unary calls in flight; sheds the ones above ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0


def get_authenticator(ctx: AppContext) -> Authenticator:
    """The context's authenticator, built once from ``settings.auth_config``."""
    auth = getattr(ctx, "dispatch_authenticator", None)
    if auth is None:
        auth = Authenticator.from_file(ctx.settings.auth_config)
        ctx.dispatch_authenticator = auth  # type: ignore[attr-defined]
    return auth


def auth_gate(ctx: AppContext) -> AuthGate:
    """Refuses dispatch.v1 calls without a valid credential early (before a client stream
    is read); servicers still resolve the principal themselves."""

    def rejected() -> None:
        ctx.metrics.rejected_requests_total.labels(reason="unauthenticated").inc()

    return AuthGate(get_authenticator(ctx), on_reject=rejected)


def get_admission(ctx: AppContext) -> Admission:
    adm = getattr(ctx, "dispatch_admission", None)
    if adm is None:
        adm = Admission(
            int(getattr(ctx.settings, "max_in_flight", MAX_IN_FLIGHT_DEFAULT))
        )
        ctx.dispatch_admission = adm  # type: ignore[attr-defined]
    return adm


class _Base:
    def __init__(self, ctx: AppContext, handlers: Handlers) -> None:
        self.ctx = ctx
        self.h = handlers
        self.auth = get_authenticator(ctx)
        self.admission = get_admission(ctx)

    def _principal(self, context: grpc.aio.ServicerContext) -> Principal:
        return self.auth.authenticate(context.invocation_metadata())

    async def _abort(
        self, context: grpc.aio.ServicerContext, exc: BaseException
    ) -> None:
        code = status_code_for(exc)
        if code is None:
            raise exc
        reason = _REJECT_REASONS.get(code)
        if reason is not None:
            self.ctx.metrics.rejected_requests_total.labels(reason=reason).inc()
        await context.abort(code, str(exc) or type(exc).__name__)

    @contextlib.asynccontextmanager
    async def call(
        self, context: grpc.aio.ServicerContext, *, admit: bool = True
    ) -> AsyncIterator[Principal]:
        """Admission, authentication, deadline and error mapping around one call's body."""
        admitted = False
        try:
            if admit:
                if self.admission.in_flight >= self.admission.limit:
                    raise Overloaded(
                        f"server busy ({self.admission.limit} calls in flight); retry with backoff"
                    )
                self.admission.in_flight += 1
                admitted = True
            principal = self._principal(context)
            remaining = context.time_remaining() if admit else None
            if remaining is None:
                yield principal
            elif remaining <= 0:
                raise TimeoutError("deadline already expired")
            else:
                async with asyncio.timeout(remaining):
                    yield principal
        except (
            DispatchError,
            TimeoutError,
            RedisConnectionError,
            RedisTimeoutError,
        ) as exc:
            await self._abort(context, exc)
        finally:
            if admitted:
                self.admission.in_flight -= 1


class TicketService(_Base, pb_grpc.TicketServiceServicer):
    async def SubmitTicket(
        self, request: pb.SubmitTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitTicketResponse:
        async with self.call(context) as principal:
            if not request.HasField("ticket"):
                raise InvalidArgument("ticket", "is required")
            item = SubmitTicket(
                convert.ticket_from_pb(request.ticket),
                request.request_id,
                request.allow_duplicate,
            )
            (result,) = await self.h.submit(principal, [item], batch=False)
            if result.error is not None:
                raise result.error
            ticket = result.ticket or await self.h.store.get_ticket(
                principal.tenant, result.ticket_id
            )
            return pb.SubmitTicketResponse(
                ticket=convert.ticket_to_pb(ticket), replayed=result.replayed
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def BatchSubmitTickets(
        self, request: pb.BatchSubmitTicketsRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchSubmitTicketsResponse:
        async with self.call(context) as principal:
            items = []
            for i, r in enumerate(request.requests):
                if not r.HasField("ticket"):
                    raise InvalidArgument(f"requests[{i}].ticket", "is required")
                try:
                    ticket = convert.ticket_from_pb(r.ticket, f"requests[{i}].ticket")
                except InvalidArgument as exc:
                    raise exc from None
                items.append(SubmitTicket(ticket, r.request_id, r.allow_duplicate))
            results = await self.h.submit(principal, items, batch=True)
            out = pb.BatchSubmitTicketsResponse()
            for res in results:
                code = (
                    status_code_for(res.error)
                    if res.error is not None
                    else grpc.StatusCode.OK
                )
                out.results.add(
                    ticket_id=res.ticket_id,
                    code=(code or grpc.StatusCode.INTERNAL).value[0],
                    message=str(res.error) if res.error is not None else "",
                    replayed=res.replayed,
                    version=res.version,
                    status=convert.ticket_status_to_pb(res.status),
                )
            return out
        raise AssertionError("unreachable")  # pragma: no cover

    async def GetTicket(
        self, request: pb.GetTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        async with self.call(context) as principal:
            return convert.ticket_to_pb(
                await self.h.get_ticket(principal, request.ticket_id)
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def ListTickets(
        self, request: pb.ListTicketsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTicketsResponse:
        async with self.call(context) as principal:
            flt = TicketFilter(
                region=request.region,
                statuses=tuple(
                    convert.ticket_status_from_pb(s, f"statuses[{i}]")
                    for i, s in enumerate(request.statuses)
                ),
                priority=convert.priority_from_pb(
                    request.priority, "priority", required=False
                ),
                technician_id=request.technician_id,
            )
            page = await self.h.list_tickets(
                principal, flt, request.page_size, request.page_token
            )
            return pb.ListTicketsResponse(
                tickets=[convert.ticket_to_pb(t) for t in page.items],
                next_page_token=page.next_page_token,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def UpdateTicket(
        self, request: pb.UpdateTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        async with self.call(context) as principal:
            from dispatcher.handlers import TICKET_UPDATE_PATHS

            paths = list(request.update_mask.paths) or [
                p for p in TICKET_UPDATE_PATHS if "." not in p
            ]
            try:
                patch = convert.ticket_patch_from_pb(request.ticket, paths)
            except InvalidArgument as exc:
                if request.update_mask.paths:
                    raise
                raise InvalidArgument(
                    "update_mask",
                    "is empty, which replaces every updatable field, so "
                    f"{exc}; name the fields to change in update_mask "
                    '(e.g. paths: ["title"])',
                ) from None
            ticket = await self.h.update_ticket(
                principal, request.ticket.ticket_id, patch, request.expected_version
            )
            return convert.ticket_to_pb(ticket)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _lifecycle(
        self, context: grpc.aio.ServicerContext, action: str, ticket_id: str, **kw: Any
    ) -> pb.Ticket:
        async with self.call(context) as principal:
            return convert.ticket_to_pb(
                await self.h.lifecycle(principal, action, ticket_id, **kw)
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def CancelTicket(
        self, request: pb.CancelTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        return await self._lifecycle(
            context,
            "cancel",
            request.ticket_id,
            reason=request.reason,
            expected_version=request.expected_version,
        )

    async def AcceptTicket(
        self, request: pb.AcceptTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        return await self._lifecycle(
            context,
            "accept",
            request.ticket_id,
            technician_id=request.technician_id,
            expected_version=request.expected_version,
        )

    async def DeclineTicket(
        self, request: pb.DeclineTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        return await self._lifecycle(
            context,
            "decline",
            request.ticket_id,
            technician_id=request.technician_id,
            reason=request.reason,
            expected_version=request.expected_version,
        )

    async def StartTicket(
        self, request: pb.StartTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        return await self._lifecycle(
            context,
            "start",
            request.ticket_id,
            technician_id=request.technician_id,
            expected_version=request.expected_version,
        )

    async def CompleteTicket(
        self, request: pb.CompleteTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        async with self.call(context) as principal:
            resolution = convert.resolution_from_pb(request.resolution, "resolution")
            ticket = await self.h.lifecycle(
                principal,
                "complete",
                request.ticket_id,
                technician_id=request.technician_id,
                expected_version=request.expected_version,
                resolution=resolution,
            )
            return convert.ticket_to_pb(ticket)
        raise AssertionError("unreachable")  # pragma: no cover


class TechnicianService(_Base, pb_grpc.TechnicianServiceServicer):
    async def UpsertTechnician(
        self, request: pb.UpsertTechnicianRequest, context: grpc.aio.ServicerContext
    ) -> pb.Technician:
        async with self.call(context) as principal:
            tech = convert.technician_from_pb(request.technician)
            return convert.technician_to_pb(
                await self.h.upsert_technician(
                    principal, tech, request.expected_version
                )
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def ReportLocation(
        self, request: pb.ReportLocationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportLocationResponse:
        async with self.call(context) as principal:
            if not request.HasField("location"):
                raise InvalidArgument("location", "is required")
            if request.accuracy_m < 0 or request.accuracy_m != request.accuracy_m:
                raise InvalidArgument("accuracy_m", "must be >= 0")
            (applied,) = await self.h.report_locations(
                principal,
                [
                    (
                        request.technician_id,
                        convert.location_from_pb(request.location),
                        request.reported_at_ms,
                    )
                ],
            )
            return pb.ReportLocationResponse(applied=applied)
        raise AssertionError("unreachable")  # pragma: no cover

    async def StreamLocations(
        self,
        request_iterator: AsyncIterator[pb.ReportLocationRequest],
        context: grpc.aio.ServicerContext,
    ) -> pb.StreamLocationsResponse:
        async with self.call(context, admit=False) as principal:
            received = applied = 0
            chunk: list[Any] = []

            async def flush() -> int:
                done = await self.h.report_locations(principal, chunk, field="pings")
                chunk.clear()
                return sum(done)

            async for ping in request_iterator:
                if not ping.HasField("location"):
                    raise InvalidArgument(f"pings[{received}].location", "is required")
                received += 1
                chunk.append(
                    (
                        ping.technician_id,
                        convert.location_from_pb(ping.location),
                        ping.reported_at_ms,
                    )
                )
                if len(chunk) >= LOCATION_CHUNK:
                    applied += await flush()
            if chunk:
                applied += await flush()
            return pb.StreamLocationsResponse(received=received, applied=applied)
        raise AssertionError("unreachable")  # pragma: no cover

    async def SetAvailability(
        self, request: pb.SetAvailabilityRequest, context: grpc.aio.ServicerContext
    ) -> pb.Technician:
        async with self.call(context) as principal:
            paths = set(request.update_mask.paths) or {"status", "shifts"}
            unknown = paths - {"status", "shifts"}
            if unknown:
                raise InvalidArgument(
                    "update_mask.paths",
                    f"{sorted(unknown)[0]!r} is not status or shifts",
                )
            status = (
                convert.technician_status_from_pb(request.status, "status")
                if "status" in paths
                else None
            )
            shifts = (
                [convert.shift_from_pb(s) for s in request.shifts]
                if "shifts" in paths
                else None
            )
            tech = await self.h.set_availability(
                principal,
                request.technician_id,
                status,
                shifts,
                request.expected_version,
            )
            return convert.technician_to_pb(tech)
        raise AssertionError("unreachable")  # pragma: no cover

    async def GetTechnician(
        self, request: pb.GetTechnicianRequest, context: grpc.aio.ServicerContext
    ) -> pb.Technician:
        async with self.call(context) as principal:
            return convert.technician_to_pb(
                await self.h.get_technician(principal, request.technician_id)
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def ListTechnicians(
        self, request: pb.ListTechniciansRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTechniciansResponse:
        async with self.call(context) as principal:
            statuses = []
            for i, s in enumerate(request.statuses):
                st = convert.technician_status_from_pb(s, f"statuses[{i}]")
                assert st is not None
                statuses.append(st)
            page = await self.h.list_technicians(
                principal,
                request.region,
                statuses,
                request.page_size,
                request.page_token,
            )
            return pb.ListTechniciansResponse(
                technicians=[convert.technician_to_pb(t) for t in page.items],
                next_page_token=page.next_page_token,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def RemoveTechnician(
        self, request: pb.RemoveTechnicianRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveTechnicianResponse:
        async with self.call(context) as principal:
            requeued = await self.h.remove_technician(
                principal, request.technician_id, request.expected_version
            )
            return pb.RemoveTechnicianResponse(requeued_ticket_ids=requeued)
        raise AssertionError("unreachable")  # pragma: no cover


class EventService(_Base, pb_grpc.EventServiceServicer):
    async def WatchEvents(
        self, request: pb.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchEventsResponse]:
        async with self.call(context, admit=False) as principal:
            for i, r in enumerate(request.regions):
                check_name(f"regions[{i}]", r)
            for r in request.after_event_ids:
                check_name(f"after_event_ids[{r!r}]", r)
            if request.start not in (0, 1, 2):
                raise InvalidArgument("start", f"unknown enum value {request.start}")
            if request.max_batch > ev.MAX_BATCH:
                raise InvalidArgument(
                    "max_batch", f"at most {ev.MAX_BATCH}, got {request.max_batch}"
                )
            per_response = max(1, request.max_batch)
            technician = request.technician_id
            if principal.role is Role.TECHNICIAN_APP:
                if technician and technician != principal.technician_id:
                    raise PermissionDenied(
                        "technician_id: a technician app watches only its own events"
                    )
                technician = principal.technician_id
            watch_request = ev.WatchRequest(
                regions=tuple(dict.fromkeys(request.regions)),
                technician_id=technician,
                types=frozenset(
                    convert.event_type_from_pb(t, f"types[{i}]")
                    for i, t in enumerate(request.types)
                ),
                after_event_ids=dict(request.after_event_ids),
                from_earliest=request.start == pb.START_POSITION_EARLIEST
                or (
                    request.start == pb.START_POSITION_UNSPECIFIED
                    and bool(request.after_event_ids)
                ),
            )
            stream = ev.watch(
                get_watch_client(self.ctx),
                principal.tenant,
                watch_request,
                stop=self.ctx.shutdown_event,
                metrics=self.ctx.metrics,
            )
            async for events in stream:
                if per_response == 1:
                    for event in events:
                        yield pb.WatchEventsResponse(event=convert.event_to_pb(event))
                    continue
                for lo in range(0, len(events), per_response):
                    yield pb.WatchEventsResponse(
                        events=[
                            convert.event_to_pb(e)
                            for e in events[lo : lo + per_response]
                        ]
                    )


class InsightService(_Base, pb_grpc.InsightServiceServicer):
    async def ExplainAssignment(
        self, request: pb.ExplainAssignmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExplainAssignmentResponse:
        """The decision in force explained with the solver's cost model (dispatcher.explain)."""
        from dispatcher.explain import explain_ticket

        async with self.call(context) as principal:
            if not 0 <= request.max_alternatives <= 20:
                raise InvalidArgument("max_alternatives", "must be in [0, 20]")
            ticket = await self.h.get_ticket(principal, request.ticket_id)
            exp = await explain_ticket(
                self.h.store,
                self.h.policies,
                principal.tenant,
                ticket.ticket_id,
                request.max_alternatives or 3,
            )
            ticket = exp.ticket
            out = pb.ExplainAssignmentResponse(
                ticket_id=ticket.ticket_id,
                status=convert.ticket_status_to_pb(ticket.status),
                unassigned_reason=convert.unassigned_reason_to_pb(
                    exp.unassigned_reason
                ),
                alternatives=[
                    pb.AlternativeTechnician(
                        technician_id=a.technician_id,
                        cost_terms=[
                            pb.CostTerm(name=c.name, value=c.value)
                            for c in a.cost_terms
                        ],
                        total_cost=a.total_cost,
                        feasible=a.feasible,
                        infeasible_reason=convert.unassigned_reason_to_pb(
                            a.infeasible_reason
                        ),
                    )
                    for a in exp.alternatives
                ],
            )
            if exp.chosen is not None:
                out.chosen.CopyFrom(convert.assignment_to_pb(exp.chosen))
                out.solve_id = exp.chosen.solve_id
                out.solved_at_ms = exp.chosen.assigned_at_ms
            return out
        raise AssertionError("unreachable")  # pragma: no cover

    async def GetQueueStats(
        self, request: pb.GetQueueStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetQueueStatsResponse:
        async with self.call(context) as principal:
            stats = await self.h.queue_stats(principal, list(request.regions))
            import time

            return pb.GetQueueStatsResponse(
                regions=[convert.region_stats_to_pb(s) for s in stats],
                computed_at_ms=int(time.time() * 1000),
            )
        raise AssertionError("unreachable")  # pragma: no cover


class PolicyService(_Base, pb_grpc.PolicyServiceServicer):
    async def GetPolicy(
        self, request: pb.GetPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.Policy:
        async with self.call(context) as principal:
            return convert.policy_version_to_pb(
                await self.h.get_policy(principal, request.region)
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def UpdatePolicy(
        self, request: pb.UpdatePolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.Policy:
        async with self.call(context) as principal:
            if principal.role is not Role.ADMIN:
                raise PermissionDenied("only the admin role may change the policy")
            sections = convert.policy_dict_from_pb(request.policy)
            stored = await self.h.update_policy(
                principal,
                request.policy.region,
                sections,
                list(request.update_mask.paths),
                request.expected_version,
                request.policy.comment,
            )
            return convert.policy_version_to_pb(stored)
        raise AssertionError("unreachable")  # pragma: no cover

    async def ListPolicyHistory(
        self, request: pb.ListPolicyHistoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPolicyHistoryResponse:
        async with self.call(context) as principal:
            versions, token = await self.h.policy_history(
                principal, request.region, request.page_size, request.page_token
            )
            return pb.ListPolicyHistoryResponse(
                policies=[convert.policy_version_to_pb(p) for p in versions],
                next_page_token=token,
            )
        raise AssertionError("unreachable")  # pragma: no cover


def get_watch_client(ctx: AppContext) -> Any:
    """The context's client for blocking event-stream reads (own pool; see events)."""
    client = getattr(ctx, "dispatch_watch_redis", None)
    if client is None:
        client = ev.watch_client(ctx.redis, ctx.settings.redis_url)
        ctx.dispatch_watch_redis = client  # type: ignore[attr-defined]
        if client is not ctx.redis:

            async def close() -> None:
                from dispatcher.context import close_redis

                await close_redis(client)  # after its reads ended: none reconnects

            ctx.cleanups.append(close)
    return client


def build_handlers(ctx: AppContext) -> Handlers:
    """The context's ``Handlers`` (one store per context), built on first use."""
    h = getattr(ctx, "dispatch_handlers", None)
    if h is None:
        maxlen = int(getattr(ctx.settings, "events_maxlen", 0) or 0)
        store = RedisStateStore(
            ctx.redis,
            metrics=ctx.metrics,
            **({"events_maxlen": maxlen} if maxlen else {}),
        )
        h = Handlers(store, ctx.metrics)
        ctx.dispatch_handlers = h  # type: ignore[attr-defined]
    return h


def add_services(server: ObservedServer, ctx: AppContext) -> list[str]:
    """Register every dispatch.v1 service on ``server``; return their full names.

    Also appends the periodic queue-gauge refresh to ``ctx.background``.
    """
    handlers = build_handlers(ctx)
    pb_grpc.add_TicketServiceServicer_to_server(TicketService(ctx, handlers), server)
    pb_grpc.add_TechnicianServiceServicer_to_server(
        TechnicianService(ctx, handlers), server
    )
    pb_grpc.add_EventServiceServicer_to_server(EventService(ctx, handlers), server)
    pb_grpc.add_InsightServiceServicer_to_server(InsightService(ctx, handlers), server)
    pb_grpc.add_PolicyServiceServicer_to_server(PolicyService(ctx, handlers), server)

    async def refresh_queue_metrics() -> None:
        # ends on shutdown also when redis-py swallowed the cancel of a command
        while not ctx.shutdown_event.is_set():
            try:
                await handlers.refresh_queue_metrics()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: the health watcher reports it
                logger.debug("queue metrics refresh failed: %s", exc)
            await asyncio.sleep(QUEUE_METRICS_INTERVAL_S)

    ctx.background.append(refresh_queue_metrics)
    get_watch_client(
        ctx
    )  # registers its close before the drain below (cleanups run last first)
    ctx.cleanups.append(ev.drain)  # reads of cancelled watches end before Redis closes
    return [s.full_name for s in pb.DESCRIPTOR.services_by_name.values()]
