"""Every RPC's request id, latency / status-code metrics, in-flight gauge and credential check.

``ObservedServer(server, observer)`` is what the services are registered on: each method
handler is wrapped once, when it is registered, by ``CallObserver.wrap`` (a handler of the
same kind: coroutine, async generator, function or generator), so no grpc.aio server
interceptor runs per call and a refused call never reaches a servicer.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from dispatcher.runtime.logging_setup import request_id_var

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

    from dispatcher.api.auth import AuthGate
    from dispatcher.runtime.metrics import DispatchMetrics

logger = logging.getLogger(__name__)

REQUEST_ID_KEY = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/=+-]{1,128}")
_CODE_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def _code_name(code: object) -> str:
    """Normalise what ``context.code()`` returns (enum, int or None) to e.g. ``"NOT_FOUND"``."""
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int):
        return str(_CODE_BY_VALUE.get(code, grpc.StatusCode.UNKNOWN).name)
    return "OK"


def _request_id(metadata: Any) -> str:
    """The caller's ``x-request-id`` when valid, else a fresh one."""
    for key, value in metadata or ():
        if (
            key == REQUEST_ID_KEY
            and isinstance(value, str)
            and _VALID_REQUEST_ID.fullmatch(value)
        ):
            return value
    return os.urandom(16).hex()  # 128 random bits, as uuid4 has (4x cheaper)


_HANDLER_FACTORIES: tuple[tuple[str, Callable[..., grpc.RpcMethodHandler]], ...] = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)
"""The four handler kinds of a ``grpc.RpcMethodHandler`` and the factory for each."""


ADMITTED_PACKAGE = "dispatch."
"""Unary methods of this package are admitted (``Admission``); health and reflection are not."""


class Admission:
    """Counts the unary dispatch calls in flight; ``CallObserver`` refuses the ones above
    ``limit`` with RESOURCE_EXHAUSTED before the servicer does any work (no Redis)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @property
    def full(self) -> bool:
        return self.in_flight >= self.limit

    def refusal(self) -> str:
        return f"server busy ({self.limit} calls in flight); retry with backoff"


class CallObserver:
    """Sets ``request_id_var`` and echoes it as trailing metadata; records latency and code;
    refuses a call without a valid credential (``AuthGate``) before the handler runs (so a
    client stream is not read), counting and timing the refusal like any other call.

    ``dispatch_rpc_duration_seconds{method,code}`` takes ``method`` as ``package.Service/Method``;
    streaming calls are timed from start to the end of the stream.
    The echo is set before the handler runs; a handler that sets its own trailing metadata
    replaces it (include ``("x-request-id", request_id_var.get())`` to keep it).
    """

    def __init__(
        self,
        metrics: DispatchMetrics,
        auth: AuthGate | None = None,
        admission: Admission | None = None,
    ) -> None:
        self._metrics = metrics
        self._auth = auth
        self._admission = admission
        # (method, code) -> its child of dispatch_rpc_duration_seconds
        self._durations: dict[tuple[str, str], Any] = {}

    def wrap(
        self, handler: grpc.RpcMethodHandler, method: str
    ) -> grpc.RpcMethodHandler:
        """``handler`` of ``method`` (``package.Service/Method``) with the call observed."""
        for kind, make_handler in _HANDLER_FACTORIES:
            behavior = getattr(handler, kind)
            if behavior is not None:
                if (
                    kind == "unary_unary"
                    and self._admission is not None
                    and method.startswith(ADMITTED_PACKAGE)
                ):
                    behavior = self._admitted(behavior, method, self._admission)
                return make_handler(
                    self._wrap(behavior, method),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler  # pragma: no cover - every handler has one of the four

    def _admitted(
        self, behavior: Callable[..., Awaitable[Any]], method: str, admission: Admission
    ) -> Callable[..., Awaitable[Any]]:
        """``behavior`` behind ``admission``: when it is full the call is refused at once,
        without work (counted in the RPC metrics as RESOURCE_EXHAUSTED and in
        ``dispatch_rejected_requests_total{reason="overload"}``)."""
        rejected = self._metrics.rejected_requests_total.labels(reason="overload")

        async def admitted(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Any:
            if admission.full:
                rejected.inc()
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, admission.refusal()
                )
            admission.in_flight += 1
            try:
                return await behavior(request, context)
            finally:
                admission.in_flight -= 1

        return admitted

    def _wrap(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        """A handler of the same kind as ``behavior`` that records the call around it."""
        if inspect.isasyncgenfunction(behavior):
            return self._wrap_async_generator(behavior, method)
        if inspect.iscoroutinefunction(behavior):
            return self._wrap_coroutine(behavior, method)
        if self._auth is not None and not self._auth.is_public(method):
            raise TypeError(
                f"{method}: a synchronous handler cannot refuse a call; make it async"
            )
        if inspect.isgeneratorfunction(behavior):
            return self._wrap_generator(behavior, method)
        return self._wrap_function(behavior, method)

    def _begin(
        self, context: grpc.aio.ServicerContext[Any, Any], metadata: Any
    ) -> float:
        request_id = _request_id(metadata)
        request_id_var.set(request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        self._metrics.rpc_in_flight.inc()
        return time.perf_counter()

    async def _admit(
        self, method: str, context: grpc.aio.ServicerContext[Any, Any], metadata: Any
    ) -> None:
        """Abort with UNAUTHENTICATED when the call carries no valid credential."""
        if self._auth is not None:
            refused = self._auth.rejection(method, metadata)
            if refused is not None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, refused)

    def _end(
        self,
        method: str,
        context: grpc.aio.ServicerContext[Any, Any],
        start: float,
        exc: BaseException | None,
    ) -> None:
        self._metrics.rpc_in_flight.dec()
        code = (
            _code_name(context.code()) if exc is None else _failure_code(exc, context)
        )
        histogram = self._durations.get((method, code))
        if histogram is None:
            histogram = self._metrics.rpc_duration_seconds.labels(
                method=method, code=code
            )
            self._durations[(method, code)] = histogram
        histogram.observe(time.perf_counter() - start)

    def _wrap_coroutine(
        self, behavior: Callable[..., Awaitable[Any]], method: str
    ) -> Callable[..., Any]:
        async def wrapper(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Any:
            metadata = context.invocation_metadata()
            start = self._begin(context, metadata)
            failure: BaseException | None = None
            try:
                await self._admit(method, context, metadata)
                return await behavior(request, context)
            except BaseException as exc:
                failure = exc
                raise
            finally:
                self._end(method, context, start, failure)

        return wrapper

    def _wrap_async_generator(
        self, behavior: Callable[..., AsyncIterator[Any]], method: str
    ) -> Callable[..., Any]:
        async def wrapper(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            metadata = context.invocation_metadata()
            start = self._begin(context, metadata)
            failure: BaseException | None = None
            try:
                await self._admit(method, context, metadata)
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                failure = exc
                raise
            finally:
                self._end(method, context, start, failure)

        return wrapper

    def _wrap_function(
        self, behavior: Callable[..., Any], method: str
    ) -> Callable[..., Any]:
        def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            context = _CodeRecordingContext(context)
            start = self._begin(context, context.invocation_metadata())
            failure: BaseException | None = None
            try:
                return behavior(request, context)
            except BaseException as exc:
                failure = exc
                raise
            finally:
                self._end(method, context, start, failure)

        return wrapper

    def _wrap_generator(
        self, behavior: Callable[..., Iterator[Any]], method: str
    ) -> Callable[..., Any]:
        def wrapper(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Iterator[Any]:
            context = _CodeRecordingContext(context)
            start = self._begin(context, context.invocation_metadata())
            failure: BaseException | None = None
            try:
                yield from behavior(request, context)
            except BaseException as exc:
                failure = exc
                raise
            finally:
                self._end(method, context, start, failure)

        return wrapper


class _CodeRecordingContext:
    """Wraps the context of a sync handler (which has no ``code()`` under grpc.aio) to remember the code."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self._code: grpc.StatusCode | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code
        self._context.set_code(code)

    def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        self._code = code
        self._context.abort(code, details)

    def code(self) -> grpc.StatusCode | None:
        return self._code


