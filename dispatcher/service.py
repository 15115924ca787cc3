"""gRPC servicers of dispatch.v1 (placeholder: every RPC answers UNIMPLEMENTED for now)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatcher.pb import dispatch_pb2, dispatch_pb2_grpc

if TYPE_CHECKING:
    import grpc.aio


def add_services(server: grpc.aio.Server, ctx: Any) -> list[str]:
    """Register every dispatch.v1 service on ``server``; return their full names."""
    pb = dispatch_pb2_grpc
    servicers: list[tuple[Any, Any]] = [
        (pb.add_TicketServiceServicer_to_server, pb.TicketServiceServicer),
        (pb.add_TechnicianServiceServicer_to_server, pb.TechnicianServiceServicer),
        (pb.add_EventServiceServicer_to_server, pb.EventServiceServicer),
        (pb.add_InsightServiceServicer_to_server, pb.InsightServiceServicer),
        (pb.add_PolicyServiceServicer_to_server, pb.PolicyServiceServicer),
    ]
    for add, cls in servicers:
        add(cls(), server)
    return [s.full_name for s in dispatch_pb2.DESCRIPTOR.services_by_name.values()]
