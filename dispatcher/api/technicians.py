"""The dispatch.v1 TechnicianService: upsert, location pings (unary and client stream), availability, get, list, remove."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import grpc

from dispatcher.api import convert
from dispatcher.api.base import ServicerBase, check_finite_request
from dispatcher.errors import InvalidArgument
from dispatcher.handlers import STAFF, require
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import grpc.aio


LOCATION_CHUNK = 200
"""Location pings of a client stream stored per script batch."""


_PING_PATH = re.compile(r"^pings\[(\d+)\]\.?(.*)$")


def _in_stream(exc: InvalidArgument, offset: int) -> InvalidArgument:
    """A streamed ping's error: the field as a path of ``ReportLocationRequest`` (what each
    stream message is), the ping's place in the stream (from 0) in the message."""
    match = _PING_PATH.match(exc.field)
    if match is None:
        return exc
    index = offset + int(match.group(1))
    return InvalidArgument(
        match.group(2), f"{exc.message} (ping {index} of the stream)"
    )


def _check_accuracy(field: str, accuracy_m: float) -> None:
    if accuracy_m < 0:
        raise InvalidArgument(field, "must be >= 0")


class TechnicianService(ServicerBase, pb_grpc.TechnicianServiceServicer):
    async def UpsertTechnician(
        self, request: pb.UpsertTechnicianRequest, context: grpc.aio.ServicerContext
    ) -> pb.Technician:
        async with self.call(context, request) as principal:
            require(principal, *STAFF)  # before the request is read
            tech = convert.technician_from_pb(request.technician)
            return convert.technician_to_pb(
                await self.h.upsert_technician(
                    principal, tech, request.expected_version
                )
            )

    async def ReportLocation(
        self, request: pb.ReportLocationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportLocationResponse:
        async with self.call(context, request) as principal:
            if not request.HasField("location"):
                raise InvalidArgument("location", "is required")
            _check_accuracy("accuracy_m", request.accuracy_m)
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

    async def StreamLocations(
        self,
        request_iterator: AsyncIterator[pb.ReportLocationRequest],
        context: grpc.aio.ServicerContext,
    ) -> pb.StreamLocationsResponse:
        async with self.call(context, None, unary=False) as principal:
            received = applied = 0
            chunk: list[Any] = []

            async def flush() -> int:
                try:
                    done = await self.h.report_locations(
                        principal, chunk, field="pings"
                    )
                except InvalidArgument as exc:
                    raise _in_stream(exc, received - len(chunk)) from None
                chunk.clear()
                return sum(done)

            async for ping in request_iterator:
                try:
                    check_finite_request(ping, f"pings[{received}]")
                    if not ping.HasField("location"):
                        raise InvalidArgument(
                            f"pings[{received}].location", "is required"
                        )
                    _check_accuracy(f"pings[{received}].accuracy_m", ping.accuracy_m)
                except InvalidArgument as exc:
                    raise _in_stream(exc, 0) from None
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

    async def SetAvailability(
        self, request: pb.SetAvailabilityRequest, context: grpc.aio.ServicerContext
    ) -> pb.Technician:
        async with self.call(context, request) as principal:
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

    async def GetTechnician(
        self, request: pb.GetTechnicianRequest, context: grpc.aio.ServicerContext
    ) -> pb.Technician:
        async with self.call(context, request) as principal:
            return convert.technician_to_pb(
                await self.h.get_technician(principal, request.technician_id)
            )

    async def ListTechnicians(
        self, request: pb.ListTechniciansRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTechniciansResponse:
        async with self.call(context, request) as principal:
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

    async def RemoveTechnician(
        self, request: pb.RemoveTechnicianRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveTechnicianResponse:
        async with self.call(context, request) as principal:
            requeued = await self.h.remove_technician(
                principal, request.technician_id, request.expected_version
            )
            return pb.RemoveTechnicianResponse(requeued_ticket_ids=requeued)
