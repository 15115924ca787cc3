"""The server's default deadline over a real server: a unary call whose client set none
still ends, after ``default_deadline_s``, whatever Redis does."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import grpc
import pytest

from dispatcher.pb import dispatch_pb2 as pb
from tests.redis_control import pause, unpause
from tests.service.conftest import Stubs, ticket

if TYPE_CHECKING:
    import redis.asyncio

    from dispatcher.runtime.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def app_settings(app_settings: Settings) -> Settings:
    """The server's default deadline short, far under the Redis timeout (5 s)."""
    return dataclasses.replace(app_settings, default_deadline_s=DEFAULT_DEADLINE_S)


DEFAULT_DEADLINE_S = 0.5


async def test_a_call_without_deadline_gets_the_server_default(
    stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """A unary call whose client set no deadline, on a Redis that does not answer (writes
    paused), ends DEADLINE_EXCEEDED after ``default_deadline_s``, not after the Redis
    timeouts (or the pause)."""
    await pause(redis_client, 4000, "WRITE")
    try:
        start = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stubs.tickets.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket("D1"), request_id="d1")
            )
        elapsed = time.monotonic() - start
    finally:
        await unpause(redis_client)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err.value
    assert DEFAULT_DEADLINE_S <= elapsed < DEFAULT_DEADLINE_S + 1.0


async def test_a_read_without_deadline_gets_the_server_default(
    stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """The same for a read waiting on its own Redis command (every command paused)."""
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("R1"), request_id="r1")
    )
    await pause(redis_client, 4000, "ALL")
    try:
        start = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="R1"))
        elapsed = time.monotonic() - start
    finally:
        await unpause(redis_client)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err.value
    assert DEFAULT_DEADLINE_S <= elapsed < DEFAULT_DEADLINE_S + 1.0
