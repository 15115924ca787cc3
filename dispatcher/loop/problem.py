"""The solver's view of a region: snapshot rows -> ``solver.Problem`` arrays, and a solution
-> store decisions. The one place where identifiers become row indices and back
(``IndexMaps``); the solver never sees an id.
"""

from __future__ import annotations

import logging
import math
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dispatcher.domain import Assignment, CostTerm, MoveReason, TicketStatus
from dispatcher.domain import UnassignedReason as DomainReason
from dispatcher.frozen import quick_init
from dispatcher.store.state import Decision as StoreDecision
from solver import build
from solver.build import ProblemParts, TechnicianState, TicketState
from solver.model import NO_TECHNICIAN, UnassignedReason

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence

    import numpy.typing as npt

    from dispatcher.domain import Ticket
    from dispatcher.loop.pool import SolveOutput
    from solver.model import Problem, Solution
logger = logging.getLogger(__name__)

REASON_NAMES = {r.value: r.name for r in UnassignedReason}
"""Solver reason code -> the reason's name as stored and sent (``UnassignedReason``)."""
_DOMAIN_REASONS = {
    code: DomainReason(name)
    for code, name in REASON_NAMES.items()
    if name in DomainReason.__members__
}
"""Solver reason code -> the domain's reason, for the codes it has (an Enum call per
unassigned row and cycle cost ~1 us)."""


def seconds_to_ms(seconds: float) -> int:
    """Whole milliseconds of a solver time in seconds; 0 (unset) when not finite."""
    return int(seconds * 1000) if math.isfinite(seconds) else 0


STATUS_CODES: dict[str, int] = {
    TicketStatus.QUEUED: build.QUEUED,
    TicketStatus.ASSIGNED: build.ASSIGNED,
    TicketStatus.ACCEPTED: build.ACCEPTED,
    TicketStatus.IN_PROGRESS: build.IN_PROGRESS,
}
"""Ticket status -> its ``solver.build`` code; any other status is ``NOT_OPEN`` (no row)."""


@quick_init
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


@quick_init
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


def build_problem(
    tickets: Sequence[TicketView], technicians: Sequence[TechnicianView], now_s: float
) -> tuple[Problem, IndexMaps, list[TicketView]]:
    """``build_problem_parts`` then the ``solver.Problem`` (validated on construction)."""
    parts, maps, rows = build_problem_parts(tickets, technicians, now_s)
    return parts.build(), maps, rows


@dataclass
class TechnicianArrays:
    """The technicians' arrays of the last build, reused while the same view objects (the
    solve loop's ``ViewCache`` keeps an unchanged technician's view) and the same skill
    vocabulary come again: a cycle rebuilds them only when a technician changed."""

    views: tuple[TechnicianView, ...] = ()
    vocab: tuple[str, ...] = ()
    state: TechnicianState | None = None
    given: tuple[TechnicianView, ...] = ()
    """The views of the last ``ordered`` call, as given."""
    order: tuple[list[TechnicianView], dict[str, int], frozenset[str]] = field(
        default_factory=lambda: ([], {}, frozenset())
    )
    """Those views in id order, id -> index in it, and their skill names."""

    def ordered(
        self, technicians: Sequence[TechnicianView]
    ) -> tuple[list[TechnicianView], dict[str, int], frozenset[str]]:
        """``technicians`` in id order, each id's index in that order and the skill names
        they have: kept while the same view objects come in the same order (the solve
        loop's ``ViewCache`` keeps an unchanged technician's view)."""
        if len(technicians) != len(self.given) or not all(
            map(operator.is_, technicians, self.given)
        ):
            techs = sorted(technicians, key=lambda t: t.technician_id)
            self.given = tuple(technicians)
            self.order = (
                techs,
                {k.technician_id: j for j, k in enumerate(techs)},
                frozenset(name for k in techs for name, _ in k.skills),
            )
        return self.order

    def get(
        self, techs: Sequence[TechnicianView], vocab: Sequence[str]
    ) -> TechnicianState:
        same = (
            self.state is not None
            and tuple(vocab) == self.vocab
            and len(techs) == len(self.views)
            and all(map(operator.is_, techs, self.views))
        )
        if not same or self.state is None:
            self.views, self.vocab = tuple(techs), tuple(vocab)
            self.state = technician_state(techs, vocab)
        return self.state


