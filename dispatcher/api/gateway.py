"""REST/JSON gateway: every annotated rpc over HTTP, proxied to the service's own gRPC port.

Routes come from ``http_rules.routes()`` (the ``google.api.http`` options of dispatch.proto);
bodies and responses use protobuf's canonical JSON (``json_format``). Each HTTP request
becomes one gRPC call over a loopback ``grpc.aio`` channel to this process's gRPC server,
so the credential check, validation, error statuses, request ids and metrics are exactly the
gRPC ones (there is no second code path to keep in step):

- ``Authorization: Bearer <token>`` and ``X-Api-Key`` are forwarded as call metadata;
- ``Idempotency-Key`` fills ``request_id`` of a request that has one (SubmitTicket);
- a failed call answers the HTTP status google.rpc's ``code.proto`` gives its gRPC code,
  with the ``google.rpc.Status`` (code, message, details) as the JSON body;
- ``X-Request-Id`` is forwarded, and the server's request id is returned in that header.

``GET /v1/events`` (WatchEvents) is served as Server-Sent Events by ``dispatcher.api.sse``;
``GET /v1/openapi.json`` serves the committed OpenAPI document; ``GET /board`` the live
dispatch board (a static page that reads the API with the viewer's credential).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from aiohttp import web
from google.protobuf import json_format

from dispatcher.api import http_rules, sse
from dispatcher.api.http_common import (
    call_metadata,
    error_response,
    invalid_argument,
    request_id_header,
    rpc_error_response,
    to_json,
)
from dispatcher.errors import InvalidArgument

if TYPE_CHECKING:
    import asyncio

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
OPENAPI_PATH = "/v1/openapi.json"
BOARD_PATH = "/board"
MAX_BODY_BYTES = 4 * 1024 * 1024


def board_page() -> bytes:
    """The live dispatch board (package data: one HTML file, no build step)."""
    return (resources.files("dispatcher.api") / "board.html").read_bytes()


def openapi_document() -> bytes:
    """The committed OpenAPI document (package data beside this module)."""
    return (resources.files("dispatcher.api") / "openapi.json").read_bytes()


@dataclass
class Gateway:
    """The aiohttp application and the loopback channel it proxies over."""

    channel: grpc.aio.Channel
    shutdown: asyncio.Event
    heartbeat_s: float = sse.HEARTBEAT_S

    def __post_init__(self) -> None:
        self.routes = http_rules.routes()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_get(OPENAPI_PATH, self._openapi)
        app.router.add_get(BOARD_PATH, self._board)
        app.router.add_route("*", "/v1/{tail:.*}", self._dispatch)
        return app

    async def _board(self, _request: web.Request) -> web.Response:
        # a static page: what it shows it reads through the API with the user's credential
        return web.Response(body=board_page(), content_type="text/html")

    async def _openapi(self, _request: web.Request) -> web.Response:
        return web.Response(body=openapi_document(), content_type="application/json")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        found = http_rules.match(
            self.routes, request.method, request.raw_path.split("?")[0]
        )
        if found is None:
            return error_response(
                grpc.StatusCode.NOT_FOUND, f"no route {request.method} {request.path}"
            )
        if isinstance(found, list):
            return error_response(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{request.method} not allowed on {request.path}",
                headers={"Allow": ", ".join(sorted(set(found)))},
            )
        route, path_values = found
        try:
            message = await self._request_message(request, route, path_values)
        except InvalidArgument as exc:
            return invalid_argument(exc)
        if route.server_streaming:
            return await sse.stream_events(self, request, route, message)
        return await self._unary(request, route, message)

    async def _request_message(
        self,
        request: web.Request,
        route: http_rules.HttpRoute,
        path_values: dict[str, str],
    ) -> Any:
        body: Any = None
        if route.body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError as exc:
                raise InvalidArgument("body", f"not valid JSON: {exc}") from None
        query = {key: request.query.getall(key) for key in request.query}
        data = http_rules.request_dict(route, path_values, query, body)
        message = route.request_class()
        try:
            json_format.ParseDict(data, message)
        except json_format.ParseError as exc:
            raise InvalidArgument("body", str(exc)) from None
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None:
            if "request_id" not in message.DESCRIPTOR.fields_by_name:
                raise InvalidArgument(
                    IDEMPOTENCY_HEADER, f"{route.method.name} takes no request id"
                )
            present = message.request_id  # type: ignore[attr-defined]
            if present and present != key:
                raise InvalidArgument(
                    "request_id", "differs from the Idempotency-Key header"
                )
            message.request_id = key  # type: ignore[attr-defined]
        return message

    async def _unary(
        self, request: web.Request, route: http_rules.HttpRoute, message: Any
    ) -> web.Response:
        call = self.channel.unary_unary(
            route.grpc_path,
            request_serializer=type(message).SerializeToString,
            response_deserializer=route.response_class.FromString,
        )(message, metadata=call_metadata(request))
        try:
            response = await call
        except grpc.aio.AioRpcError as error:
            return rpc_error_response(error)
        headers = request_id_header(await call.trailing_metadata())
        return web.Response(
            text=to_json(response),
            content_type="application/json",
            headers=headers,
        )


def loopback_target(grpc_host: str, grpc_port: int) -> str:
    """Where the gateway reaches the gRPC server: its host, or loopback when it binds all."""
    if grpc_host in ("0.0.0.0", ""):
        return f"127.0.0.1:{grpc_port}"
    if grpc_host in ("::", "[::]"):
        return f"[::1]:{grpc_port}"
    host = (
        f"[{grpc_host}]"
        if ":" in grpc_host and not grpc_host.startswith("[")
        else grpc_host
    )
    return f"{host}:{grpc_port}"


@dataclass
class RunningGateway:
    """A started gateway: its bound port; ``stop`` drains it and closes the channel."""

    runner: web.AppRunner
    channel: grpc.aio.Channel
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.channel.close()


async def start_gateway(
    *,
    host: str,
    port: int,
    grpc_target: str,
    shutdown: asyncio.Event,
    max_message_bytes: int,
    grace_s: float,
    heartbeat_s: float = sse.HEARTBEAT_S,
) -> RunningGateway:
    """Bind the gateway on ``host:port`` (0 = a free port) and start serving."""
    channel = grpc.aio.insecure_channel(
        grpc_target,
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )
    gateway = Gateway(channel, shutdown, heartbeat_s)
    runner = web.AppRunner(gateway.app(), shutdown_timeout=grace_s, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        await channel.close()
        raise
    server = site._server  # aiohttp keeps the bound asyncio server here
    assert server is not None
    bound = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
    return RunningGateway(runner, channel, bound)
