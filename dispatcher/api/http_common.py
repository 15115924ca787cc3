"""What the HTTP gateway and its SSE stream share: status mapping, error bodies, metadata.

A failed call answers the HTTP status google.rpc's ``code.proto`` gives its gRPC code, with
the ``google.rpc.Status`` (code, message, details) in canonical JSON as the body.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from aiohttp import web
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dispatcher.errors import InvalidArgument

REQUEST_ID_HEADER = "X-Request-Id"

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
"""gRPC code -> HTTP status, as documented in google/rpc/code.proto."""

FORWARDED_HEADERS = ("authorization", "x-api-key", "x-request-id")
"""Request headers passed to the gRPC call as metadata (same names)."""


def to_json(message: Any) -> str:
    """A message in protobuf's canonical JSON, compact (one line, no spaces)."""
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":"))


def error_response(
    code: grpc.StatusCode,
    message: str,
    details: Sequence[Any] = (),
    headers: Any = None,
) -> web.Response:
    """The HTTP answer for a failed call: google.rpc.Status as canonical JSON."""
    status = status_pb2.Status(code=code.value[0], message=message)
    status.details.extend(details)
    return web.Response(
        status=HTTP_STATUS.get(code, 500),
        text=to_json(status),
        content_type="application/json",
        headers=headers,
    )


def invalid_argument(exc: InvalidArgument) -> web.Response:
    """A 400 for a request the gateway could not even turn into a message."""
    status = status_pb2.Status()
    status.details.add().Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=exc.field, description=exc.message
                )
            ]
        )
    )
    return error_response(grpc.StatusCode.INVALID_ARGUMENT, str(exc), status.details)


def call_metadata(request: web.Request) -> tuple[tuple[str, str], ...]:
    """The forwarded headers as gRPC metadata."""
    return tuple(
        (name, request.headers[name])
        for name in FORWARDED_HEADERS
        if name in request.headers
    )


def rpc_error_response(error: grpc.aio.AioRpcError) -> web.Response:
    """The HTTP answer for a failed gRPC call, keeping its rich details."""
    status = rpc_status.from_call(error)
    details = list(status.details) if status is not None else []
    return error_response(
        error.code(),
        error.details() or "",
        details,
        request_id_header(error.trailing_metadata()),
    )


def request_id_header(trailing_metadata: Any) -> dict[str, str]:
    """``X-Request-Id`` from a call's trailing metadata (the server's request id)."""
    for key, value in trailing_metadata or ():
        if key == "x-request-id":
            return {REQUEST_ID_HEADER: str(value)}
    return {}
