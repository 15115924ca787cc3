"""In-process gRPC server: health, reflection, call metrics, request ids, Redis auth."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from dispatcher.backend.embedded import EmbeddedRedis
from dispatcher.runtime.context import RedisUnavailableError, connect_redis
from dispatcher.runtime.logging_setup import request_id_var
from tests.conftest import sample_soon

if TYPE_CHECKING:
    from pathlib import Path

    import redis.asyncio

    from dispatcher.runtime.context import AppContext
    from tests.conftest import RunningServer

pytestmark = pytest.mark.integration

CHECK = "grpc.health.v1.Health/Check"
WATCH = "grpc.health.v1.Health/Watch"


async def test_health_is_serving_with_redis_up(grpc_channel: grpc.aio.Channel) -> None:
    """Overall health answers SERVING while Redis answers PING."""
    stub = health_pb2_grpc.HealthStub(grpc_channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=""))
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_health_reflection_and_dispatch_services(
    grpc_channel: grpc.aio.Channel, grpc_server: RunningServer
) -> None:
    """Reflection lists every registered service, including the dispatch.v1 ones."""
    stub = reflection_pb2_grpc.ServerReflectionStub(grpc_channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    await call.done_writing()
    names = {service.name for service in response.list_services_response.service}
    assert {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names
    assert set(grpc_server.ctx.service_names) <= names
    assert any(name.startswith("dispatch.v1.") for name in names)


async def _reflect(
    channel: grpc.aio.Channel,
    method: str,
    request: reflection_pb2.ServerReflectionRequest,
) -> reflection_pb2.ServerReflectionResponse:
    """One reflection exchange on ``method`` (the request and response messages of v1 and
    v1alpha are the same on the wire, so the v1alpha classes encode both)."""
    call = channel.stream_stream(
        method,
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )()
    await call.write(request)
    response = await call.read()
    await call.done_writing()
    return response  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_v1_and_v1alpha_describe_the_services(
    grpc_channel: grpc.aio.Channel, grpc_server: RunningServer, version: str
) -> None:
    """Both reflection protocols list the services and return the file defining one,
    including the v1 reflection service itself (grpcurl asks v1 first)."""
    from google.protobuf import descriptor_pb2

    method = f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
    listed = await _reflect(
        grpc_channel, method, reflection_pb2.ServerReflectionRequest(list_services="")
    )
    names = {s.name for s in listed.list_services_response.service}
    assert {
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        *grpc_server.ctx.service_names,
    } <= names
    for symbol, package in (
        ("dispatch.v1.TicketService", "dispatch.v1"),
        ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1"),
    ):
        found = await _reflect(
            grpc_channel,
            method,
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol),
        )
        files = [
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in found.file_descriptor_response.file_descriptor_proto
        ]
        assert files, found
        assert files[0].package == package
        assert symbol.rsplit(".", 1)[1] in {svc.name for svc in files[0].service}


async def test_each_service_has_a_health_status(
    grpc_channel: grpc.aio.Channel, grpc_server: RunningServer
) -> None:
    """Per-service statuses exist for every dispatch.v1 service."""
    stub = health_pb2_grpc.HealthStub(grpc_channel)
    for name in grpc_server.ctx.service_names:
        response = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_rpc_latency_and_code_are_recorded(
    grpc_channel: grpc.aio.Channel, grpc_server: RunningServer
) -> None:
    """Each call lands in dispatch_rpc_duration_seconds{method,code}, errors with their code."""
    registry = grpc_server.ctx.registry
    stub = health_pb2_grpc.HealthStub(grpc_channel)
    await stub.Check(health_pb2.HealthCheckRequest(service=""))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

    count = "dispatch_rpc_duration_seconds_count"
    assert registry.get_sample_value(count, {"method": CHECK, "code": "OK"}) == 1
    labels = {"method": CHECK, "code": "NOT_FOUND"}
    assert await sample_soon(registry, count, labels, expected=1) == 1
    assert registry.get_sample_value("dispatch_rpc_in_flight") == 0


async def test_streaming_calls_are_counted_and_in_flight(
    grpc_channel: grpc.aio.Channel, grpc_server: RunningServer
) -> None:
    """A server-streaming call raises the in-flight gauge while open and is counted when it ends."""
    registry = grpc_server.ctx.registry
    stub = health_pb2_grpc.HealthStub(grpc_channel)
    call = stub.Watch(health_pb2.HealthCheckRequest(service=""))
    first = await call.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert registry.get_sample_value("dispatch_rpc_in_flight") == 1
    call.cancel()
    for _ in range(100):
        if registry.get_sample_value("dispatch_rpc_in_flight") == 0:
            break
        await asyncio.sleep(0.02)
    assert registry.get_sample_value("dispatch_rpc_in_flight") == 0
    assert (
        registry.get_sample_value(
            "dispatch_rpc_duration_seconds_count",
            {"method": WATCH, "code": "CANCELLED"},
        )
        == 1
    )


async def test_request_id_is_echoed_or_generated(
    grpc_channel: grpc.aio.Channel,
) -> None:
    """x-request-id from the caller comes back in trailing metadata; a missing one is generated."""
    stub = health_pb2_grpc.HealthStub(grpc_channel)
    call = stub.Check(
        health_pb2.HealthCheckRequest(service=""),
        metadata=(("x-request-id", "req-42"),),
    )
    await call
    assert ("x-request-id", "req-42") in tuple(await call.trailing_metadata())

    call = stub.Check(health_pb2.HealthCheckRequest(service=""))
    await call
    generated = dict(await call.trailing_metadata())["x-request-id"]
    assert len(generated) == 32
    assert request_id_var.get() is None  # never leaks into the caller's context


async def test_redis_password_in_url_is_used(tmp_path: Path) -> None:
    """redis://:password@host URLs authenticate; a wrong password fails after bounded retries."""
    with EmbeddedRedis(
        tmp_path / "r", extra_args=("--requirepass", "s3cret")
    ) as server:
        client = await connect_redis(
            f"redis://:s3cret@127.0.0.1:{server.port}/0", attempts=1
        )
        try:
            assert await client.ping()
        finally:
            await client.aclose()
        with pytest.raises(RedisUnavailableError) as info:
            await connect_redis(f"redis://:wrong@127.0.0.1:{server.port}/0", attempts=2)
        assert "wrong" not in str(info.value)
        assert "after 2 attempts" in str(info.value)


