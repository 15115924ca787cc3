"""The simulator's event kinds, ticket states and event queue (``simulations.engine``).

The order of the event kinds breaks ties at equal times; the ticket states are the engine's
lifecycle, with the service's status of each live one for the clock rules.
"""

from __future__ import annotations

import heapq
import math

# Event kinds; the order breaks ties at equal times (finish work before new arrivals, etc.).
(
    WORK_DONE,
    PAUSE,
    TRAVEL_DONE,
    SHIFT_END,
    SHIFT_START,
    CANCEL,
    RESUME,
    ARRIVAL,
    SOLVE,
    SAMPLE,
) = range(10)
EVENT_NAMES = (
    "work_done",
    "pause",
    "travel_done",
    "shift_end",
    "shift_start",
    "cancel",
    "resume",
    "arrival",
    "solve",
    "sample",
)
SOLVE_DEBOUNCED, SOLVE_TICK, SOLVE_CLOCK = range(3)  # why a SOLVE event runs

# Ticket states.
(
    NOT_ARRIVED,
    QUEUED,
    ASSIGNED,
    EN_ROUTE,
    IN_PROGRESS,
    RESOLVED,
    CANCELLED,
    PENDING,
) = range(8)
STATUS_NAMES = (
    "not_arrived",
    "queued",
    "assigned",
    "en_route",
    "in_progress",
    "resolved",
    "cancelled",
    "pending",
)
SERVICE_STATUS = (
    "",
    "QUEUED",
    "ASSIGNED",
    "ACCEPTED",
    "IN_PROGRESS",
    "",
    "",
    "PENDING",
)
"""The service's status of each live state, for the clock rules (``solver.sla``): a
technician on the way has accepted the ticket; a started one is IN_PROGRESS."""


class EventQueue:
    """A plain binary-heap event queue (the default core)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, int, int]] = []
        self._seq = 0

    def push(self, t: float, kind: int, a: int = -1, b: int = -1) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, kind, self._seq, a, b))

    def pop(self) -> tuple[float, int, int, int, int]:
        return heapq.heappop(self._heap)

    def __len__(self) -> int:
        return len(self._heap)

    def peek_time(self) -> float:
        return self._heap[0][0] if self._heap else math.inf
