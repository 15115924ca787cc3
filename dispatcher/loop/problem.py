"""The solver's view of a region: snapshot rows -> ``solver.Problem`` arrays, and a solution
-> store decisions. The one place where identifiers become row indices and back
(``IndexMaps``); the solver never sees an id.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dispatcher.domain import Assignment, CostTerm, MoveReason, TicketStatus
from dispatcher.domain import UnassignedReason as DomainReason
from dispatcher.store.state import Decision as StoreDecision
from solver.geo import next_location
from solver.lanes import lane_capacities
from solver.model import NO_TECHNICIAN, Problem, Technicians, Tickets, UnassignedReason

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt

    from dispatcher.domain import Ticket
    from dispatcher.loop.pool import SolveOutput
    from solver.model import Solution
logger = logging.getLogger(__name__)

REASON_NAMES = {r.value: r.name for r in UnassignedReason}
"""Solver reason code -> the reason's name as stored and sent (``UnassignedReason``)."""


def seconds_to_ms(seconds: float) -> int:
    """Whole milliseconds of a solver time in seconds; 0 (unset) when not finite."""
    return int(seconds * 1000) if np.isfinite(seconds) else 0


OPEN_FOR_SOLVE = (TicketStatus.QUEUED, TicketStatus.ASSIGNED, TicketStatus.ACCEPTED)
"""Ticket statuses the solver places; IN_PROGRESS work shows in its technician's state."""


@dataclass(frozen=True, slots=True)
class TicketView:
    """An open ticket as the solver needs it (times in epoch seconds)."""

    ticket_id: str
    version: int
    status: str  # QUEUED | ASSIGNED | ACCEPTED | IN_PROGRESS
    priority: int
    lat_deg: float
    lon_deg: float
    duration_s: float
    created_s: float
    response_due_s: float = float("inf")
    resolution_due_s: float = float("inf")
    window_start_s: float = float("-inf")
    window_end_s: float = float("inf")
    tier: int = 0
    skills: tuple[tuple[str, int], ...] = ()
    technician_id: str = ""  # current holder ("" = none)
    excluded: tuple[str, ...] = ()  # excluded and declined technicians
    preferred: tuple[str, ...] = ()
    started_s: float = float("nan")  # IN_PROGRESS: when work started
    held_back: bool = False  # a linked duplicate: not dispatched


@dataclass(frozen=True, slots=True)
class TechnicianView:
    """A technician as the solver needs it."""

    technician_id: str
    version: int
    available: bool
    lat_deg: float
    lon_deg: float
    capacity: int
    speed_kmh: float = 40.0
    shift_end_s: float = float("inf")
    skills: tuple[tuple[str, int], ...] = ()
    concurrency: int = 1  # tickets worked at once: that many solver rows (solver.lanes)


@dataclass(frozen=True, slots=True)
class IndexMaps:
    """Row index -> identifier maps of one built problem (identifiers never enter the solver).

    A technician with concurrency N has N consecutive rows (its lanes, ``solver.lanes``):
    ``technician_ids`` repeats its id; ``technician_row`` names its first lane.
    """

    ticket_ids: tuple[str, ...]
    technician_ids: tuple[str, ...]
    skills: tuple[str, ...]

    def technician_row(self) -> dict[str, int]:
        rows: dict[str, int] = {}
        for i, t in enumerate(self.technician_ids):
            rows.setdefault(t, i)
        return rows


@dataclass(frozen=True, slots=True)
class ProblemParts:
    """The arrays of a ``solver.Problem`` before construction (validation happens there)."""

    tickets: dict[str, Any]
    technicians: dict[str, Any]
    now_s: float

    def build(self) -> Problem:
        return Problem(
            Tickets(**self.tickets), Technicians(**self.technicians), self.now_s
        )


def build_problem(
    tickets: Sequence[TicketView], technicians: Sequence[TechnicianView], now_s: float
) -> tuple[Problem, IndexMaps, list[TicketView]]:
    """``build_problem_parts`` then the ``solver.Problem`` (validated on construction)."""
    parts, maps, rows = build_problem_parts(tickets, technicians, now_s)
    return parts.build(), maps, rows


