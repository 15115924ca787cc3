"""The webhooks of one partition in flight, each ticket's in order (``Pipeline``)."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from dispatcher.webhooks.messages import Message


class Pipeline:
    """A partition's webhooks in flight: one task per message, each chained after the
    previous message of its ticket (so a ticket's webhooks go one after the other while
    different tickets go concurrently, with no barrier between reads). Delivered (or
    filtered out) entry ids wait in ``take_acks`` for one ``XACK``."""

    def __init__(
        self, deliver: Callable[[Message], Awaitable[None]], limit: int
    ) -> None:
        self._deliver = deliver
        self._limit = limit
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._acks: list[str] = []
        self._room = asyncio.Event()
        self._failure: BaseException | None = None

    def room(self) -> int:
        return max(0, self._limit - len(self._tasks))

    async def wait_for_room(self) -> None:
        while not self.room():
            self._room.clear()
            await self._room.wait()

    def skip(self, entry_id: str) -> None:
        self._acks.append(entry_id)

    def add(self, m: Message) -> None:
        task = asyncio.create_task(self._run(m, self._tails.get(m.order_key)))
        self._tails[m.order_key] = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._finished, m.order_key))

    async def _run(self, m: Message, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if self._failure is None:  # after a failure nothing more goes out of order
            await self._deliver(m)
            self._acks.append(m.entry_id)

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]
        if not task.cancelled() and task.exception() is not None:
            self._failure = self._failure or task.exception()
        self._room.set()

    def raise_failure(self) -> None:
        """Re-raise the first failure of a delivery (a Redis error, not a receiver's)."""
        if self._failure is not None:
            raise self._failure

    def take_acks(self) -> list[str]:
        acks, self._acks = self._acks, []
        return acks

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