async def test_unreachable_redis_fails_after_bounded_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Connecting to a closed port retries the configured number of times, warning each time."""
    from dispatcher.backend.embedded import find_free_port

    port = find_free_port()
    with pytest.raises(RedisUnavailableError):
        await connect_redis(f"redis://127.0.0.1:{port}/0", attempts=3, timeout_s=0.5)
    warnings = [r for r in caplog.records if "not reachable" in r.getMessage()]
    assert len(warnings) == 3


async def test_unimplemented_dispatch_rpcs_are_counted(
    grpc_channel: grpc.aio.Channel, grpc_server: RunningServer
) -> None:
    """Calls to any dispatch.v1 method are recorded with their final status code."""
    from dispatcher.pb import dispatch_pb2, dispatch_pb2_grpc

    stub = dispatch_pb2_grpc.InsightServiceStub(grpc_channel)
    try:
        await stub.GetQueueStats(dispatch_pb2.GetQueueStatsRequest(), timeout=10)
        code = "OK"
    except grpc.aio.AioRpcError as exc:
        code = exc.code().name
    value = grpc_server.ctx.registry.get_sample_value(
        "dispatch_rpc_duration_seconds_count",
        {"method": "dispatch.v1.InsightService/GetQueueStats", "code": code},
    )
    assert value == 1


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_settings_serve_over_tls(
    app_context: AppContext, tmp_path: Path
) -> None:
    """With tls_cert/tls_key the server speaks TLS only; a client trusting the cert gets SERVING."""
    import dataclasses

    from dispatcher.api.server import create_server
    from dispatcher.bootstrap import Services

    cert, key = _self_signed(tmp_path)
    app_context.settings = dataclasses.replace(
        app_context.settings, tls_cert=cert, tls_key=key
    )
    server, port = await create_server(
        app_context, Services.build(app_context), "127.0.0.1:0"
    )
    await server.start()
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel:
            response = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await health_pb2_grpc.HealthStub(plain).Check(
                    health_pb2.HealthCheckRequest(), timeout=3
                )
    finally:
        await server.stop(None)


async def test_port_in_use_is_a_clear_error(
    grpc_server: RunningServer, app_context: AppContext
) -> None:
    """Binding a port another server holds raises ServerBindError (no silent port sharing)."""
    from dispatcher.api.server import ServerBindError, create_server

    background_before = list(app_context.background)
    with pytest.raises(ServerBindError, match=f"127.0.0.1:{grpc_server.port}"):
        await create_server(
            app_context, grpc_server.services, f"127.0.0.1:{grpc_server.port}"
        )
    assert app_context.background == background_before


async def test_rediss_url_configures_tls_and_password() -> None:
    """rediss:// gives a TLS connection with the URL's password (the embedded build has no TLS to test against)."""
    from redis.asyncio.connection import SSLConnection

    from dispatcher.runtime.context import redis_client

    client = redis_client(
        "rediss://app:s3cret@redis.example:6380/2?ssl_ca_certs=/etc/ca.pem"
    )
    pool = client.connection_pool
    assert pool.connection_class is SSLConnection
    assert pool.connection_kwargs["password"] == "s3cret"
    assert pool.connection_kwargs["username"] == "app"
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    await client.aclose()


async def test_cancelling_a_ping_always_cancels_the_caller(
    redis_client: redis.asyncio.Redis,
) -> None:
    """A cancel that lands mid-PING is never swallowed (redis-py can lose it; ping_redis shields)."""
    import random

    from dispatcher.runtime.context import ping_redis

    rng = random.Random(7)
    for _ in range(100):

        async def loop() -> None:
            while True:
                await ping_redis(redis_client, 2.0)

        task = asyncio.create_task(loop())
        await asyncio.sleep(rng.random() * 0.003)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert done, "the cancel was swallowed"
        assert task.cancelled()


def test_sync_handlers_are_observed_only_where_no_credential_is_checked() -> None:
    """A synchronous handler cannot be refused before it runs: registering one for an
    authenticated service fails at start-up; a public one (health) is wrapped."""
    from dispatcher.api.auth import Authenticator, AuthGate
    from dispatcher.api.call_observer import CallObserver
    from dispatcher.runtime.metrics import DispatchMetrics, new_registry

    gate = AuthGate(Authenticator({}))
    observer = CallObserver(DispatchMetrics(new_registry(process_metrics=False)), gate)
    sync = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    with pytest.raises(TypeError, match="make it async"):
        observer.wrap(sync, "dispatch.v1.TicketService/GetTicket")
    wrapped = observer.wrap(sync, "grpc.health.v1.Health/Check")
    assert wrapped.unary_unary is not None
    assert wrapped.unary_unary is not sync.unary_unary


async def test_connect_redis_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="attempts: must be >= 1, got 0"):
        await connect_redis("redis://127.0.0.1:1/0", attempts=0)
