"""Incremental solving of a held region, in the solver worker that owns it.

docs/DESIGN.md §6. The solver pool (``dispatcher.loop.pool``) sends every cycle of a region
to the same worker process (affinity), which keeps a ``RegionPlan`` of the region between
cycles: the last problem with its row identifiers and the plan it returned. A cycle's
problem is compared with it by ticket id:

- a row is **unchanged** when the ticket was in the last problem with the same solver
  fields (place, priority, skills, duration, due times, window, tier, pinning, exclusions,
  preferences) and its current technician is the one the last plan gave it (the commit
  went through);
- an assigned, unpinned row is **kept** when it is unchanged and no changed row was or is
  in its technician's queue; ``solver.restricted.solve_keeping`` then re-plans only the
  other rows (new, changed and unassigned tickets, the queues they touch) and finalizes
  the whole plan at the problem's clock (status FEASIBLE: see that module for what is
  exact and what is not).

A ticket that left (completed, cancelled) only frees a place: the queue it left is kept.
The worker solves **cold** (``solver.solve``, the certified pipeline over every row) instead
when the loop asks for it (lease taken over, region model resynced, a cycle failed), on
the first cycle it sees (a region's cycle that runs off its home worker brings the
region's last plan: ``pool.KeptAt``), when the solver parameters (the policy) changed, when a
technician changed (any field, or the set of technicians or of skills), when more than
``max_changes`` rows changed, every ``cold_every`` cycles, when nothing would be kept,
and when the kept plan is not usable (a shift overrun once the queues are sequenced
together, or the sub-solve failed). ``cold_every`` 1 solves cold every cycle (no
incremental cycle).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.model import NO_TECHNICIAN, TICKET_ROW_FIELDS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from solver.model import BoolArray, IntArray, Problem, SolveParams

COLD_EVERY = 20
"""Default of the ``solve_cold_every`` setting."""
MAX_CHANGES = 200
"""Default of the ``solve_incremental_max_changes`` setting."""


@dataclass(frozen=True, slots=True)
class IncrementalSettings:
    """When a region's cycle may be incremental (the module doc)."""

    cold_every: int = COLD_EVERY
    max_changes: int = MAX_CHANGES

    def __post_init__(self) -> None:
        if isinstance(self.cold_every, bool) or not isinstance(self.cold_every, int):
            raise ValueError("cold_every: expected an integer")
        if self.cold_every < 1:
            raise ValueError("cold_every: must be at least 1")
        if isinstance(self.max_changes, bool) or not isinstance(self.max_changes, int):
            raise ValueError("max_changes: expected an integer")
        if self.max_changes < 0:
            raise ValueError("max_changes: must not be negative")


@dataclass(frozen=True, slots=True)
class RegionPlan:
    """What a worker keeps of a region between its cycles."""

    params: SolveParams
    ticket_ids: tuple[str, ...]
    technician_ids: tuple[str, ...]
    problem: Problem
    plan: IntArray  # the last returned technician per row (pinned rows included)
    since_cold: int  # cycles since the last cold one (0: the last was cold)
    contested: frozenset[str] = frozenset()
    """Tickets the last plan left unassigned for a reason a kept place could change
    (``solver.restricted.CONTESTED``)."""


@dataclass(frozen=True, slots=True)
class Step:
    """How one cycle solves: cold (``reason`` says why) or keeping the ``keep`` rows."""

    cold: bool
    reason: str
    keep: BoolArray
    changed: int  # unpinned rows new or changed since the last plan


def plan_step(
    last: RegionPlan | None,
    problem: Problem,
    ticket_ids: Sequence[str],
    technician_ids: Sequence[str],
    params: SolveParams,
    settings: IncrementalSettings,
    force: str = "",
) -> Step:
    """Decide how this cycle solves (pure; the module doc lists the cold triggers).
    ``force``: the loop's reason for a cold solve ('' = none)."""
    n = problem.tickets.count
    none = np.zeros(n, np.bool_)

    def cold(reason: str, changed: int = n) -> Step:
        return Step(True, reason, none, changed)

    if force:
        return cold(force)
    if last is None:
        return cold("first cycle")
    if settings.cold_every <= 1 or last.since_cold + 1 >= settings.cold_every:
        return cold("periodic")
    if params != last.params:
        return cold("policy")
    if tuple(technician_ids) != last.technician_ids or not _same_technicians(
        last.problem, problem
    ):
        return cold("technicians")
    if (
        last.problem.tickets.skill_levels.shape[1]
        != problem.tickets.skill_levels.shape[1]
    ):
        return cold("skills")
    t = problem.tickets
    assigned = ~t.pinned & (t.current_technician >= 0)
    if not assigned.any():
        return cold("nothing kept")
    old_row = _old_rows(last, ticket_ids)
    unchanged = _unchanged(last, problem, ticket_ids, old_row)
    changed = int(np.count_nonzero(~unchanged & ~t.pinned))
    if changed > settings.max_changes:
        return cold("changes", changed)
    touched = np.zeros(problem.technicians.count, np.bool_)
    moved = ~unchanged & (t.current_technician >= 0)  # an accepted one too
    touched[t.current_technician[moved]] = True
    was = np.where(old_row >= 0, last.plan[np.maximum(old_row, 0)], NO_TECHNICIAN)
    touched[was[~unchanged & (was >= 0)]] = True
    keep = assigned & unchanged & ~touched[np.maximum(t.current_technician, 0)]
    if not keep.any():
        return cold("nothing kept", changed)
    if _saturated(last, problem, keep):
        return cold("saturated", changed)
    return Step(False, "", keep, changed)


