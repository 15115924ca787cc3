"""The one problem builder: a region's state as arrays -> the solver's ``Problem``.

The live solve loop (``dispatcher.loop.problem``) and the simulator
(``simulations.engine``) both build their problem here, so the rules below have one owner
and the simulator cannot drift from the service:

- QUEUED, ASSIGNED and ACCEPTED tickets become rows, in input order; a held-back ticket (a
  linked duplicate) is no row, nor is an ACCEPTED one whose technician is not in the state.
- ACCEPTED rows are pinned to their technician; ASSIGNED ones carry it as their current one.
- An IN_PROGRESS ticket is no row: it moves its technician's ``free_at_s`` to the expected
  end of the work (start + estimated duration; no start = now), its location to the
  ticket's (``solver.geo.next_location``) and uses one of its queue places.
- A technician with concurrency N is N rows, its lanes (``solver.lanes``): tickets in
  progress take the lane free first, held tickets (ASSIGNED, ACCEPTED) are spread over the
  lanes in row order; an excluded or preferred technician is every one of its lanes.

Everything here is numpy over the input arrays; only tickets in progress on a technician
with several lanes are placed one by one (the lane free first depends on the previous ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.lanes import lane_places
from solver.model import (
    NO_TECHNICIAN,
    BoolArray,
    FloatArray,
    IntArray,
    Problem,
    Technicians,
    Tickets,
)

QUEUED, ASSIGNED, ACCEPTED, IN_PROGRESS, NOT_OPEN = range(5)
"""Ticket status codes of :class:`TicketState` (``NOT_OPEN``: anything else, left out)."""


@dataclass(frozen=True, slots=True)
class TicketState:
    """Every ticket of the state, one entry each (n entries), as ``solver.Tickets`` plus
    the live state. ``technician`` indexes :class:`TechnicianState` (``NO_TECHNICIAN``:
    none); ``excluded`` / ``preferred`` are (k, 2) pairs (ticket, technician) of indices."""

    status: IntArray  # (n,) QUEUED .. NOT_OPEN
    technician: IntArray  # (n,) holder, NO_TECHNICIAN = none
    held_back: BoolArray  # (n,) a linked duplicate: not dispatched
    started_s: FloatArray  # (n,) IN_PROGRESS: when work started; NaN = now
    lat_deg: FloatArray
    lon_deg: FloatArray
    priority: IntArray
    skill_levels: IntArray  # (n, n_skills)
    duration_s: FloatArray
    created_s: FloatArray
    response_due_s: FloatArray
    resolution_due_s: FloatArray
    window_start_s: FloatArray
    window_end_s: FloatArray
    tier: IntArray
    excluded: IntArray  # (k, 2)
    preferred: IntArray  # (k, 2)


@dataclass(frozen=True, slots=True)
class TechnicianState:
    """Every technician of the state, one entry each (m entries), before its lanes."""

    lat_deg: FloatArray
    lon_deg: FloatArray
    skill_levels: IntArray  # (m, n_skills)
    capacity: IntArray  # queue places over all its lanes, work in progress included
    concurrency: IntArray  # tickets worked at once: that many lanes
    shift_end_s: FloatArray
    speed_kmh: FloatArray
    available: BoolArray


@dataclass(frozen=True, slots=True)
class ProblemParts:
    """A built problem before validation (``build()`` validates it, e.g. in a worker
    process) and where its rows come from: ``ticket_index[row]`` is the row's ticket in
    the :class:`TicketState`, ``technician_index[lane]`` the lane's technician."""

    tickets: Tickets
    technicians: Technicians
    now_s: float
    ticket_index: IntArray
    technician_index: IntArray

    def build(self) -> Problem:
        return Problem(self.tickets, self.technicians, self.now_s)


def build_problem(
    tickets: TicketState, technicians: TechnicianState, now_s: float
) -> ProblemParts:
    """The solver's problem of a state (the rules: module docstring).

    Raises
    ------
    ValueError
        If a technician's ``concurrency`` or ``capacity`` is out of range.
    """
    conc = np.asarray(technicians.concurrency, np.int64)
    places = lane_places(technicians.capacity, conc)
    if places.size == conc.size:  # one lane each (the common case): no index to build
        owner = first = np.arange(conc.size)
    else:
        owner = np.repeat(np.arange(conc.size), conc)  # lane -> technician
        first = np.cumsum(conc) - conc  # technician -> its first lane
    status = np.asarray(tickets.status, np.int64)
    holder = np.asarray(tickets.technician, np.int64)

    free_at = np.full(owner.size, float(now_s))
    lat = np.asarray(technicians.lat_deg, np.float64)[owner]
    lon = np.asarray(technicians.lon_deg, np.float64)[owner]
    work = np.flatnonzero((status == IN_PROGRESS) & (holder != NO_TECHNICIAN))
    capacity = places
    if work.size:
        lane = _work_lanes(work, tickets, holder, conc, first, free_at, now_s)
        busy = np.bincount(lane, minlength=owner.size)
        capacity = np.maximum(places - busy, 0)
        _move_to_work(lat, lon, lane, work, tickets, several=bool(busy.max() > 1))

    open_ = (status == QUEUED) | (status == ASSIGNED) | (status == ACCEPTED)
    gone = (status == ACCEPTED) & (holder == NO_TECHNICIAN)
    rows = np.flatnonzero(open_ & ~np.asarray(tickets.held_back, np.bool_) & ~gone)
    current, pinned = _held(status[rows], holder[rows], conc, first)
    row_of = np.full(status.size, -1, np.int64)
    row_of[rows] = np.arange(rows.size)

    def col(values: np.ndarray, dtype: type) -> np.ndarray:
        return np.asarray(values, dtype)[rows]

    problem_tickets = Tickets(
        lat_deg=col(tickets.lat_deg, np.float64),
        lon_deg=col(tickets.lon_deg, np.float64),
        priority=col(tickets.priority, np.int64),
        skill_levels=np.asarray(tickets.skill_levels, np.int64)[rows],
        duration_s=col(tickets.duration_s, np.float64),
        created_s=col(tickets.created_s, np.float64),
        response_due_s=col(tickets.response_due_s, np.float64),
        resolution_due_s=col(tickets.resolution_due_s, np.float64),
        window_start_s=col(tickets.window_start_s, np.float64),
        window_end_s=col(tickets.window_end_s, np.float64),
        tier=col(tickets.tier, np.int64),
        current_technician=current,
        pinned=pinned,
        excluded=_lane_pairs(tickets.excluded, row_of, conc, first),
        preferred=_lane_pairs(tickets.preferred, row_of, conc, first),
    )
    problem_techs = Technicians(
        lat_deg=lat,
        lon_deg=lon,
        skill_levels=np.asarray(technicians.skill_levels, np.int64)[owner],
        capacity=capacity,
        free_at_s=free_at,
        shift_end_s=np.asarray(technicians.shift_end_s, np.float64)[owner],
        speed_kmh=np.asarray(technicians.speed_kmh, np.float64)[owner],
        available=np.asarray(technicians.available, np.bool_)[owner],
    )
    return ProblemParts(problem_tickets, problem_techs, float(now_s), rows, owner)


