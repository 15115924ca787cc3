"""A delivering `dispatcher serve` process killed (SIGKILL) mid-delivery: another process
takes its deliveries over and sends the unacknowledged events again."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc.aio
import pytest

from dispatcher.backend.serve_process import start_serve
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
from dispatcher.store.keys import WEBHOOK_GROUP_PREFIX, events_key
from tests.webhooks.conftest import ticket

if TYPE_CHECKING:
    from pathlib import Path

    import redis.asyncio as aioredis

    from tests.webhooks.conftest import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SERVE_ARGS = (
    "--webhook-allow-loopback", "true",
    "--webhook-lease-ttl-ms", "1000",
    "--webhook-timeout-s", "60",
    "--webhook-retry-max-s", "0.2",
)  # fmt: skip


async def _holder(redis: aioredis.Redis, group: str) -> tuple[int, int]:
    """(pid, pending) of the consumer holding unacknowledged entries, else (0, 0)."""
    for c in await redis.xinfo_consumers(events_key("default", "north"), group):
        if int(c["pending"]):
            return int(str(c["name"]).split("-")[1]), int(c["pending"])
    return 0, 0


@pytest.mark.timeout(120)
async def test_killed_deliverer_is_replaced_and_redelivers(
    redis_server: str,
    redis_client: aioredis.Redis,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    """The receiver holds its answers, so the delivering process has events in flight; it
    is SIGKILLed; the other process claims them and every event is acknowledged (each
    sent at least twice: before and after the kill)."""
    procs = [
        await asyncio.to_thread(
            start_serve, redis_server, tmp_path, name, role="api", extra_args=SERVE_ARGS
        )
        for name in ("a", "b")
    ]
    try:
        receiver.delay_s = 30.0  # the first attempts hang until their sender dies
        async with grpc.aio.insecure_channel(procs[0].target) as channel:
            webhooks = pb_grpc.WebhookServiceStub(channel)
            tickets = pb_grpc.TicketServiceStub(channel)
            sub = await webhooks.CreateWebhookSubscription(
                pb.CreateWebhookSubscriptionRequest(
                    subscription=pb.WebhookSubscription(url=receiver.url)
                )
            )
            for i in range(5):
                await tickets.SubmitTicket(
                    pb.SubmitTicketRequest(request_id=f"T{i}", ticket=ticket(f"T{i}"))
                )
        group = WEBHOOK_GROUP_PREFIX + sub.subscription_id
        await receiver.wait_for(lambda r: len(r) >= 5)
        pid, pending = await _holder(redis_client, group)
        assert pending == 5
        (victim,) = [p for p in procs if p.proc.pid == pid]
        (survivor,) = [p for p in procs if p is not victim]
        receiver.delay_s = 0.0
        victim.kill()
        await receiver.wait_for(lambda r: len(r) >= 10, timeout_s=30)
        for _ in range(100):
            if (await _holder(redis_client, group))[1] == 0:
                break
            await asyncio.sleep(0.1)
        assert await _holder(redis_client, group) == (0, 0)
        ids = [r.headers["webhook-id"] for r in receiver.received]
        assert all(ids.count(i) == 2 for i in ids)
        # Each ticket once more; tickets go concurrently, so not in submission order.
        assert sorted(receiver.delivered_ids()[5:]) == [f"T{i}" for i in range(5)]
        consumers = await redis_client.xinfo_consumers(
            events_key("default", "north"), group
        )
        assert any(
            str(c["name"]).startswith(f"wh-{survivor.proc.pid}-") for c in consumers
        )
    finally:
        for p in procs:
            p.kill()
