"""Server reflection, both protocol versions: ``grpc.reflection.v1`` (what current tools such
as grpcurl ask first) and ``grpc.reflection.v1alpha``.

grpcio-reflection (up to 1.85 at least) implements v1alpha only. The v1 protocol is the
same messages under another package (field for field, number for number), so one servicer
answers both: the v1 method is registered with the v1alpha (de)serializers, and the v1
descriptors (the v1alpha file renamed) are added to the default pool so that reflection
can describe the v1 service itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dispatcher.api.call_observer import ObservedServer

V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def _register_v1_descriptors() -> None:
    """Add the v1 reflection file (the v1alpha one under the v1 package) to the default pool."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_V1_FILE)
        return  # already there (another server in this process, or a v1 stub module)
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old = f".{proto.package}."
    proto.name, proto.package = _V1_FILE, V1_PACKAGE
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = f".{V1_PACKAGE}." + field.type_name[len(old) :]
    for service in proto.service:
        for method in service.method:
            method.input_type = f".{V1_PACKAGE}." + method.input_type[len(old) :]
            method.output_type = f".{V1_PACKAGE}." + method.output_type[len(old) :]
    proto.options.Clear()  # the v1alpha file's language options name v1alpha packages
    pool.Add(proto)


def enable_reflection(service_names: Sequence[str], server: ObservedServer) -> None:
    """Serve reflection v1 and v1alpha for ``service_names`` (both reflection services are
    listed too)."""
    _register_v1_descriptors()
    names = [*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME]
    servicer: Any = reflection.aio.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1_handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                V1_SERVICE_NAME, {"ServerReflectionInfo": v1_handler}
            ),
        )
    )
