"""The dispatch.v1 TicketService: submit (single, batch), get, list, update, cancel, lifecycle reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from dispatcher.api import convert
from dispatcher.api.base import (
    ServicerBase,
    status_code_for,
)
from dispatcher.domain import SubmitTicket, TicketFilter
from dispatcher.errors import InvalidArgument
from dispatcher.handlers import STAFF, require
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from google.protobuf.message import Message


class TicketService(ServicerBase, pb_grpc.TicketServiceServicer):
    async def SubmitTicket(
        self, request: pb.SubmitTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitTicketResponse:
        async with self.call(context, request) as principal:
            require(principal, *STAFF)  # before the request is read
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

    async def BatchSubmitTickets(
        self, request: pb.BatchSubmitTicketsRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchSubmitTicketsResponse:
        async with self.call(context, request) as principal:
            require(principal, *STAFF)  # before the request is read
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

    async def GetTicket(
        self, request: pb.GetTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        async with self.call(context, request) as principal:
            return convert.ticket_to_pb(
                await self.h.get_ticket(principal, request.ticket_id)
            )

    async def ListTickets(
        self, request: pb.ListTicketsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTicketsResponse:
        async with self.call(context, request) as principal:
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

    async def UpdateTicket(
        self, request: pb.UpdateTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        async with self.call(context, request) as principal:
            require(principal, *STAFF)  # before the request is read
            paths = list(request.update_mask.paths) or [
                p for p in convert.TICKET_UPDATE_PATHS if "." not in p
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

    async def _lifecycle(
        self,
        context: grpc.aio.ServicerContext,
        request: Message,
        action: str,
        ticket_id: str,
        **kw: Any,
    ) -> pb.Ticket:
        async with self.call(context, request) as principal:
            return convert.ticket_to_pb(
                await self.h.lifecycle(principal, action, ticket_id, **kw)
            )

    async def CancelTicket(
        self, request: pb.CancelTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        return await self._lifecycle(
            context,
            request,
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
            request,
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
            request,
            "decline",
            request.ticket_id,
            technician_id=request.technician_id,
            reason=request.reason,
            expected_version=request.expected_version,
        )

    async def PendTicket(
        self, request: pb.PendTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        return await self._lifecycle(
            context,
            request,
            "pend",
            request.ticket_id,
            reason=request.reason,
            expected_version=request.expected_version,
        )

    async def ResumeTicket(
        self, request: pb.ResumeTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        return await self._lifecycle(
            context,
            request,
            "resume",
            request.ticket_id,
            expected_version=request.expected_version,
        )

    async def StartTicket(
        self, request: pb.StartTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        return await self._lifecycle(
            context,
            request,
            "start",
            request.ticket_id,
            technician_id=request.technician_id,
            expected_version=request.expected_version,
        )

    async def CompleteTicket(
        self, request: pb.CompleteTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ticket:
        async with self.call(context, request) as principal:
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
