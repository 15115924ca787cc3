"""Commands issued in one turn of the event loop, sent to Redis in one round trip.

A solve cycle starts with reads that do not depend on each other (the region's policy, the
region model's delta, the SLA marks and the interrupted moves when the clock rules are due:
``loop.solve_loop``), awaited together. On separate connections each is a write to the
server's socket, a wake-up of the server and a read of its answer: on a busy 2-core
machine those system calls cost the event loop as much as the Python that issues them
(``./dev bench cycle_cpu``: about half of a 20-ticket cycle's CPU is system time). A
``TurnBatchedRedis`` queues each command it is given and, once the tasks that are ready
in this turn have run, sends the queue as one pipeline (not a transaction: the commands
run one after another, as they would have on separate connections). A single command goes
as it is, on the client's ordinary path. Every command keeps its own answer and its own
error (``NoScriptError`` included, so a registered script reloads itself as before); a
failure of the round trip itself is every queued command's error.

Not for Redis Cluster (a pipeline there is per node and refuses ``EVALSHA``): use the
client itself (``batched_client``). Not for blocking commands (``XREAD BLOCK``), which
would hold back the others.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from dispatcher.backend.cluster import (
    is_cluster_client,
    replication_of,
    set_replication,
)

_Queued = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class TurnBatchedRedis(Redis):
    """A client on another client's connection pool whose commands issued in the same
    event-loop turn go to the server in one pipeline (the module doc)."""

    def __init__(self, base: Redis) -> None:
        super().__init__(connection_pool=base.connection_pool)
        self._queued: list[_Queued] = []
        self._sending: set[asyncio.Task[None]] = set()
        self.rounds = 0
        """Round trips made (tests and benchmarks count them)."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queued.append((args, options, future))
        if len(self._queued) == 1:
            loop.call_soon(self._send_queued)
        return await future

    def _send_queued(self) -> None:
        queued, self._queued = self._queued, []
        task = asyncio.ensure_future(self._send(queued))
        self._sending.add(task)  # a task nobody references may be collected mid-flight
        task.add_done_callback(self._sending.discard)

    async def _send(self, queued: list[_Queued]) -> None:
        self.rounds += 1
        try:
            if len(queued) == 1:
                args, options, _ = queued[0]
                answers = [await super().execute_command(*args, **options)]  # type: ignore[no-untyped-call]
            else:
                pipe = self.pipeline(transaction=False)
                for args, options, _ in queued:
                    pipe.execute_command(*args, **options)
                answers = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for _, _, future in queued:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), answer in zip(queued, answers, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)


def batched_client(redis: Any) -> Any:
    """A ``TurnBatchedRedis`` on ``redis``'s connection pool, with its durability mode;
    ``redis`` itself on Redis Cluster or when it has no pool."""
    if is_cluster_client(redis) or getattr(redis, "connection_pool", None) is None:
        return redis
    client = TurnBatchedRedis(redis)
    mode = replication_of(redis)
    set_replication(client, mode.replicas, mode.timeout_ms)
    return client
