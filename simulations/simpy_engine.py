"""The same engine with SimPy's ``Environment`` as its clock and event queue.

Kept as the measured alternative to the plain ``heapq`` core (the choice of engine is
decided by measurement): every handler is shared with :class:`simulations.engine.Engine`; only the
event queue differs. Events are scheduled with ``priority = kind`` so SimPy orders ties by
(time, kind, insertion), exactly like the heap core; both therefore produce the same log,
which ``tests/simulations/test_simpy_equivalence.py`` checks and
``benchmarks/sim_speed.py`` times.
"""

from __future__ import annotations

import heapq
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from simulations.engine import Engine
from simulations.result import sim_result

if TYPE_CHECKING:
    from simulations.result import SimResult


class _SimpyQueue:
    """``push(t, kind, a, b)`` onto a SimPy environment; the callback runs the handler."""

    def __init__(self, env: simpy.Environment, fire: Any) -> None:
        self.env = env
        self.fire = fire
        self.pending = 0

    def push(self, t: float, kind: int, a: int = -1, b: int = -1) -> None:
        env = self.env
        ev = simpy.Event(env)
        ev._ok = True
        ev._value = None
        fire = self.fire
        ev.callbacks.append(lambda _ev: fire(kind, a, b))
        # What env.schedule(ev, priority=kind, delay=t - now) does, but with the exact time t
        # (now + (t - now) can differ from t in the last bit, which would reorder ties).
        heapq.heappush(env._queue, (t, kind, next(env._eid), ev))  # type: ignore[misc]

    def __len__(
        self,
    ) -> int:  # only used for truthiness by callers that check emptiness
        return len(self.env._queue)


class SimpyEngine(Engine):
    """:class:`Engine` driven by ``simpy.Environment`` instead of a heap."""

    def run(self) -> SimResult:
        t_wall = time.perf_counter()
        env = simpy.Environment()
        handlers = self.handlers()
        next_progress = [0.0]

        def fire(kind: int, a: int, b: int) -> None:
            t = env.now
            self.now = t
            self.events += 1
            handlers[kind](a, b)
            if self.progress is not None and t >= next_progress[0]:
                self.progress(t)
                next_progress[0] = t + 900.0

        self.q = _SimpyQueue(env, fire)  # type: ignore[assignment]
        self._schedule_initial()
        # Stop just after the horizon so events at exactly the horizon still run (as in Engine).
        env.run(until=math.nextafter(self.horizon_s, math.inf))
        self.now = self.horizon_s
        for j in np.flatnonzero(self.on_shift):
            self.on_shift_s[j] += self.horizon_s - self.shift_began_s[j]
        wall = time.perf_counter() - t_wall
        if self.progress is not None:
            self.progress(self.horizon_s)
        return sim_result(self, wall)
