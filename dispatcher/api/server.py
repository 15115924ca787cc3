"""gRPC server assembly: dispatch.v1 services, health, reflection, call observer, TLS.

``create_server(ctx, services, address)`` builds and binds a ``grpc.aio.Server`` (not started) and
returns it with the bound port, so tests can bind ``127.0.0.1:0``. The caller starts it,
then ``ctx.start_background()`` (which runs the health watcher registered here).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dispatcher.api.base import auth_gate
from dispatcher.api.call_observer import CallObserver, ObservedServer
from dispatcher.api.health import (
    LIVENESS_SERVICE,
    SERVING,
    DrainingHealthServicer,
    HealthWatcher,
)
from dispatcher.api.reflection import (
    enable_reflection,
)
from dispatcher.api.service import add_services

if TYPE_CHECKING:
    from dispatcher.bootstrap import Services
    from dispatcher.runtime.context import AppContext
    from dispatcher.runtime.settings import Settings

logger = logging.getLogger(__name__)

HEALTH_SERVICE_NAME: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


class ServerBindError(RuntimeError):
    """The gRPC address could not be bound (message is one line)."""


def _server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    root = settings.tls_ca.read_bytes() if settings.tls_ca is not None else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())],
        root_certificates=root,
        require_client_auth=root is not None,
    )


MAX_PENDING_CALLS = 20_000
"""Calls gRPC may hold before the event loop takes them (see ``create_server``)."""


async def create_server(
    ctx: AppContext, services: Services, address: str
) -> tuple[grpc.aio.Server, int]:
    """Build the server on ``address`` (``host:port``, port 0 = any free one); return it and its port.

    Registers the dispatch.v1 services, the health service (statuses set from a first Redis
    ping; a ``HealthWatcher`` is appended to ``ctx.background``; ``liveness`` is SERVING
    whatever Redis does) and server reflection.
    Sets ``ctx.health`` and ``ctx.service_names``.

    Raises
    ------
    ServerBindError
        When ``address`` cannot be bound.
    """
    max_bytes = ctx.settings.max_message_bytes
    options: list[tuple[str, Any]] = [
        # Without this a second server may silently share a port that is in use.
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.max_send_message_length", max_bytes),
        # gRPC holds calls that arrive faster than the event loop takes them; above its
        # default soft limit (1,000) it cancels some at random (the client sees CANCELLED,
        # nothing is counted). Up to this many reach admission instead, which refuses the
        # excess RESOURCE_EXHAUSTED, counted (dispatch_rejected_requests_total).
        ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
        ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
    ]
    server = grpc.aio.server(options=options)
    try:
        # Bind first: a bad address then fails before add_services touches ctx.
        port = _bind(server, address, ctx.settings)
        # every handler is wrapped when registered: request id, metrics, credential check
        gate = auth_gate(services.authenticator, ctx.metrics)
        observed = ObservedServer(
            server, CallObserver(ctx.metrics, gate, services.admission)
        )
        names = add_services(observed, ctx, services)
        health = DrainingHealthServicer(ctx.shutdown_event)
        health_pb2_grpc.add_HealthServicer_to_server(health, observed)
        await health.set(LIVENESS_SERVICE, SERVING)  # never follows Redis
        enable_reflection([*names, HEALTH_SERVICE_NAME], observed)
        watcher = HealthWatcher(ctx, health, [*names, HEALTH_SERVICE_NAME])
        await watcher.check_once()
    except BaseException:
        await server.stop(None)  # an unstopped server warns from __del__
        raise
    ctx.health = health
    ctx.service_names = names
    ctx.background.append(watcher.run)
    return server, port


def _bind(server: grpc.aio.Server, address: str, settings: Settings) -> int:
    credentials = _server_credentials(settings)
    try:
        if credentials is None:
            port = int(server.add_insecure_port(address))
        else:
            port = int(server.add_secure_port(address, credentials))
    except RuntimeError as exc:
        raise ServerBindError(f"cannot bind gRPC address {address}: {exc}") from None
    if port == 0:
        raise ServerBindError(
            f"cannot bind gRPC address {address} (in use or not a local address)"
        )
    return port