def _saturated(last: RegionPlan, problem: Problem, keep: BoolArray) -> bool:
    """Whether keeping would leave a ticket without the place a cold solve might give
    it (``solver.restricted`` would then refuse the plan, after a wasted solve): the
    last plan left a ticket unassigned for such a reason (it may still be open outside
    this cycle's rows: a bounded read leaves the less urgent QUEUED tickets out), or the
    re-planned tickets outnumber the places left on available technicians."""
    if last.contested:
        return True
    t, k = problem.tickets, problem.technicians
    held = np.bincount(t.current_technician[keep | t.pinned], minlength=k.count)
    room = int(np.maximum(k.capacity - held, 0)[k.available].sum())
    return int(np.count_nonzero(~keep & ~t.pinned)) > room


def _old_rows(last: RegionPlan, ticket_ids: Sequence[str]) -> IntArray:
    """Each row's row in the last problem (-1: a new ticket)."""
    index = {tid: i for i, tid in enumerate(last.ticket_ids)}
    return np.fromiter(
        (index.get(tid, -1) for tid in ticket_ids), np.int64, len(ticket_ids)
    )


def _same_technicians(old: Problem, new: Problem) -> bool:
    """Every technician field equal, ``free_at_s`` as the solver reads it at the new
    clock (``max(free_at_s, now_s)``: an idle technician is free "now", which moves)."""
    a, b = old.technicians, new.technicians
    if not np.array_equal(
        np.maximum(a.free_at_s, new.now_s), np.maximum(b.free_at_s, new.now_s)
    ):
        return False
    return all(
        np.array_equal(getattr(a, f.name), getattr(b, f.name), equal_nan=_floats(a, f))
        for f in dataclasses.fields(a)
        if f.name != "free_at_s"
    )


def _floats(obj: object, f: dataclasses.Field[object]) -> bool:
    return bool(np.asarray(getattr(obj, f.name)).dtype.kind == "f")


def _unchanged(
    last: RegionPlan, problem: Problem, ticket_ids: Sequence[str], old_row: IntArray
) -> BoolArray:
    """Per row: the same ticket as in the last problem (its row there: ``old_row``,
    :func:`_old_rows`), same fields, where the last plan put it."""
    present = old_row >= 0
    rows, src = np.flatnonzero(present), old_row[present]
    ot, nt = last.problem.tickets, problem.tickets
    same = np.ones(rows.size, np.bool_)
    for name in TICKET_ROW_FIELDS:
        a, b = getattr(ot, name)[src], getattr(nt, name)[rows]
        eq = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
        same &= eq.all(axis=1) if eq.ndim > 1 else eq
    same &= nt.current_technician[rows] == last.plan[src]
    out = np.zeros(nt.count, np.bool_)
    out[rows[same]] = True
    for name in ("excluded", "preferred"):
        out &= ~_pairs_changed(
            getattr(ot, name), last.ticket_ids, getattr(nt, name), ticket_ids
        )
    return out


def _pairs_changed(
    old: IntArray, old_ids: Sequence[str], new: IntArray, new_ids: Sequence[str]
) -> BoolArray:
    """Rows of the new problem whose (ticket, technician) pairs differ from the old ones
    (technician rows are the same in both: checked before)."""
    before = {(old_ids[i], k) for i, k in old.tolist()}
    after = {(new_ids[i], k) for i, k in new.tolist()}
    out = np.zeros(len(new_ids), np.bool_)
    diff = {tid for tid, _ in before ^ after}
    if diff:
        out[[i for i, tid in enumerate(new_ids) if tid in diff]] = True
    return out
