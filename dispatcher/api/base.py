"""What every dispatch.v1 servicer shares: ``ServicerBase.call`` (authentication: metadata
-> principal; the call's deadline; domain errors -> status codes by ``ERROR_CODES``), with the
process's ``Services``. Admission (bounded in-flight calls, else RESOURCE_EXHAUSTED) happens
before, in ``call_observer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Generic, TypeVar

import grpc
import grpc.aio
from redis.exceptions import (
    ClusterDownError,
    MaxConnectionsError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dispatcher.api.auth import Authenticator, AuthGate
from dispatcher.api.call_observer import REQUEST_ID_KEY
from dispatcher.api.finite import non_finite_field
from dispatcher.api.status import status_trailers
from dispatcher.backend.redis_errors import redis_error_kind
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
    ShuttingDown,
    StaleVersion,
    Unauthenticated,
)
from dispatcher.runtime.logging_setup import request_id_var

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from google.protobuf.message import Message

    from dispatcher.bootstrap import Services
    from dispatcher.domain import Principal
    from dispatcher.runtime.context import AppContext
    from dispatcher.runtime.metrics import DispatchMetrics

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class NeverSwallows(Generic[_T]):
    """Wraps an async context manager whose exit never suppresses an exception, and says so
    to the type checker: ``__aexit__`` returns None, so a ``return`` inside
    ``async with self.call(...)`` ends the method for mypy too (a bare
    ``asynccontextmanager`` is typed as one that may swallow)."""

    def __init__(self, inner: AbstractAsyncContextManager[_T]) -> None:
        self._inner = inner

    async def __aenter__(self) -> _T:
        return await self._inner.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if await self._inner.__aexit__(exc_type, exc, tb):
            raise RuntimeError("a call scope swallowed an exception") from exc


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
    (ShuttingDown, grpc.StatusCode.UNAVAILABLE),
    (TimeoutError, grpc.StatusCode.DEADLINE_EXCEEDED),
    # the Redis client's connection pool is full: shed load (before its base class below)
    (MaxConnectionsError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (RedisConnectionError, grpc.StatusCode.UNAVAILABLE),
    (RedisTimeoutError, grpc.StatusCode.UNAVAILABLE),
    # maxmemory reached with noeviction (ops/RUNBOOK.md): writes refused until memory frees
    (OutOfMemoryError, grpc.StatusCode.UNAVAILABLE),
    # a replica answered a write (mid-failover), or the cluster is moving a slot / down
    (ReadOnlyError, grpc.StatusCode.UNAVAILABLE),
    (RedisClusterException, grpc.StatusCode.UNAVAILABLE),
    (ClusterDownError, grpc.StatusCode.UNAVAILABLE),
    (TryAgainError, grpc.StatusCode.UNAVAILABLE),
    # any other error reply (CROSSSLOT, a script error...): a bug of ours, not the client's
    (RedisError, grpc.StatusCode.INTERNAL),
)
"""Domain error -> gRPC status code (first match wins; subclasses before bases).

Every Redis error class has a deliberate code: the ones that pass (memory, failover,
connection, timeout) UNAVAILABLE so clients retry with backoff; the rest INTERNAL."""

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


def check_finite_request(request: Message, prefix: str = "") -> None:
    """``InvalidArgument`` naming the first NaN or infinite number anywhere in ``request``."""
    field = non_finite_field(request, prefix)
    if field is not None:
        raise InvalidArgument(field, "must be a finite number (not NaN or infinite)")


def auth_gate(authenticator: Authenticator, metrics: DispatchMetrics) -> AuthGate:
    """Refuses dispatch.v1 calls without a valid credential early (before a client stream
    is read); servicers still resolve the principal themselves."""

    def rejected() -> None:
        metrics.rejected_requests_total.labels(reason="unauthenticated").inc()

    return AuthGate(authenticator, on_reject=rejected)


class ServicerBase:
    """The scope every dispatch.v1 call runs in, and what the servicers share."""

    def __init__(self, ctx: AppContext, services: Services) -> None:
        self.ctx = ctx
        self.services = services
        self.h = services.handlers
        self.auth = services.authenticator

    def _principal(self, context: grpc.aio.ServicerContext) -> Principal:
        return self.auth.authenticate(context.invocation_metadata())

    async def _abort(
        self, context: grpc.aio.ServicerContext, exc: BaseException
    ) -> None:
        code = status_code_for(exc)
        if code is None:
            raise exc
        if isinstance(exc, RedisError | RedisClusterException):
            # one line, no traceback (dispatch_redis_errors_total{kind} counted it)
            logger.warning(
                "call refused %s: Redis %s error: %s",
                code.name,
                redis_error_kind(exc),
                exc,
            )
        reason = _REJECT_REASONS.get(code)
        if reason is not None:
            self.ctx.metrics.rejected_requests_total.labels(reason=reason).inc()
        message = str(exc) or type(exc).__name__
        # replaces the trailers set so far: the request id echo goes along again
        trailers = (
            *status_trailers(code, message, exc),
            (REQUEST_ID_KEY, request_id_var.get() or ""),
        )
        await context.abort(code, message, trailing_metadata=trailers)

    def call(
        self,
        context: grpc.aio.ServicerContext,
        request: Message | None,
        *,
        unary: bool = True,
    ) -> NeverSwallows[Principal]:
        """Authentication, deadline (``unary`` calls only) and error mapping around one
        call's body (admission happened before: ``call_observer.Admission``);
        ``request`` is refused when it holds a non-finite number (required, so no servicer
        forgets it: None only for a client stream, whose messages the servicer checks one
        by one)."""
        return NeverSwallows(self._scope(context, request, unary))

    @contextlib.asynccontextmanager
    async def _scope(
        self, context: grpc.aio.ServicerContext, request: Message | None, unary: bool
    ) -> AsyncIterator[Principal]:
        """The body of ``call``: a domain error becomes the call's status through
        ``_abort``, which raises (never swallowed)."""
        try:
            principal = self._principal(context)
            if request is not None:
                check_finite_request(request)
            remaining = context.time_remaining() if unary else None
            if unary and remaining is None:  # no client deadline: the server's default
                remaining = self.ctx.settings.default_deadline_s
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
            RedisError,
            RedisClusterException,
        ) as exc:
            await self._abort(context, exc)