def build_problem_parts(
    tickets: Sequence[TicketView], technicians: Sequence[TechnicianView], now_s: float
) -> tuple[ProblemParts, IndexMaps, list[TicketView]]:
    """Convert a region snapshot to the arrays of a ``solver.Problem`` plus its index maps.

    The solve loop ships the parts to a worker process, which constructs (and validates)
    the ``Problem`` there, off the event loop.

    Returns the problem, the maps and the ticket views in row order. QUEUED, ASSIGNED and
    ACCEPTED tickets become rows (ACCEPTED ones pinned; held-back duplicates and accepted
    tickets whose technician is gone are left out). IN_PROGRESS tickets move their
    technician's ``free_at_s`` to the expected end of the work and its location to the
    ticket's, and use one place of its capacity. A technician with concurrency N is N rows
    (``solver.lanes``): its tickets in progress take the earliest free lanes, its held ones
    are spread over the lanes in ticket id order.
    """
    techs, places = _lanes(sorted(technicians, key=lambda t: t.technician_id))
    tech_row: dict[str, int] = {}
    for i, k in enumerate(techs):
        tech_row.setdefault(k.technician_id, i)
    held = dict.fromkeys(tech_row, 0)  # held tickets spread so far, per technician
    vocab = sorted(
        {name for t in techs for name, _ in t.skills}
        | {name for t in tickets for name, _ in t.skills}
    )
    skill_col = {name: j for j, name in enumerate(vocab)}
    m, n_skills = len(techs), len(vocab)

    free_at = np.full(m, now_s, dtype=np.float64)
    lat = np.array([t.lat_deg for t in techs], dtype=np.float64)
    lon = np.array([t.lon_deg for t in techs], dtype=np.float64)
    busy = np.zeros(m, dtype=np.int64)
    rows: list[TicketView] = []
    for t in sorted(tickets, key=lambda t: t.ticket_id):
        holder = (
            tech_row.get(t.technician_id, NO_TECHNICIAN)
            if t.technician_id
            else NO_TECHNICIAN
        )
        if t.status == TicketStatus.IN_PROGRESS:
            if holder != NO_TECHNICIAN:
                lanes = free_at[holder : holder + techs[holder].concurrency]
                holder += int(np.argmin(lanes))  # the lane free first takes it
                start = t.started_s if np.isfinite(t.started_s) else now_s
                free_at[holder] = max(free_at[holder], start + t.duration_s)
                lat[holder], lon[holder] = next_location(
                    lat[holder], lon[holder], t.lat_deg, t.lon_deg
                )
                busy[holder] += 1
            continue
        if t.status not in OPEN_FOR_SOLVE or t.held_back:
            continue
        if t.status == TicketStatus.ACCEPTED and holder == NO_TECHNICIAN:
            continue  # pinned to a technician that is gone; nothing to decide
        rows.append(t)

    n = len(rows)
    t_skill = np.zeros((n, n_skills), dtype=np.int64)
    current = np.full(n, NO_TECHNICIAN, dtype=np.int64)
    pinned = np.zeros(n, dtype=np.bool_)
    excluded: list[tuple[int, int]] = []
    preferred: list[tuple[int, int]] = []
    for i, t in enumerate(rows):
        for name, level in t.skills:
            t_skill[i, skill_col[name]] = level
        if t.technician_id in tech_row and t.status in (
            TicketStatus.ASSIGNED,
            TicketStatus.ACCEPTED,
        ):
            first = tech_row[t.technician_id]
            current[i] = first + held[t.technician_id] % techs[first].concurrency
            held[t.technician_id] += 1
            pinned[i] = t.status == TicketStatus.ACCEPTED
        excluded += [(i, r) for x in t.excluded for r in _rows(x, tech_row, techs)]
        preferred += [(i, r) for x in t.preferred for r in _rows(x, tech_row, techs)]
    k_skill = np.zeros((m, n_skills), dtype=np.int64)
    for i, k in enumerate(techs):
        for name, level in k.skills:
            k_skill[i, skill_col[name]] = level

    def col(attr: str, dtype: Any = np.float64) -> Any:
        return np.array([getattr(t, attr) for t in rows], dtype=dtype)

    def pairs(items: list[tuple[int, int]]) -> Any:
        return np.array(items, dtype=np.int64).reshape(-1, 2)

    problem_tickets = {
        "lat_deg": col("lat_deg"),
        "lon_deg": col("lon_deg"),
        "priority": col("priority", np.int64),
        "skill_levels": t_skill,
        "duration_s": col("duration_s"),
        "created_s": col("created_s"),
        "response_due_s": col("response_due_s"),
        "resolution_due_s": col("resolution_due_s"),
        "window_start_s": col("window_start_s"),
        "window_end_s": col("window_end_s"),
        "tier": col("tier", np.int64),
        "current_technician": current,
        "pinned": pinned,
        "excluded": pairs(excluded),
        "preferred": pairs(preferred),
    }
    problem_techs = {
        "lat_deg": lat,
        "lon_deg": lon,
        "skill_levels": k_skill,
        "capacity": np.maximum(np.array(places, dtype=np.int64) - busy, 0),
        "free_at_s": free_at,
        "shift_end_s": np.array([t.shift_end_s for t in techs], dtype=np.float64),
        "speed_kmh": np.array([t.speed_kmh for t in techs], dtype=np.float64),
        "available": np.array([t.available for t in techs], dtype=np.bool_),
    }
    maps = IndexMaps(
        ticket_ids=tuple(t.ticket_id for t in rows),
        technician_ids=tuple(t.technician_id for t in techs),
        skills=tuple(vocab),
    )
    return ProblemParts(problem_tickets, problem_techs, now_s), maps, rows


