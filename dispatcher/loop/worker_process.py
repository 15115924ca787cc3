"""One solver worker process and the pipe the event loop talks to it through.

``dispatcher.loop.pool`` runs each worker as a ``WorkerProcess``: a ``spawn`` process that
takes jobs (a function and its arguments, pickled) from its end of a pipe, one at a time,
and answers each with its result or its exception. The event loop writes a job itself and
reads the answer when the pipe is readable (``loop.add_reader``): no thread between them.
A ``ProcessPoolExecutor`` passes each job and each result through two threads of this
process (its manager and its queue feeder), each waiting for the GIL while the event loop
runs other regions' cycles; without them the process spends 4-8% less CPU per cycle
(``./dev bench cycle_cpu``, CHANGELOG).

Jobs wait here, in order, while the worker is busy, and the event loop never blocks on the
pipe: a job larger than the pipe holds (or written while the worker still imports the
solver) is written as the worker reads it, an answer read as it arrives. A job whose caller
was cancelled before it was sent is never sent. When the worker dies,
its job and those waiting fail (``WorkerDied``) and the next job starts a new worker.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import multiprocessing
import os
import pickle
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection
    from multiprocessing.context import SpawnProcess

JOIN_TIMEOUT_S = 30.0
"""How long ``close`` waits for the worker to finish its job and exit before killing it."""


class WorkerDied(RuntimeError):
    """The worker process ended (crashed or was killed) before it answered."""


def serve(
    conn: Connection, init: Callable[..., None], init_args: tuple[Any, ...]
) -> None:
    """The worker's main: ``init(*init_args)``, then answer jobs until the pipe closes."""
    init(*init_args)
    while True:
        try:
            fn, args = pickle.loads(conn.recv_bytes())
        except EOFError:
            return
        try:
            answer: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:  # the caller gets it, as from an executor
            answer = (False, exc)
        try:
            data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an unpicklable result or exception
            data = pickle.dumps((False, RuntimeError(f"unpicklable answer: {exc!r}")))
        try:
            conn.send_bytes(data)
        except OSError:  # the parent closed its end (shutdown)
            return


def _frame(data: bytes) -> bytes:
    """``data`` framed as ``multiprocessing.connection.Connection.send_bytes`` frames it
    (the worker reads it with ``recv_bytes``)."""
    if len(data) > 0x7FFFFFFF:
        return struct.pack("!iQ", -1, len(data)) + data
    return struct.pack("!i", len(data)) + data


def _unframe(buffer: bytearray) -> bytes | None:
    """The first whole frame of ``buffer`` (removed from it), or None while incomplete."""
    if len(buffer) < 4:
        return None
    (size,) = struct.unpack_from("!i", buffer)
    start = 4
    if size == -1:
        if len(buffer) < 12:
            return None
        (size,), start = struct.unpack_from("!Q", buffer, 4), 12
    if len(buffer) < start + size:
        return None
    data = bytes(buffer[start : start + size])
    del buffer[: start + size]
    return data


