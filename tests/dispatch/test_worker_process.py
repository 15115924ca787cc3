"""A solver worker process (``dispatcher.loop.worker_process``): jobs answered in order,
exceptions passed back, a job cancelled before it was sent never runs, a dead worker fails
its job and the next job gets a new one."""

from __future__ import annotations

import asyncio
import itertools
import operator
import os
import time
from typing import TYPE_CHECKING

import pytest

from dispatcher.loop.worker_process import WorkerDied, WorkerProcess

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture
async def worker() -> AsyncIterator[WorkerProcess]:
    w = WorkerProcess(int, ())  # int(): no start-up work
    w.start()
    try:
        yield w
    finally:
        await asyncio.to_thread(w.close)


async def test_jobs_answer_in_order_with_their_errors(worker: WorkerProcess) -> None:
    started = time.monotonic()
    slow, quotient, pid = await asyncio.gather(
        worker.run(time.sleep, 0.2),
        worker.run(operator.truediv, 3, 2),
        worker.run(os.getpid),
    )
    assert (slow, quotient) == (None, 1.5)
    assert pid != os.getpid()
    assert time.monotonic() - started >= 0.2
    with pytest.raises(ZeroDivisionError):
        await worker.run(operator.truediv, 1, 0)
    assert await worker.run(os.getpid) == pid  # the same process goes on


async def test_a_job_cancelled_before_it_was_sent_never_runs(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    busy = asyncio.ensure_future(worker.run(time.sleep, 0.3))
    await asyncio.sleep(0.05)
    dropped = asyncio.ensure_future(worker.run(os.mkdir, str(tmp_path / "dropped")))
    await asyncio.sleep(0.05)
    dropped.cancel()
    await worker.run(os.mkdir, str(tmp_path / "kept"))
    await busy
    assert (tmp_path / "kept").is_dir()
    assert not (tmp_path / "dropped").exists()


async def test_a_dead_worker_fails_its_job_and_the_next_one_starts_anew(
    worker: WorkerProcess,
) -> None:
    first = await worker.run(os.getpid)
    dying = asyncio.ensure_future(worker.run(os._exit, 3))
    waiting = asyncio.ensure_future(worker.run(os.getpid))
    with pytest.raises(WorkerDied, match="exit code 3"):
        await dying
    with pytest.raises(WorkerDied):
        await waiting  # it was queued behind the job that killed the worker
    second = await worker.run(os.getpid)
    assert second not in (first, os.getpid())


def _echo_size(data: bytes) -> tuple[int, bytes]:
    return len(data), data[-8:]


async def test_large_jobs_and_answers_do_not_block_the_loop() -> None:
    """A job and an answer far larger than a pipe holds, written while the worker is still
    starting (it reads nothing for 1 s): the event loop runs on meanwhile (a blocking
    write would stall it until the worker reads)."""
    worker = WorkerProcess(time.sleep, (1.0,))
    big = os.urandom(8 << 20)
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0.05)  # ticking
    try:
        size, tail = await worker.run(_echo_size, big)
        assert await worker.run(bytes, 5 << 20) == bytes(5 << 20)
    finally:
        ticker.cancel()
        await asyncio.to_thread(worker.close)
    assert (size, tail) == (len(big), big[-8:])
    longest = max(b - a for a, b in itertools.pairwise(ticks))
    assert longest < 0.5, longest