def build_problem_parts(
    tickets: Sequence[TicketView],
    technicians: Sequence[TechnicianView],
    now_s: float,
    arrays: TechnicianArrays | None = None,
) -> tuple[ProblemParts, IndexMaps, list[TicketView]]:
    """A region snapshot -> the parts of its ``solver.Problem`` plus the index maps.

    The views become the arrays of ``solver.build`` (tickets and technicians in id order,
    identifiers -> indices, skill names -> columns), which applies every rule (pinning,
    work in progress, lanes, held-back duplicates, exclusions and preferences). The solve
    loop ships the parts to a worker process, which constructs (and validates) the
    ``Problem`` there, off the event loop. ``arrays``: the technicians' arrays of the
    previous build, reused when no technician changed. Returns the parts, the maps and
    the ticket views in row order.
    """
    techs, index, tech_skills = (arrays or TechnicianArrays()).ordered(technicians)
    views = sorted(tickets, key=lambda t: t.ticket_id)
    vocab = sorted(tech_skills.union(name for t in views for name, _ in t.skills))
    tech_state = (
        technician_state(techs, vocab) if arrays is None else arrays.get(techs, vocab)
    )
    parts = build.build_problem(ticket_state(views, index, vocab), tech_state, now_s)
    maps = IndexMaps(
        ticket_ids=tuple(views[i].ticket_id for i in parts.ticket_index.tolist()),
        technician_ids=tuple(
            techs[j].technician_id for j in parts.technician_index.tolist()
        ),
        skills=tuple(vocab),
    )
    return parts, maps, [views[i] for i in parts.ticket_index.tolist()]


def skill_levels(
    rows: Sequence[Iterable[tuple[str, int]]], vocab: Sequence[str]
) -> npt.NDArray[np.int64]:
    """(rows, skills) levels: each row's (skill, level) pairs in ``vocab``'s columns, 0
    where a row has no such skill."""
    column = {name: j for j, name in enumerate(vocab)}
    out = np.zeros((len(rows), len(vocab)), np.int64)
    for i, pairs in enumerate(rows):
        for name, level in pairs:
            out[i, column[name]] = level
    return out


def ticket_state(
    views: Sequence[TicketView], index: Mapping[str, int], vocab: Sequence[str]
) -> TicketState:
    """The views as ``solver.build`` arrays (``index``: technician id -> index; an id not
    in it is no technician, and no exclusion or preference)."""
    excluded: list[tuple[int, int]] = []
    preferred: list[tuple[int, int]] = []
    for i, t in enumerate(views):
        excluded += [(i, index[x]) for x in t.excluded if x in index]
        preferred += [(i, index[x]) for x in t.preferred if x in index]

    def col(attr: str, dtype: Any = np.float64) -> Any:
        return np.array([getattr(t, attr) for t in views], dtype=dtype)

    return TicketState(
        status=np.array(
            [STATUS_CODES.get(t.status, build.NOT_OPEN) for t in views], np.int64
        ),
        technician=np.array(
            [index.get(t.technician_id, NO_TECHNICIAN) for t in views], np.int64
        ),
        held_back=col("held_back", np.bool_),
        started_s=col("started_s"),
        lat_deg=col("lat_deg"),
        lon_deg=col("lon_deg"),
        priority=col("priority", np.int64),
        skill_levels=skill_levels([t.skills for t in views], vocab),
        duration_s=col("duration_s"),
        created_s=col("created_s"),
        response_due_s=col("response_due_s"),
        resolution_due_s=col("resolution_due_s"),
        window_start_s=col("window_start_s"),
        window_end_s=col("window_end_s"),
        tier=col("tier", np.int64),
        excluded=np.array(excluded, np.int64).reshape(-1, 2),
        preferred=np.array(preferred, np.int64).reshape(-1, 2),
    )


