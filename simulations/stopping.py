"""Stop long simulator work cleanly on SIGINT or SIGTERM, here and in worker processes.

A signal only raises a flag. The work looks at it at safe points -- before each tuning
trial and every simulated 15 minutes of a run (the run's progress callback, see
``check``) -- and raises ``Interrupted`` there. So a trial that is cut short ends as FAIL
in its study (Optuna's own handling of an exception in the objective), never RUNNING, and
no write is cut in half. ``run_all`` runs work here or in spawned worker processes; the
parent forwards a signal to each worker it started, by pid, as SIGINT, and workers send
progress events back through a queue (``emit``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
T = TypeVar("T")
R = TypeVar("R")


class Interrupted(Exception):
    """Work stopped at a safe point because SIGINT or SIGTERM arrived."""


@dataclass
class _State:
    signum: int | None = (
        None  # the first stop signal received (the exit code is 128 + it)
    )
    pending: bool = False  # a stop is asked for the current phase of work
    workers: set[int] = field(default_factory=set)  # pids this process started
    events: Callable[[tuple[Any, ...]], None] | None = None  # where emit() sends events


_STATE = _State()


def _forward(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _STATE.signum is None:
        _STATE.signum = signum
    _STATE.pending = True
    for pid in _STATE.workers:
        _forward(pid)


def check() -> None:
    """Raise ``Interrupted`` if a stop signal arrived during the current phase."""
    if _STATE.pending:
        raise Interrupted(f"stopped by {signal_name()}")


def requested() -> bool:
    """Whether a stop signal arrived during the current phase."""
    return _STATE.pending


def received() -> int | None:
    """The first stop signal received since ``stop_on_signals`` began, if any."""
    return _STATE.signum


def signal_name() -> str:
    """``SIGINT`` / ``SIGTERM`` (the first received), or ``signal`` if none yet."""
    return signal.Signals(_STATE.signum).name if _STATE.signum else "signal"


def next_phase() -> None:
    """Start a new phase of work: a signal already handled no longer stops it."""
    _STATE.pending = False


def emit(event: tuple[Any, ...]) -> None:
    """Send a progress event to whoever runs this work (``run_all``'s ``on_event``)."""
    if _STATE.events is not None:
        _STATE.events(event)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM set the stop flag instead of killing the process.

    Outside the main thread (where Python cannot install handlers) it changes nothing.
    """
    global _STATE
    _STATE = _State()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _on_signal) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _init_worker(events: Any) -> None:
    """Pool initializer: flag-only signal handlers, events to the parent, pid announced."""
    global _STATE
    _STATE = _State(events=events.put)
    for s in STOP_SIGNALS:
        signal.signal(s, _on_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by _spawning
    events.put(("pid", os.getpid()))


@contextlib.contextmanager
def _spawning() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while worker processes start: a spawned worker inherits the
    mask, so a Ctrl-C (sent to the whole process group) waits until its handlers are in
    place (``_init_worker``) instead of killing it half-imported and breaking the pool."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def run_all(
    fn: Callable[[T], R],
    items: Sequence[T],
    jobs: int,
    on_event: Callable[[tuple[Any, ...]], None],
) -> list[R]:
    """``[fn(x) for x in items]`` here (``jobs <= 1``) or in ``jobs`` spawned processes.

    ``fn`` reports progress with ``emit(event)``; ``on_event`` receives the events here.
    An ``Interrupted`` raised by ``fn`` is raised here once every item has ended.
    """
    if jobs <= 1:
        _STATE.events = on_event
        try:
            return [fn(x) for x in items]
        finally:
            _STATE.events = None
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: polars and OR-Tools run thread pools that a fork can deadlock.
    ctx = multiprocessing.get_context("spawn")
    events = ctx.Queue()
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(items)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(events,),
    ) as pool:
        with _spawning():  # the pool starts its processes at the first submit
            futures = [pool.submit(fn, x) for x in items]
        while not all(f.done() for f in futures):
            _relay(events, on_event, timeout=0.2)
        while _relay(events, on_event, timeout=0.3):
            pass  # events still in flight when the last item ended
    _STATE.workers.clear()
    return [f.result() for f in futures]


def _relay(
    events: Any, on_event: Callable[[tuple[Any, ...]], None], timeout: float
) -> bool:
    """Pass one event on (a worker's pid is kept, not passed); False if none came."""
    try:
        event = events.get(timeout=timeout)
    except queue.Empty:
        return False
    if event[0] == "pid":
        _STATE.workers.add(event[1])
        if _STATE.pending:
            _forward(event[1])
    else:
        on_event(event)
    return True
