"""Which tickets no policy could have kept within SLA: a per-ticket lower bound on breaches.

A ticket is **unavoidable** when no technician able to do it could have met it even if that
technician were idle, on shift and sent the moment the ticket arrived (or the moment its
shift began), whatever else happened. For every able roster row ``j`` (skill levels at
least those required; declines ignored) and each of its on-shift intervals ``[a, b]``
(``Roster.shifts``, the engine's own rule), the best case is a dispatch at
``d = max(created, a)``, valid only while ``d <= b`` (nobody is dispatched off shift; work
may then run into overtime, as in the engine), work starting at ``d + travel`` and ending
``duration_actual_s`` later. The ticket is met in that best case when the start is by its
response due time and the end by its resolution due time and by the horizon (a ticket open
at the horizon is a miss, ``simulations.kpi``). If no (row, interval) meets it, every
policy breaches it.

``travel`` is a lower bound on the travel from wherever the row could be: the engine puts a
technician at its home when a shift begins, and then only where it worked, i.e. at its home
or at another ticket it is able to do (:func:`solver.geo.next_location`). So the bound is
the shorter of the travel from home and from the nearest *other* located ticket of a skill
the row holds (nearest by chord on the unit sphere, which orders like the great-circle
distance; :mod:`solver.spatial`), shaved by a relative ``1e-9`` against rounding. With an
engine whose travel model is not :func:`solver.geo.travel_time_s` it is 0.

**Without overtime** (``within_shift=True``): the same, and the *estimated* work must also
end by the shift's end, as every solver policy plans it unless ``allow_overtime`` is set.
Such a policy only puts a ticket in a queue when its predicted finish (from a start no
earlier than the best case above, plus the estimate) is within the shift, and a queue is
emptied at shift end; so this stronger bound holds for those policies (not for the engine
as such: a job in hand at shift end is finished in overtime).

Tickets that may be cancelled within the horizon are never unavoidable: a policy can leave
them queued until the cancellation, and a cancelled ticket counts as no breach. Nor are
tickets drawn to wait on the customer (``TicketStream.pending``): their clock stops while
PENDING and their due times move later (``simulations.clock``). Escalations only raise a
ticket's priority (its due times stay) or its required level (fewer able technicians), so
the bound, read from the initial ticket, stays a bound.

The bound is independent of the policy, so on one seed it is the same for every policy, and
``breaches - unavoidable`` (the avoidable breaches) compares what placement could change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from solver.constants import ROAD_FACTOR
from solver.geo import distance_km, travel_time_s, unit_vectors
from solver.spatial import nearest

if TYPE_CHECKING:
    from simulations.streams import Roster, TicketStream

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

ROUNDING_MARGIN = 1e-9
"""Relative amount the travel bound is shaved by, so rounding can never lift it above the
travel the engine computes."""


def required_levels(stream: TicketStream) -> npt.NDArray[np.int64]:
    """(tickets, skills) levels each ticket requires (one skill per ticket)."""
    n_skills = len(stream.skills)
    req = np.zeros((stream.count, n_skills), np.int64)
    req[np.arange(stream.count), stream.skill] = stream.skill_level
    return req


def nearest_other_km(
    stream: TicketStream, servable: BoolArray, at: npt.NDArray[np.int64]
) -> FloatArray:
    """Great-circle km from each ticket ``at`` to the nearest other located ticket among
    ``servable`` (inf when there is none; 0 for a ticket without a location)."""
    out = np.full(at.size, np.inf)
    lat, lon = stream.lat_deg, stream.lon_deg
    pool = np.flatnonzero(servable & ~np.isnan(lat))
    if pool.size == 0 or at.size == 0:
        return np.where(np.isnan(lat[at]), 0.0, out)
    k = min(2, pool.size)
    idx = nearest(unit_vectors(lat[pool], lon[pool]), unit_vectors(lat[at], lon[at]), k)
    first = pool[idx[:, 0]]
    other = first
    if k == 2:  # the nearest may be the ticket itself: then the second
        other = np.where(first == at, pool[idx[:, 1]], first)
    elif pool.size == 1:
        other = np.where(first == at, -1, first)
    found = other >= 0
    safe = np.maximum(other, 0)
    km = distance_km(lat[at], lon[at], lat[safe], lon[safe])
    out = np.where(found, km, np.inf)
    return np.where(np.isnan(lat[at]), 0.0, out)


def unavoidable(
    stream: TicketStream,
    roster: Roster,
    horizon_s: float,
    *,
    geo_travel: bool = True,
    within_shift: bool = False,
) -> BoolArray:
    """Per ticket: True when no policy could meet its SLA (module docstring).

    Parameters
    ----------
    stream, roster
        The run's drawn tickets and technicians.
    horizon_s
        The run's horizon: work must end by it.
    geo_travel
        Whether the engine travels by :func:`solver.geo.travel_time_s`; if not, travel is
        bounded by 0.
    within_shift
        Also require the estimated work to end by the shift's end (no overtime).

    Returns
    -------
    numpy.ndarray
        Bool per ticket (stream order).
    """
    n = stream.count
    req = required_levels(stream)
    created = stream.created_s
    work = stream.duration_actual_s
    end_by = np.minimum(stream.resolution_due_s, horizon_s)
    met = np.zeros(n, np.bool_)
    rows, starts, ends = roster.shifts(horizon_s)
    patterns, pattern_of = np.unique(roster.skill_levels, axis=0, return_inverse=True)
    pattern_of = np.asarray(pattern_of).reshape(-1)
    for p, held in enumerate(patterns):
        able = (req <= held).all(axis=1)
        at = np.flatnonzero(able)
        if at.size == 0:
            continue
        near_km = (
            nearest_other_km(stream, able, at) if geo_travel else np.zeros(at.size)
        )
        for j in np.flatnonzero(pattern_of == p):
            travel = np.zeros(at.size)
            if geo_travel:
                speed = float(roster.speed_kmh[j])
                from_home = travel_time_s(
                    roster.home_lat_deg[j],
                    roster.home_lon_deg[j],
                    stream.lat_deg[at],
                    stream.lon_deg[at],
                    speed,
                )
                from_near = near_km * ROAD_FACTOR / speed * 3600.0
                travel = np.minimum(from_home, from_near) * (1.0 - ROUNDING_MARGIN)
            for a, b in zip(starts[rows == j], ends[rows == j], strict=True):
                dispatch = np.maximum(created[at], a)
                start = dispatch + travel
                ok = (
                    (dispatch <= b)
                    & (start <= stream.response_due_s[at])
                    & (start + work[at] <= end_by[at])
                )
                if within_shift:
                    ok &= start + stream.duration_est_s[at] <= b
                met[at] |= ok
    may_cancel = stream.cancel_at_s < horizon_s
    may_wait = np.zeros(n, np.bool_)
    if stream.pending is not None:
        may_wait = ~np.isnan(stream.pending.share)
    return np.asarray(~met & ~may_cancel & ~may_wait)
