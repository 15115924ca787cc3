"""Redis failures answered over real gRPC: each error class gets its deliberate status code,
one log line without a traceback, and ``dispatch_redis_errors_total{kind}``."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import redis.asyncio
import redis.exceptions
from redis.exceptions import RedisClusterException

from dispatcher.api.base import status_code_for
from dispatcher.backend.cluster import is_cluster_client
from dispatcher.backend.redis_errors import REDIS_ERROR_KINDS, redis_error_kind
from dispatcher.domain import Location, SubmitResult, SubmitTicket, Ticket
from dispatcher.errors import UnknownTicket
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.store.state import RedisStateStore, keys
from tests.conftest import sample_soon
from tests.redis_control import on_every_node
from tests.service.conftest import Stubs, ticket

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

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
    await on_every_node(redis_client, "CONFIG", "SET", "maxmemory-policy", "noeviction")
    await on_every_node(redis_client, "CONFIG", "SET", "maxmemory", "1")  # all over it
    try:
        with (
            caplog.at_level(logging.INFO),
            pytest.raises(grpc.aio.AioRpcError) as refused,
        ):
            await stubs.tickets.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket("OOM1"), request_id="oom1")
            )
    finally:
        for name in ("maxmemory", "maxmemory-policy"):
            await on_every_node(redis_client, "CONFIG", "SET", name, before[name])
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
    assert "maxmemory" in (refused.value.details() or "")
    assert (
        registry.get_sample_value("dispatch_redis_errors_total", {"kind": "oom"}) == 1
    )
    assert (
        await sample_soon(
            registry,
            "dispatch_rpc_duration_seconds_count",
            {"method": "dispatch.v1.TicketService/SubmitTicket", "code": "UNAVAILABLE"},
            expected=1,
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


async def _break_request_key(
    redis_client: redis.asyncio.Redis, tenant: str, region: str, request_id: str
) -> None:
    """A real fault in one region's script: its request-id key holds a hash, so the
    script's GET of it answers WRONGTYPE before the item writes anything."""
    await redis_client.hset(keys.request_key(tenant, region, request_id), "x", "1")


def _store_ticket(ticket_id: str, region: str) -> Ticket:
    return Ticket(ticket_id, region, 3, 600, location=Location(42.0, -71.0))