def technician_state(
    techs: Sequence[TechnicianView], vocab: Sequence[str]
) -> TechnicianState:
    """The views as ``solver.build`` arrays (skill columns in ``vocab`` order)."""

    def col(attr: str, dtype: Any = np.float64) -> Any:
        return np.array([getattr(k, attr) for k in techs], dtype=dtype)

    return TechnicianState(
        lat_deg=col("lat_deg"),
        lon_deg=col("lon_deg"),
        skill_levels=skill_levels([k.skills for k in techs], vocab),
        capacity=col("capacity", np.int64),
        concurrency=col("concurrency", np.int64),
        shift_end_s=col("shift_end_s"),
        speed_kmh=col("speed_kmh"),
        available=col("available", np.bool_),
    )


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


# --- decisions -----------------------------------------------------------------------------


def plan_decisions(
    output: SolveOutput,
    maps: IndexMaps,
    rows: Sequence[TicketView],
    tickets: Mapping[str, Ticket],
    now_ms: int,
    solve_id: str,
    stranded: Collection[str] = (),
) -> list[StoreDecision]:
    """The store decisions a solution calls for (pure).

    Accepted (pinned) rows never produce one. An assigned row produces one when its
    technician or its queue place changed (same technician: a placement refresh, no
    event); an unassigned row when it loses its technician or its reason changed. An
    unassigned ticket in ``stranded`` (every able technician declined it,
    ``loop.declines``) gets the reason DECLINED.
    """
    sol = output.solution
    # the arrays as Python lists once: indexing a numpy array per row makes a numpy scalar
    # each time (most of this loop's cost at tens of decisions per cycle); same values
    technician, reason_code = sol.technician.tolist(), sol.reason.tolist()
    places = queue_places(sol, maps).tolist()
    arrival, start = sol.arrival_s.tolist(), sol.start_s.tolist()
    finish, met = sol.finish_s.tolist(), sol.sla_met.tolist()
    gain = output.move_gain.tolist()
    term_values = [(name, values.tolist()) for name, values in output.terms.items()]
    decisions: list[StoreDecision] = []
    for i, row in enumerate(rows):
        if row.status == TicketStatus.ACCEPTED:
            continue
        ticket = tickets[row.ticket_id]
        r = technician[i]
        old = row.technician_id if row.status == TicketStatus.ASSIGNED else ""
        if r == NO_TECHNICIAN:
            reason = (
                DomainReason.DECLINED
                if row.ticket_id in stranded
                else _DOMAIN_REASONS.get(reason_code[i])
                or DomainReason(REASON_NAMES[reason_code[i]])
            )
            if old or ticket.unassigned_reason != reason:
                decisions.append(StoreDecision(row.ticket_id, "", None, reason))
            continue
        new = maps.technician_ids[r]
        pos = places[i]
        prev = ticket.assignment
        if new == old and prev is not None and prev.position == pos:
            continue  # same place in the same queue: nothing to write
        terms = tuple(
            CostTerm(name, float(values[i]))
            for name, values in term_values
            if values[i] != 0.0
        )
        decisions.append(
            StoreDecision(
                row.ticket_id,
                new,
                Assignment(
                    technician_id=new,
                    position=pos,
                    expected_arrival_ms=seconds_to_ms(arrival[i]),
                    expected_start_ms=seconds_to_ms(start[i]),
                    expected_finish_ms=seconds_to_ms(finish[i]),
                    sla_predicted_met=bool(met[i]),
                    cost_terms=terms,
                    total_cost=float(sum(t.value for t in terms)),
                    solve_id=solve_id,
                    assigned_at_ms=prev.assigned_at_ms
                    if (prev and new == old)
                    else now_ms,
                    **_move(old, new, float(gain[i]), prev),
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