class WorkerProcess:
    """One worker process, its pipe, and the jobs waiting for it (event-loop side). The
    event loop's reads and writes of the pipe never block: what the pipe does not take
    now is written when it is writable, an answer is taken as it comes in."""

    def __init__(self, init: Callable[..., None], init_args: tuple[Any, ...]) -> None:
        self._init, self._init_args = init, init_args
        self._process: SpawnProcess | None = None
        self._conn: Connection | None = None
        self._waiting: collections.deque[tuple[bytes, asyncio.Future[Any]]] = (
            collections.deque()
        )
        self._running: asyncio.Future[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop watching the pipe (while a job runs)."""
        self._outbox = memoryview(b"")
        self._inbox = bytearray()

    def start(self) -> None:
        """Spawn the process (it imports and initialises before it takes a job)."""
        if self._process is not None:
            return
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=serve, args=(theirs, self._init, self._init_args), daemon=True
        )
        self._process.start()
        theirs.close()
        self._conn = ours

    @property
    def pid(self) -> int | None:
        """The worker's process id (None: not started, or it died)."""
        return self._process.pid if self._process is not None else None

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the worker, blocking this thread (no job may be in flight:
        start-up and tests)."""
        if self._running is not None or self._waiting:
            raise RuntimeError("call: the worker has jobs in flight")
        self.start()
        assert self._conn is not None
        os.set_blocking(self._conn.fileno(), True)
        self._conn.send_bytes(pickle.dumps((fn, args), pickle.HIGHEST_PROTOCOL))
        ok, value = pickle.loads(self._conn.recv_bytes())
        if not ok:
            raise value
        return value

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the worker, after the jobs before it."""
        self.start()
        if self._running is not None and self._running.get_loop().is_closed():
            self._abandon()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(
            (pickle.dumps((fn, args), pickle.HIGHEST_PROTOCOL), future)
        )
        if self._running is None:
            self._send_next()
        return await future

    def _abandon(self) -> None:
        """The running job's event loop is closed (a test's loop ended with it): wait for
        its answer here and drop it, so that the next job gets its own."""
        assert self._conn is not None
        self._loop = None  # registered on the closed loop, gone with it
        self._running = None
        outbox, self._outbox = self._outbox, memoryview(b"")
        inbox, self._inbox = self._inbox, bytearray()
        try:
            fd = self._conn.fileno()
            os.set_blocking(fd, True)
            while outbox:
                outbox = outbox[os.write(fd, outbox) :]
            while _unframe(inbox) is None:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError
                inbox += chunk
        except (EOFError, OSError):
            self._discard_process()

    def _send_next(self) -> None:
        while self._waiting:
            data, future = self._waiting.popleft()
            if future.done() or future.get_loop().is_closed():
                continue  # its caller was cancelled meanwhile: never sent
            if self._conn is None:
                self.start()
            assert self._conn is not None
            loop = future.get_loop()
            if self._loop is not loop:
                self._unwatch()
                os.set_blocking(self._conn.fileno(), False)
                loop.add_reader(self._conn.fileno(), self._on_readable)
                self._loop = loop
            self._running = future
            self._outbox = memoryview(_frame(data))
            self._on_writable()
            return
        self._unwatch()

    def _on_writable(self) -> None:
        if self._conn is None or self._loop is None:
            return  # the worker died meanwhile
        fd = self._conn.fileno()
        try:
            while self._outbox:
                self._outbox = self._outbox[os.write(fd, self._outbox) :]
        except BlockingIOError:  # the rest when the worker has read some
            self._loop.add_writer(fd, self._on_writable)
            return
        except OSError:
            self._died()
            return
        self._loop.remove_writer(fd)

    def _on_readable(self) -> None:
        if self._conn is None:
            return  # the worker died meanwhile
        try:
            while True:
                chunk = os.read(self._conn.fileno(), 1 << 16)
                if not chunk:
                    raise EOFError
                self._inbox += chunk
        except BlockingIOError:
            pass
        except (EOFError, OSError):
            self._died()
            return
        data = _unframe(self._inbox)
        if data is None:
            return  # the rest is on its way
        future, self._running = self._running, None
        ok, value = pickle.loads(data)
        if (
            future is not None
            and not future.done()
            and not future.get_loop().is_closed()
        ):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        self._send_next()

    def _died(self) -> None:
        """Fail the running and the waiting jobs; the next job starts a new worker."""
        process = self._process
        self._unwatch()
        self._discard_process()  # joins it: its exit code is known after
        exit_code = process.exitcode if process is not None else None
        failed = [f for _, f in self._waiting]
        self._waiting.clear()
        if self._running is not None:
            failed.append(self._running)
            self._running = None
        for future in failed:
            if not future.done():
                future.set_exception(
                    WorkerDied(f"solver worker process ended (exit code {exit_code})")
                )

    def _unwatch(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and self._conn is not None and not loop.is_closed():
            loop.remove_reader(self._conn.fileno())
            loop.remove_writer(self._conn.fileno())

    def _discard_process(self) -> None:
        conn, self._conn = self._conn, None
        process, self._process = self._process, None
        self._outbox, self._inbox = memoryview(b""), bytearray()
        if conn is not None:
            conn.close()
        if process is not None:
            process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join()

    def close(self) -> None:
        """Let the worker finish its job, then end it (killed after ``JOIN_TIMEOUT_S``);
        the jobs still waiting are dropped. May run in another thread than the loop
        (``SolveLoop.aclose``): the loop then forgets the pipe in its own thread."""
        loop, self._loop = self._loop, None
        if loop is not None and self._conn is not None and not loop.is_closed():
            fd = self._conn.fileno()
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(loop.remove_reader, fd)
                loop.call_soon_threadsafe(loop.remove_writer, fd)
        for _, future in self._waiting:
            if not future.done() and not future.get_loop().is_closed():
                future.get_loop().call_soon_threadsafe(future.cancel)
        self._waiting.clear()
        self._running = None
        conn, self._conn = self._conn, None
        process, self._process = self._process, None
        if conn is not None:
            conn.close()  # the worker's next read ends it
        if process is not None:
            process.join(JOIN_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()