async def test_coalesced_submits_are_answered_each_on_its_own(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Unary submits coalesced into one round trip: the one whose script fails gets the
    error; the ones stored in the same round trip are answered OK, as if sent alone."""
    await _break_request_key(redis_client, "acme", "bad", "rb")
    good = [SubmitTicket(_store_ticket(f"G{i}", "north"), f"rg{i}") for i in range(3)]
    other = SubmitTicket(_store_ticket("S1", "south"), "rs1")
    bad = SubmitTicket(_store_ticket("B1", "bad"), "rb")
    answers = await asyncio.gather(
        *(store.submit_one("acme", item) for item in (*good, other, bad)),
        return_exceptions=True,
    )
    *stored, failed = answers
    for answer in stored:
        assert isinstance(answer, SubmitResult), answer
        assert answer.error is None
        assert (await store.get_ticket("acme", answer.ticket_id)).version == 1
    assert isinstance(failed, SubmitResult), failed
    assert isinstance(failed.error, redis.exceptions.ResponseError)
    with pytest.raises(UnknownTicket):
        await store.get_ticket("acme", "B1")


async def test_batch_submit_answers_a_failed_region_per_item(
    stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """Over gRPC: BatchSubmitTickets where one region's script fails answers that item
    INTERNAL and stores and acknowledges the others."""
    await _break_request_key(redis_client, "default", "bad", "rb")
    reply = await stubs.tickets.BatchSubmitTickets(
        pb.BatchSubmitTicketsRequest(
            requests=[
                pb.SubmitTicketRequest(ticket=ticket("N1"), request_id="rn1"),
                pb.SubmitTicketRequest(
                    ticket=ticket("B1", region="bad"), request_id="rb"
                ),
                pb.SubmitTicketRequest(
                    ticket=ticket("S1", region="south"), request_id="rs1"
                ),
            ]
        )
    )
    internal = grpc.StatusCode.INTERNAL.value[0]
    assert [r.code for r in reply.results] == [0, internal, 0]
    for tid in ("N1", "S1"):
        got = await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id=tid))
        assert got.version == 1
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="B1"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def _counting_store(
    redis_client: redis.asyncio.Redis,
) -> tuple[RedisStateStore, CollectorRegistry]:
    registry = new_registry(process_metrics=False)
    return RedisStateStore(redis_client, metrics=DispatchMetrics(registry)), registry


async def test_a_region_failing_half_way_answers_its_items_and_the_rest_is_stored(
    redis_client: redis.asyncio.Redis,
) -> None:
    """A batch over regions (one script call on a single node, one per region on a
    cluster): the region whose script fails at its second item answers both its items
    with the error (the first stays stored, as a failed call of its own leaves it: a retry
    with its request id replays it), the regions before and after it are stored and
    answered; the failure counts once in ``dispatch_redis_errors_total{kind="response"}``."""
    store, registry = _counting_store(redis_client)
    await _break_request_key(redis_client, "acme", "bad", "rb2")
    items = [
        SubmitTicket(_store_ticket("N1", "north"), "rn1"),
        SubmitTicket(_store_ticket("B1", "bad"), "rb1"),
        SubmitTicket(_store_ticket("B2", "bad"), "rb2"),
        SubmitTicket(_store_ticket("S1", "south"), "rs1"),
    ]
    n1, b1, b2, s1 = await store.submit("acme", items)
    assert n1.error is None
    assert s1.error is None
    for failed in (b1, b2):
        assert isinstance(failed.error, redis.exceptions.ResponseError)
        assert "WRONGTYPE" in str(failed.error)
    for tid in ("N1", "S1", "B1"):
        assert (await store.get_ticket("acme", tid)).version == 1
    with pytest.raises(UnknownTicket):
        await store.get_ticket("acme", "B2")
    (retried,) = await store.submit("acme", items[1:2])
    assert retried.replayed
    assert retried.error is None
    kind = {"kind": "response"}
    assert registry.get_sample_value("dispatch_redis_errors_total", kind) == 1


async def test_a_batch_refused_out_of_memory_raises_and_stores_nothing(
    redis_client: redis.asyncio.Redis,
) -> None:
    """Out of memory every region's group is refused: the batch raises the error (as a
    lone call would; the API answers UNAVAILABLE), nothing is stored, and each region's
    refusal counts in ``dispatch_redis_errors_total{kind="oom"}`` (on a cluster the
    tenant-wide id claim, a call before the regions' scripts, is refused first: one)."""
    store, registry = _counting_store(redis_client)
    items = [
        SubmitTicket(_store_ticket(f"O{i}", region), f"ro{i}")
        for i, region in enumerate(("north", "south", "east"))
    ]
    await store.submit("acme", [SubmitTicket(_store_ticket("W", "west"), "rw")])
    before = await redis_client.config_get("maxmemory*")
    await on_every_node(redis_client, "CONFIG", "SET", "maxmemory-policy", "noeviction")
    await on_every_node(redis_client, "CONFIG", "SET", "maxmemory", "1")
    try:
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            await store.submit("acme", items)
    finally:
        for name in ("maxmemory", "maxmemory-policy"):
            await on_every_node(redis_client, "CONFIG", "SET", name, before[name])
    for item in items:
        with pytest.raises(UnknownTicket):
            await store.get_ticket("acme", item.ticket.ticket_id)
    kind = {"kind": "oom"}
    refusals = 1 if is_cluster_client(redis_client) else 3
    assert registry.get_sample_value("dispatch_redis_errors_total", kind) == refusals
