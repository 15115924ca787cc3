"""Concurrency: a technician (a help desk agent) working up to N tickets at once.

The solver sequences each technician's queue one ticket after another. A technician with
concurrency N is therefore given to it as N **lanes**: N solver technicians with the same
skills, shift and location, each working its own queue one ticket at a time, side by side.
The technician's queue capacity (open tickets it may hold, distinct from concurrency) is
split over its lanes (:func:`lane_capacities`); tickets in progress occupy one lane each.
The problem builder (``solver.build``) and the simulator's roster both expand technicians
with this rule; decisions map every lane back to its technician.

Moving a ticket between two lanes of the same technician is no move for the technician
(the service sees the same holder), but the solver prices it like one (stability, bounded
churn), so lanes keep their tickets unless a real gain appears.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

MAX_CONCURRENCY = 20
"""Most tickets one technician may work at once."""


def lane_capacities(capacity: int, concurrency: int) -> list[int]:
    """Queue places of each of a technician's ``concurrency`` lanes, summing to ``capacity``.

    The first ``capacity % concurrency`` lanes get one place more. ``concurrency`` must be
    1..``MAX_CONCURRENCY``; a capacity below it leaves some lanes without a place.

    Raises
    ------
    ValueError
        If ``concurrency`` or ``capacity`` is out of range.
    """
    return [int(p) for p in lane_places(np.array([capacity]), np.array([concurrency]))]


def lane_places(
    capacity: npt.NDArray[np.int64], concurrency: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """:func:`lane_capacities` of many technicians at once: every technician's lanes, in
    technician order (``concurrency.sum()`` values).

    Raises
    ------
    ValueError
        If a ``concurrency`` or ``capacity`` is out of range.
    """
    capacity = np.asarray(capacity, np.int64)
    concurrency = np.asarray(concurrency, np.int64)
    if concurrency.size and not (
        concurrency.min() >= 1 and concurrency.max() <= MAX_CONCURRENCY
    ):
        bad = (concurrency < 1) | (concurrency > MAX_CONCURRENCY)
        raise ValueError(
            f"concurrency: must be 1..{MAX_CONCURRENCY}, got {concurrency[bad][0]}"
        )
    if capacity.size and capacity.min() < 0:
        raise ValueError(f"capacity: must be >= 0, got {capacity[capacity < 0][0]}")
    if concurrency.size and concurrency.max() == 1:
        return capacity.copy()
    owner = np.repeat(np.arange(concurrency.size), concurrency)
    lane = np.arange(owner.size) - (np.cumsum(concurrency) - concurrency)[owner]
    base, extra = np.divmod(capacity, concurrency)
    return np.asarray(base[owner] + (lane < extra[owner]), np.int64)
