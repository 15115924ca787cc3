"""Commands awaited together go to Redis in one round trip, each with its own answer
(``dispatcher.backend.batched``: the solve cycle's first reads)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from dispatcher.backend.batched import TurnBatchedRedis, batched_client
from dispatcher.backend.cluster import (
    is_cluster_client,
    replication_of,
    set_replication,
)
from dispatcher.runtime.context import close_redis
from dispatcher.runtime.context import redis_client as product_client

if TYPE_CHECKING:
    import redis.asyncio

SCRIPT = "return {KEYS[1], ARGV[1], redis.call('GET', KEYS[1])}"


async def _fill(client: redis.asyncio.Redis) -> None:
    await client.set("a", "1")
    await client.hset("h", mapping={"f": "v", "g": "w"})
    await client.sadd("s", "x", "y")


@pytest.fixture
def batched(redis_client: redis.asyncio.Redis) -> TurnBatchedRedis:
    """The batching client on the test's Redis. On a Redis Cluster ``batched_client`` is the
    cluster client itself (a pipeline there is per node): nothing of the batching to test."""
    client = batched_client(redis_client)
    if is_cluster_client(redis_client):
        assert client is redis_client
        pytest.skip(
            "on a Redis Cluster the solve loop reads through the cluster client"
        )
    assert isinstance(client, TurnBatchedRedis)
    return client


def _reads(client: redis.asyncio.Redis) -> list[object]:
    script = client.register_script(SCRIPT)
    return [
        client.mget("a", "missing"),
        client.hgetall("h"),
        client.smembers("s"),
        script(keys=["a"], args=["arg"]),
    ]


async def test_reads_awaited_together_take_one_round_trip_with_the_same_answers(
    redis_client: redis.asyncio.Redis, batched: TurnBatchedRedis
) -> None:
    await _fill(redis_client)
    expected = await asyncio.gather(*_reads(redis_client))
    before = batched.rounds
    answers = await asyncio.gather(*_reads(batched))
    assert answers == expected
    assert batched.rounds - before == 1  # the plain client's call loaded the script
    # one command alone goes as it is
    assert await batched.get("a") == "1"
    assert batched.rounds - before == 2


async def test_each_command_keeps_its_own_error_and_a_flushed_script_reloads(
    redis_client: redis.asyncio.Redis,
) -> None:
    await _fill(redis_client)
    batched = batched_client(redis_client)
    script = batched.register_script(SCRIPT)
    assert await script(keys=["a"], args=["1"]) == ["a", "1", "1"]
    await redis_client.script_flush()
    answers = await asyncio.gather(
        batched.get("a"),
        batched.hgetall("a"),  # a string, not a hash: WRONGTYPE for this one alone
        script(keys=["a"], args=["2"]),  # NOSCRIPT: loaded again, then run
        batched.smembers("s"),
        return_exceptions=True,
    )
    assert answers[0] == "1"
    assert isinstance(answers[1], ResponseError)
    assert "WRONGTYPE" in str(answers[1])
    assert answers[2] == ["a", "2", "1"]
    assert answers[3] == {"x", "y"}


async def test_a_cancelled_caller_leaves_the_others_their_answers(
    redis_client: redis.asyncio.Redis, batched: TurnBatchedRedis
) -> None:
    await _fill(redis_client)
    first = asyncio.ensure_future(batched.get("a"))
    second = asyncio.ensure_future(batched.smembers("s"))
    await asyncio.sleep(0)  # both queued, not yet sent
    first.cancel()
    assert await second == {"x", "y"}
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await batched.get("a") == "1"


async def test_a_failed_round_trip_fails_every_command_in_it() -> None:
    client = product_client("redis://127.0.0.1:1/0", timeout_s=0.5)
    batched = batched_client(client)
    try:
        answers = await asyncio.gather(
            batched.get("a"), batched.smembers("s"), return_exceptions=True
        )
        assert all(isinstance(a, RedisConnectionError) for a in answers), answers
    finally:
        await close_redis(client)


async def test_the_durability_mode_comes_along(
    redis_client: redis.asyncio.Redis,
) -> None:
    set_replication(redis_client, 1, 250)
    try:
        mode = replication_of(batched_client(redis_client))
        assert (mode.replicas, mode.timeout_ms) == (1, 250)
    finally:
        set_replication(redis_client, 0)