def _failure_code(
    exc: BaseException, context: grpc.aio.ServicerContext[Any, Any]
) -> str:
    """The status code a call that raised ``exc`` ends with."""
    if isinstance(exc, grpc.aio.AbortError):
        return _code_name(context.code())  # the code given to context.abort()
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return "CANCELLED"  # the client went away, or the server is stopping
    code = _code_name(context.code())
    if code != "OK":
        return code  # the handler set a code, then raised (generated base servicers do)
    logger.error("unhandled error in RPC handler: %r", exc, exc_info=exc)
    return "UNKNOWN"


class ObservedServer:
    """A ``grpc.aio.Server`` as the ``add_*Servicer_to_server`` functions see it: every
    method handler they register is wrapped by ``observer`` first."""

    def __init__(self, server: grpc.aio.Server, observer: CallObserver) -> None:
        self.server = server
        self._observer = observer

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self.server.add_registered_method_handlers(
            service,
            {m: self._observer.wrap(h, f"{service}/{m}") for m, h in handlers.items()},
        )

    def add_generic_rpc_handlers(
        self, handlers: Sequence[grpc.GenericRpcHandler]
    ) -> None:
        self.server.add_generic_rpc_handlers(
            tuple(_ObservedGeneric(h, self._observer) for h in handlers)
        )


class _ObservedGeneric(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no stubs
    """A generic handler whose handlers are observed (wrapped once per method)."""

    def __init__(self, inner: grpc.GenericRpcHandler, observer: CallObserver) -> None:
        self._inner = inner
        self._observer = observer
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = str(details.method)
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = self._inner.service(details)
            if handler is None:  # unknown method: grpc answers UNIMPLEMENTED itself
                return None
            wrapped = self._wrapped[method] = self._observer.wrap(
                handler, method.lstrip("/")
            )
        return wrapped
