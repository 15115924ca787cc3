"""gRPC servicers of dispatch.v1: convert -> handler -> convert back, registered by ``add_services``.

Tickets and technicians have their own modules (``api.tickets``, ``api.technicians``);
events, insight and policy are here. Every call goes through ``ServicerBase.call``
(``api.base``): admission, authentication, deadline, error mapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING

import grpc

from dispatcher.api import convert
from dispatcher.api.base import (
    ServicerBase,
)
from dispatcher.api.technicians import TechnicianService
from dispatcher.api.tickets import TicketService
from dispatcher.api.webhooks import WebhookService
from dispatcher.domain import Role
from dispatcher.errors import (
    InvalidArgument,
    PermissionDenied,
    ShuttingDown,
)
from dispatcher.explain import explain_ticket
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
from dispatcher.store import events as ev
from dispatcher.validation import check_name

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import grpc.aio

    from dispatcher.api.call_observer import ObservedServer
    from dispatcher.bootstrap import Services
    from dispatcher.runtime.context import AppContext

logger = logging.getLogger(__name__)


WATCH_START_KEY = "x-watch-start-id"
"""Response header of WatchEvents: the position the watch started from (sent once live)."""

QUEUE_METRICS_INTERVAL_S = 5.0
"""How often the queue gauges are recomputed from Redis."""


class EventService(ServicerBase, pb_grpc.EventServiceServicer):
    async def WatchEvents(
        self, request: pb.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchEventsResponse]:
        async with self.call(context, request, unary=False) as principal:
            for i, r in enumerate(request.regions):
                check_name(f"regions[{i}]", r)
            for r in request.after_event_ids:
                check_name(f"after_event_ids[{json.dumps(r)}]", r)
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

            async def started(start_id: str) -> None:
                # the response headers tell the client its watch is live (see the .proto)
                await context.send_initial_metadata(((WATCH_START_KEY, start_id),))

            stream = ev.watch(
                self.services.watch_redis,
                principal.tenant,
                watch_request,
                stop=self.ctx.shutdown_event,
                metrics=self.ctx.metrics,
                on_started=started,
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
            # the stream ends only when the server stops: not OK, so clients reconnect
            raise ShuttingDown(
                "server shutting down; reconnect and resume with after_event_ids"
            )


class InsightService(ServicerBase, pb_grpc.InsightServiceServicer):
    async def ExplainAssignment(
        self, request: pb.ExplainAssignmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExplainAssignmentResponse:
        """The decision in force explained with the solver's cost model (dispatcher.explain)."""
        async with self.call(context, request) as principal:
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
                        why_not=a.why_not,
                    )
                    for a in exp.alternatives
                ],
            )
            if exp.chosen is not None:
                out.chosen.CopyFrom(convert.assignment_to_pb(exp.chosen))
                out.solve_id = exp.chosen.solve_id
                out.solved_at_ms = exp.chosen.assigned_at_ms
            return out

    async def GetQueueStats(
        self, request: pb.GetQueueStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetQueueStatsResponse:
        async with self.call(context, request) as principal:
            stats = await self.h.queue_stats(principal, list(request.regions))
            return pb.GetQueueStatsResponse(
                regions=[convert.region_stats_to_pb(s) for s in stats],
                computed_at_ms=int(time.time() * 1000),
            )


class PolicyService(ServicerBase, pb_grpc.PolicyServiceServicer):
    async def GetPolicy(
        self, request: pb.GetPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.Policy:
        async with self.call(context, request) as principal:
            return convert.policy_version_to_pb(
                await self.h.get_policy(principal, request.region)
            )

    async def UpdatePolicy(
        self, request: pb.UpdatePolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.Policy:
        async with self.call(context, request) as principal:
            if principal.role is not Role.ADMIN:
                raise PermissionDenied("only the admin role may change the policy")
            sections = convert.policy_dict_from_pb(request.policy)
            replace = convert.policy_sections_from_mask(request.update_mask.paths)
            try:
                stored = await self.h.update_policy(
                    principal,
                    request.policy.region,
                    sections,
                    replace,
                    request.expected_version,
                    request.policy.comment,
                )
            except InvalidArgument as exc:
                inner = exc.field.removeprefix("policy.")
                if inner == exc.field:
                    raise
                path = convert.policy_field_path(inner, request.policy)
                raise InvalidArgument(f"policy.{path}", exc.message) from None
            return convert.policy_version_to_pb(stored)

    async def ListPolicyHistory(
        self, request: pb.ListPolicyHistoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPolicyHistoryResponse:
        async with self.call(context, request) as principal:
            versions, token = await self.h.policy_history(
                principal, request.region, request.page_size, request.page_token
            )
            return pb.ListPolicyHistoryResponse(
                policies=[convert.policy_version_to_pb(p) for p in versions],
                next_page_token=token,
            )


def add_services(
    server: ObservedServer, ctx: AppContext, services: Services
) -> list[str]:
    """Register every dispatch.v1 service on ``server``; return their full names.

    Also appends the periodic queue-gauge refresh to ``ctx.background``.
    """
    handlers = services.handlers
    pb_grpc.add_TicketServiceServicer_to_server(TicketService(ctx, services), server)
    pb_grpc.add_TechnicianServiceServicer_to_server(
        TechnicianService(ctx, services), server
    )
    pb_grpc.add_EventServiceServicer_to_server(EventService(ctx, services), server)
    pb_grpc.add_InsightServiceServicer_to_server(InsightService(ctx, services), server)
    pb_grpc.add_PolicyServiceServicer_to_server(PolicyService(ctx, services), server)
    pb_grpc.add_WebhookServiceServicer_to_server(WebhookService(ctx, services), server)

    async def refresh_queue_metrics() -> None:
        # ends on shutdown also when redis-py swallowed the cancel of a command
        while not ctx.shutdown_event.is_set():
            try:
                await handlers.refresh_queue_metrics()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: the health watcher reports it
                logger.debug("queue metrics refresh failed: %s", exc)
            with contextlib.suppress(
                TimeoutError
            ):  # an interval, cut short by shutdown
                await asyncio.wait_for(
                    ctx.shutdown_event.wait(), QUEUE_METRICS_INTERVAL_S
                )

    ctx.background.append(refresh_queue_metrics)
    return [s.full_name for s in pb.DESCRIPTOR.services_by_name.values()]
