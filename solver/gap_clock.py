"""The clock a GAP race (:func:`solver.gap.solve_gap`) keeps its time limit on.

``WALL_CLOCK`` (``time.perf_counter``) is the default. :func:`cpu_clock` counts the
process's CPU time (every thread: ``time.process_time``) divided by the cores the race
may use, so that on that many free cores it runs about as fast as the wall clock, and on
a loaded machine as slowly as the race gets CPU: a budget on it emulates the same
budget on a quiet machine (benchmarks on a shared machine). The solvers inside take
wall-time limits; on the CPU clock they get ``CPU_WALL_STRETCH`` wall seconds per clock
second left, and the race stops them when the clock's deadline passes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from solver.validate import validate_count

if TYPE_CHECKING:
    from collections.abc import Callable

CPU_WALL_STRETCH = 100.0  # wall seconds per CPU-clock second a solver inside may
# take: the race gets 1/100 of its cores at a load of about 100 x its threads. At 20,
# loads of 20-23 on 2 cores cut races short: test_cpu_clock_race_spends_its_budget[2]
# spent 2.72 of its 2.94 CPU s (CP-SAT's 29 s wall limit ran out first), and a 30 s
# benchmark race (D 10x100) ended at 600 s wall with 49.9 of its 60 CPU s


@dataclass(frozen=True, slots=True)
class GapClock:
    """``now()``: seconds on this clock; ``stretch``: the wall seconds a solver inside
    is given per second left on it (1 for the wall clock)."""

    now: Callable[[], float]
    stretch: float = 1.0
    name: str = "wall"

    def wall_limit_s(self, deadline: float, floor_s: float = 0.01) -> float:
        """The wall-time limit for a solver that must stop by ``deadline`` (on this
        clock); at least ``floor_s``."""
        return max((deadline - self.now()) * self.stretch, floor_s)


WALL_CLOCK = GapClock(time.perf_counter)


def cpu_clock(cores: int) -> GapClock:
    """The process's CPU seconds over ``cores`` (>= 1): see the module docstring."""
    validate_count("cores", cores, 1)
    return GapClock(
        lambda: time.process_time() / cores, CPU_WALL_STRETCH, f"cpu/{cores}"
    )


CLOCKS = ("wall", "cpu")


def race_clock(name: str, cores: int) -> GapClock:
    """The clock ``name`` (one of ``CLOCKS``): ``WALL_CLOCK`` or :func:`cpu_clock`."""
    if name not in CLOCKS:
        raise ValueError(f"clock: must be one of {CLOCKS}, got {name!r}")
    return WALL_CLOCK if name == "wall" else cpu_clock(cores)