def queue_places(sol: Solution, maps: IndexMaps) -> npt.NDArray[np.int64]:
    """Each assigned row's place in its technician's queue: the solver's position, or for
    a technician with several lanes, the rank over all its lanes by predicted start."""
    ids = maps.technician_ids
    if len(set(ids)) == len(ids):
        return np.asarray(sol.position, np.int64)
    places = np.asarray(sol.position, np.int64).copy()
    by_tech: dict[str, list[tuple[float, int, int]]] = {}
    for i in np.flatnonzero(sol.technician != NO_TECHNICIAN).tolist():
        key = (float(sol.start_s[i]), int(sol.position[i]), i)
        by_tech.setdefault(ids[int(sol.technician[i])], []).append(key)
    for queue in by_tech.values():
        for place, (_, _, i) in enumerate(sorted(queue)):
            places[i] = place
    return places


def _lanes(
    techs: Sequence[TechnicianView],
) -> tuple[list[TechnicianView], list[int]]:
    """Each technician repeated once per lane, with each lane's queue places."""
    lanes: list[TechnicianView] = []
    places: list[int] = []
    for k in techs:
        split = lane_capacities(k.capacity, k.concurrency)
        lanes += [k] * len(split)
        places += split
    return lanes, places


def _rows(
    technician_id: str, first: Mapping[str, int], techs: Sequence[TechnicianView]
) -> range:
    """The rows (lanes) of a technician; none when it is not in the problem."""
    if technician_id not in first:
        return range(0)
    row = first[technician_id]
    return range(row, row + techs[row].concurrency)


# --- decisions -----------------------------------------------------------------------------


def plan_decisions(
    output: SolveOutput,
    maps: IndexMaps,
    rows: Sequence[TicketView],
    tickets: Mapping[str, Ticket],
    now_ms: int,
    solve_id: str,
) -> list[StoreDecision]:
    """The store decisions a solution calls for (pure).

    Accepted (pinned) rows never produce one. An assigned row produces one when its
    technician or its queue place changed (same technician: a placement refresh, no
    event); an unassigned row when it loses its technician or its reason changed.
    """
    sol = output.solution
    places = queue_places(sol, maps)
    decisions: list[StoreDecision] = []
    for i, row in enumerate(rows):
        if row.status == TicketStatus.ACCEPTED:
            continue
        ticket = tickets[row.ticket_id]
        r = int(sol.technician[i])
        old = row.technician_id if row.status == TicketStatus.ASSIGNED else ""
        if r == NO_TECHNICIAN:
            reason = DomainReason(REASON_NAMES[int(sol.reason[i])])
            if old or ticket.unassigned_reason != reason:
                decisions.append(StoreDecision(row.ticket_id, "", None, reason))
            continue
        new = maps.technician_ids[r]
        pos = int(places[i])
        prev = ticket.assignment
        if new == old and prev is not None and prev.position == pos:
            continue  # same place in the same queue: nothing to write
        terms = tuple(
            CostTerm(name, float(values[i]))
            for name, values in output.terms.items()
            if values[i] != 0.0
        )
        decisions.append(
            StoreDecision(
                row.ticket_id,
                new,
                Assignment(
                    technician_id=new,
                    position=pos,
                    expected_arrival_ms=seconds_to_ms(float(sol.arrival_s[i])),
                    expected_start_ms=seconds_to_ms(float(sol.start_s[i])),
                    expected_finish_ms=seconds_to_ms(float(sol.finish_s[i])),
                    sla_predicted_met=bool(sol.sla_met[i]),
                    cost_terms=terms,
                    total_cost=float(sum(t.value for t in terms)),
                    solve_id=solve_id,
                    assigned_at_ms=prev.assigned_at_ms
                    if (prev and new == old)
                    else now_ms,
                    **_move(old, new, float(output.move_gain[i]), prev),
                ),
            )
        )
    return decisions


def _move(old: str, new: str, gain: float, prev: Assignment | None) -> dict[str, Any]:
    """The move fields of a placement: why it moved here (a move) or the previous ones
    kept (the same technician: the reason of the move that brought it stays)."""
    if not old:
        return {}
    if new == old:
        if prev is None:
            return {}
        return {"move_reason": prev.move_reason, "move_gain": prev.move_gain}
    if math.isinf(gain) or math.isnan(gain):
        # nan: the solve saw no incumbent (e.g. the holder is gone from the snapshot)
        return {"move_reason": MoveReason.PREVIOUS_UNABLE}
    return {"move_reason": MoveReason.GAIN, "move_gain": gain}