def _work_lanes(
    work: IntArray,
    tickets: TicketState,
    holder: IntArray,
    conc: IntArray,
    first: IntArray,
    free_at: FloatArray,
    now_s: float,
) -> IntArray:
    """The lane of each ticket in progress (``work``, input order), with ``free_at``
    raised to the expected end of its work. The lane free first takes the next one."""
    started = np.asarray(tickets.started_s, np.float64)[work]
    end = (
        np.where(np.isfinite(started), started, now_s)
        + np.asarray(tickets.duration_s, np.float64)[work]
    )
    tech = holder[work]
    lane = first[tech]
    several = np.flatnonzero(conc[tech] > 1)
    for k in several.tolist():
        lanes = free_at[lane[k] : lane[k] + conc[tech[k]]]
        lane[k] += int(np.argmin(lanes))
        free_at[lane[k]] = max(free_at[lane[k]], end[k])
    one = np.flatnonzero(conc[tech] == 1)
    np.maximum.at(free_at, lane[one], end[one])
    return np.asarray(lane, np.int64)


def _move_to_work(
    lat: FloatArray,
    lon: FloatArray,
    lane: IntArray,
    work: IntArray,
    tickets: TicketState,
    *,
    several: bool,
) -> None:
    """Each lane at the place of its last work in progress that has one (in place): what
    ``solver.geo.next_location`` gives applied in input order (``several``: some lane
    has more than one)."""
    to_lat = np.asarray(tickets.lat_deg, np.float64)[work]
    to_lon = np.asarray(tickets.lon_deg, np.float64)[work]
    has = ~np.isnan(to_lat)
    if not several:
        lat[lane[has]], lon[lane[has]] = to_lat[has], to_lon[has]
        return
    lanes, last = lane[has][::-1], np.flatnonzero(has)[::-1]
    moved, at = np.unique(lanes, return_index=True)  # the last one of each lane
    lat[moved] = to_lat[last[at]]
    lon[moved] = to_lon[last[at]]


def _held(
    status: IntArray, holder: IntArray, conc: IntArray, first: IntArray
) -> tuple[IntArray, BoolArray]:
    """Current lane and pinned flag of each row: a technician's held rows (ASSIGNED,
    ACCEPTED) spread over its lanes in row order."""
    current = np.full(status.size, NO_TECHNICIAN, np.int64)
    held = np.flatnonzero(
        (holder != NO_TECHNICIAN) & ((status == ASSIGNED) | (status == ACCEPTED))
    )
    tech = holder[held]
    if (conc[tech] == 1).all():
        current[held] = first[tech]
    else:
        order = np.argsort(tech, kind="stable")
        by_tech = tech[order]
        rank = np.empty(held.size, np.int64)
        rank[order] = np.arange(held.size) - np.searchsorted(by_tech, by_tech)
        current[held] = first[tech] + rank % conc[tech]
    pinned = np.zeros(status.size, np.bool_)
    pinned[held] = status[held] == ACCEPTED
    return current, pinned


def _lane_pairs(
    pairs: IntArray, row_of: IntArray, conc: IntArray, first: IntArray
) -> IntArray:
    """(ticket, technician) pairs -> (row, lane) pairs over every lane of the technician,
    in input order; pairs of tickets that are no row are left out."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    if not pairs.size:
        return pairs
    pairs = pairs[row_of[pairs[:, 0]] >= 0]
    counts = conc[pairs[:, 1]]
    if (counts == 1).all():
        return np.stack([row_of[pairs[:, 0]], first[pairs[:, 1]]], axis=1)
    pair = np.repeat(np.arange(pairs.shape[0]), counts)
    offset = np.arange(pair.size) - (np.cumsum(counts) - counts)[pair]
    lanes = first[pairs[pair, 1]] + offset
    return np.stack([row_of[pairs[pair, 0]], lanes], axis=1).astype(np.int64)
