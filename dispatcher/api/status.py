"""Rich error statuses: the ``google.rpc.Status`` details a failed call carries.

INVALID_ARGUMENT carries a ``google.rpc.BadRequest`` with one field violation (the
``InvalidArgument``'s field path in the request and its message, as data); FAILED_PRECONDITION
and ABORTED carry a ``google.rpc.ErrorInfo`` (the error class's ``reason``, domain
``ERROR_DOMAIN``). They travel as the standard ``grpc-status-details-bin`` trailer, which
``grpc_status.rpc_status.from_call`` (and every gRPC language's equivalent) decodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from dispatcher.errors import DispatchError, InvalidArgument

if TYPE_CHECKING:
    from collections.abc import Sequence

ERROR_DOMAIN = "dispatch.v1"
"""``ErrorInfo.domain`` of every error this service reports."""

_INFO_CODES = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED)


def status_trailers(
    code: grpc.StatusCode, message: str, exc: BaseException
) -> Sequence[tuple[str, str | bytes]]:
    """The trailing metadata that carries ``code``, ``message`` and ``exc``'s details."""
    status = status_pb2.Status(code=code.value[0], message=message)
    if isinstance(exc, InvalidArgument):
        status.details.add().Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=exc.field, description=exc.message
                    )
                ]
            )
        )
    elif code in _INFO_CODES:
        reason = exc.reason if isinstance(exc, DispatchError) else ""
        status.details.add().Pack(
            error_details_pb2.ErrorInfo(reason=reason or code.name, domain=ERROR_DOMAIN)
        )
    return tuple(rpc_status.to_status(status).trailing_metadata)
