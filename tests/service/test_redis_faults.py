"""Redis failures answered over real gRPC: each error class gets its deliberate status code,
one log line without a traceback, and ``dispatch_redis_errors_total{kind}``."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest
import redis.asyncio
import redis.exceptions
from redis.exceptions import RedisClusterException

from dispatcher.api.base import status_code_for
from dispatcher.backend.redis_errors import REDIS_ERROR_KINDS, redis_error_kind
from dispatcher.pb import dispatch_pb2 as pb
from tests.service.conftest import Stubs, ticket

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_out_of_memory_answers_unavailable_once_logged_and_counted(
    stubs: Stubs,
    grpc_server: Any,
    redis_client: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With ``maxmemory`` reached under ``noeviction`` a submit is refused UNAVAILABLE (as
    ops/RUNBOOK.md says), logged in one line without a traceback, counted as kind ``oom``;
    the refused ticket does not exist."""
    registry = grpc_server.ctx.registry
    before = await redis_client.config_get("maxmemory*")
    await redis_client.config_set("maxmemory-policy", "noeviction")
    await redis_client.config_set("maxmemory", "1")  # every byte used is over it
    try:
        with (
            caplog.at_level(logging.INFO),
            pytest.raises(grpc.aio.AioRpcError) as refused,
        ):
            await stubs.tickets.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket("OOM1"), request_id="oom1")
            )
    finally:
        await redis_client.config_set("maxmemory", before["maxmemory"])
        await redis_client.config_set("maxmemory-policy", before["maxmemory-policy"])
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
    assert "maxmemory" in (refused.value.details() or "")
    assert (
        registry.get_sample_value("dispatch_redis_errors_total", {"kind": "oom"}) == 1
    )
    assert (
        registry.get_sample_value(
            "dispatch_rpc_duration_seconds_count",
            {"method": "dispatch.v1.TicketService/SubmitTicket", "code": "UNAVAILABLE"},
        )
        == 1
    )
    mentions = [r for r in caplog.records if "maxmemory" in r.getMessage()]
    assert len(mentions) == 1, [r.getMessage() for r in caplog.records]
    assert all(r.exc_info is None for r in caplog.records)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="OOM1"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def _redis_error_classes() -> list[type[BaseException]]:
    return [
        cls
        for cls in vars(redis.exceptions).values()
        if isinstance(cls, type)
        and issubclass(cls, redis.exceptions.RedisError | RedisClusterException)
    ]


@pytest.mark.parametrize("cls", _redis_error_classes(), ids=lambda c: c.__name__)
def test_every_redis_error_class_has_a_deliberate_code_and_kind(
    cls: type[BaseException],
) -> None:
    """No Redis error reaches a client as UNKNOWN: each class maps to a code (UNAVAILABLE
    for what passes, INTERNAL for our bugs) and a metric kind."""
    exc = cls.__new__(cls)
    assert status_code_for(exc) in {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
    }
    assert redis_error_kind(exc) in REDIS_ERROR_KINDS


def test_transient_redis_errors_are_unavailable() -> None:
    """Memory full, a failover's read-only replica, a cluster moving slots: retryable."""
    for cls in (
        redis.exceptions.OutOfMemoryError,
        redis.exceptions.ReadOnlyError,
        redis.exceptions.ClusterDownError,
        redis.exceptions.TryAgainError,
        redis.exceptions.BusyLoadingError,
    ):
        assert status_code_for(cls.__new__(cls)) == grpc.StatusCode.UNAVAILABLE, cls
