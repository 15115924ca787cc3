"""Live-state metrics: queue gauges, event-stream lag and subscribers, store conflicts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
import redis.asyncio
import redis.exceptions

from dispatcher.domain import Assignment, Location, SubmitTicket, Ticket
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.store.state import Decision, ExpectedVersions, RedisStateStore, keys
from tests.service.conftest import Stubs, ticket

if TYPE_CHECKING:
    from dispatcher.runtime.context import AppContext

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_queue_gauges_and_event_lag(stubs: Stubs, grpc_server: Any) -> None:
    """GetQueueStats sets depth/oldest-age gauges; a delivered event records its lag."""
    registry = grpc_server.ctx.registry
    watch = stubs.events.WatchEvents(
        pb.WatchEventsRequest(start=pb.START_POSITION_EARLIEST)
    )
    for i in range(3):
        await stubs.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket(f"T{i}", priority=2))
        )
    async with asyncio.timeout(5):
        await watch.read()
    assert registry.get_sample_value("dispatch_event_subscribers") == 1
    assert registry.get_sample_value("dispatch_event_stream_lag_seconds_count") >= 1
    assert registry.get_sample_value("dispatch_events_published_total") == 3
    watch.cancel()
    await stubs.insight.GetQueueStats(pb.GetQueueStatsRequest())
    labels = {"tenant": "default", "region": "north", "priority": "P2"}
    assert registry.get_sample_value("dispatch_queue_depth", labels) == 3
    assert registry.get_sample_value("dispatch_queue_oldest_age_seconds", labels) >= 0


async def test_store_conflicts_are_counted(redis_client: redis.asyncio.Redis) -> None:
    """Stale-version and lost-lease commit rejections count as store conflicts by kind."""
    registry = new_registry(process_metrics=False)
    store = RedisStateStore(redis_client, metrics=DispatchMetrics(registry))
    await store.submit(
        "t", [SubmitTicket(Ticket("T1", "r", 2, 60, location=Location(1, 1)))]
    )
    await redis_client.set(keys.lease_key("t", "r"), "tok")
    stale = ExpectedVersions({"T1": 9})
    await store.commit_assignments("t", "r", "tok", [Decision("T1")], stale)
    await store.commit_assignments(
        "t", "r", "other", [Decision("T1", "", Assignment(""))], stale
    )
    assert (
        registry.get_sample_value("dispatch_store_conflicts_total", {"kind": "version"})
        == 1
    )
    assert (
        registry.get_sample_value("dispatch_store_conflicts_total", {"kind": "lease"})
        == 1
    )


async def test_redis_command_latency_and_errors_are_recorded(
    stubs: Stubs, app_context: AppContext
) -> None:
    """Script calls and direct commands observe dispatch_redis_command_duration_seconds;
    a failing Redis round trip counts in dispatch_redis_errors_total."""
    reg = app_context.registry
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("M1"), request_id="m1")
    )
    await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="M1"))
    submits = reg.get_sample_value(
        "dispatch_redis_command_duration_seconds_count", {"command": "submit"}
    )
    assert submits is not None
    assert submits >= 1
    commands = {
        s.labels["command"]
        for m in reg.collect()
        if m.name == "dispatch_redis_command_duration_seconds"
        for s in m.samples
        if s.name.endswith("_count") and s.value > 0
    }
    assert len(commands) >= 2  # the script and at least one direct command (a read)

    fresh = new_registry(process_metrics=False)
    metrics = DispatchMetrics(fresh)
    dead = redis.asyncio.Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=1)
    try:
        store = RedisStateStore(dead, metrics=metrics)
        with pytest.raises(redis.exceptions.ConnectionError):
            await store.tenants()
    finally:
        await dead.aclose()
    assert (
        fresh.get_sample_value("dispatch_redis_errors_total", {"kind": "connection"})
        == 1
    )
    assert (
        fresh.get_sample_value(
            "dispatch_redis_command_duration_seconds_count", {"command": "smembers"}
        )
        == 1
    )


async def test_queue_metrics_over_grpc_cap_regions(
    stubs: Stubs, app_context: AppContext
) -> None:
    app_context.metrics.region_cap.limit = 1
    for i, region in enumerate(("r1", "r2", "r3")):
        await stubs.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket(f"Q{i}", region=region))
        )
    await stubs.insight.GetQueueStats(pb.GetQueueStatsRequest())
    labels = {
        s.labels["region"]
        for m in app_context.registry.collect()
        if m.name == "dispatch_queue_at_risk"
        for s in m.samples
    }
    # one region keeps its name (whichever was seen first), the rest share "other"
    assert len(labels) == 2
    assert "other" in labels
