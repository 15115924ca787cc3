"""Cost terms of one (ticket, technician) placement and the one integer-scaling rule.

Units: every term is in *weight units* = weight x feature, where the features are
seconds (travel, lateness, waiting), skill levels, queue places or a 0/1 flag:

- ``travel``: ``w.travel`` x travel seconds from where the technician will be (its
  location after its pinned queue) to the ticket (:func:`solver.geo.travel_time_s`);
- ``lateness``: ``w.lateness x PRIORITY_FACTOR[p] x (1 + w.tier x tier)`` x predicted late
  seconds = ``max(0, start - response_due) + max(0, finish - min(resolution_due, window_end))``;
  times ``w.overdue`` for a ticket that can no longer be saved (see ``breach``);
- ``breach``: ``w.breach x PRIORITY_FACTOR[p]`` once when the predicted late seconds are > 0
  (an SLA breach: the KPI counts breaches, not seconds), only for a ticket that can still be
  saved, i.e. would be on time if its work started as soon as a technician that may take
  it could be there, first in its queue (:func:`savable`, :func:`reach_s`; or at its window
  start): for one already breached every option pays the same, so it would only inflate
  the objective;
- ``waiting``: ``w.waiting`` x seconds from ``now`` to the predicted start;
- ``skill_surplus``: ``w.skill_surplus`` x levels held above the requirement, summed over
  the required skills;
- ``preference``: ``-w.preference`` when the ticket prefers this technician;
- ``stability``: ``w.stability`` when an ASSIGNED (not pinned) ticket would move;
- ``balance`` (per queue place, on the technician side): the ticket taking the technician's
  s-th place (0-based, pinned tickets first) costs ``w.balance x s``;
- ``unassigned``: ``w.unassigned x PRIORITY_FACTOR[p]`` (for a ticket that can no longer be
  saved times ``w.overdue``, at least ``w.unassigned``) plus the lateness (and breach) the
  ticket would have if started when planned again (``Problem.replan_after_s``: ``DEFER_S``
  from now by default), for a ticket left unassigned (an ASSIGNED
  ticket sent back to the queue also pays ``stability``, see :func:`drop_penalty`).

In the exact core, start/finish are predicted as if the ticket came right after the
technician's pinned queue (travel from there, waiting for the window start); the queue
sequencing afterwards computes the real schedule. **Scaling rule**: integer cost =
``round(weight units x COST_SCALE)`` (half to even) as int64, clipped to +-``MAX_COST``
with a :class:`ScalingWarning` (:func:`to_scaled`).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from solver.constants import (
    COST_SCALE,
    DENSE_PAIRS_MAX,
    MAX_COST,
    PRIORITY_FACTOR,
    REACH_NEIGHBOURS,
)
from solver.geo import (
    indexed_travel_time_s,
    point_terms,
    travel_time_bounds_s,
    travel_time_s,
    unit_vectors,
)
from solver.ordering import distinct_inverse
from solver.spatial import NearestIndex

if TYPE_CHECKING:
    from collections.abc import Callable

    from solver.geo import Points
    from solver.model import CostWeights, Problem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
T = TypeVar("T")

PAIR_TERMS = (
    "travel",
    "lateness",
    "breach",
    "waiting",
    "skill_surplus",
    "preference",
    "stability",
)
"""Terms that belong to one (ticket, technician) placement."""
STATIC_TERMS = ("skill_surplus", "preference", "stability")
"""The placement terms that depend neither on the place in the queue nor on the times
(:func:`static_terms`)."""
TERM_NAMES = (*PAIR_TERMS, "balance", "unassigned")
"""Every term of the objective, in reporting order."""


class ScalingWarning(UserWarning):
    """Scaled costs reached ``MAX_COST`` and were clipped: the optimum may be distorted."""


def to_scaled(cost: npt.ArrayLike) -> IntArray:
    """Apply the scaling rule: ``round(cost x COST_SCALE)`` as int64, clipped to +-MAX_COST.

    Parameters
    ----------
    cost
        Costs in weight units (finite floats).

    Returns
    -------
    numpy.ndarray
        int64 scaled costs, same shape.
    """
    x = np.rint(np.asarray(cost, dtype=np.float64) * COST_SCALE)
    if x.size and np.max(np.abs(x)) > MAX_COST:
        warnings.warn(
            f"scaled cost {np.max(np.abs(x)):.3g} exceeds MAX_COST={MAX_COST}; clipped",
            ScalingWarning,
            stacklevel=2,
        )
        x = np.clip(x, -MAX_COST, MAX_COST)
    return x.astype(np.int64)


def clips(cost: npt.ArrayLike) -> bool:
    """Whether :func:`to_scaled` would clip any of these costs (weight units)."""
    x = np.asarray(cost, dtype=np.float64)
    return bool(x.size) and bool(np.max(np.abs(x)) * COST_SCALE > MAX_COST)


REACH_BOUND_SLACK = 1e-6
"""Relative widening of :func:`_reach_bound_s`' travel, beyond the rounding of the
triangle through the centre (each bound is already above the travel as computed)."""
REACH_BOUND_SLACK_S = 1e-3
"""Seconds added to :func:`_reach_bound_s`: above the rounding of ``arrive - now`` at
epoch-second clocks (~1e-7 s)."""


def memo_of(problem: Problem, name: str, key: object) -> Any:
    """What :func:`memoized` kept for ``problem`` under ``name`` and ``key``, or None."""
    known = problem.memo.get(name)
    return known[1] if known is not None and known[0] == key else None


def memoized(problem: Problem, name: str, key: object, compute: Callable[[], T]) -> T:
    """``compute()``, computed once per ``problem`` and ``key`` (e.g. the weights it is
    priced under) and kept in ``Problem.memo`` under ``name`` (one value per name: another
    key replaces it). Arrays in the value are made read-only: every caller shares them."""
    known = memo_of(problem, name, key)
    if known is not None:
        return known  # type: ignore[no-any-return]
    value = compute()
    if isinstance(value, tuple):
        parts: tuple[object, ...] = value
    elif dataclasses.is_dataclass(value):
        parts = tuple(getattr(value, f.name) for f in dataclasses.fields(value))
    else:
        parts = (value,)
    for array in parts:
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    problem.memo[name] = (key, value)
    return value


def reach_s(problem: Problem) -> FloatArray:
    """Per ticket, a lower bound on the seconds from now before any technician that may
    take it can be there: the least, over the technicians that could hold it (available,
    a place not taken by pinned work, the skills, not excluded, the work done by the
    shift end if started on arrival), of its time free (``max(now, free_at)``) plus the
    travel at its own speed. Work pinned before it only adds time: the triangle
    inequality (:func:`first_reach_s`). A pinned ticket's holder is one of them, whatever
    its load (the ticket is in its queue). 0 when none of them could hold it: no plan of
    these technicians serves it, and whether a later one can (a shift starting, a
    place freed) is not known here, so only its due time against now decides.

    Every such pair when there are at most ``DENSE_PAIRS_MAX``; above, the
    ``REACH_NEIGHBOURS`` nearest technicians of each ticket exactly, and every other one
    bounded by the travel from the next nearest at the fastest speed (as the candidates,
    through the spatial index; a ticket none of the nearest may hold keeps that bound).
    Computed once per problem (``Problem.memo``)."""
    return memoized(problem, "reach_s", None, lambda: _reach_s(problem))


def grow_reach_s(old: Problem, new: Problem) -> None:
    """Keep :func:`reach_s` and :func:`savable` of ``old``'s rows for ``new`` (computing
    only the rows after them), each when ``old`` has it and ``new`` not, when ``new`` is
    ``old`` with unpinned tickets appended and the incumbents of unpinned tickets changed
    (the caller's contract: the clock, the technicians, the pinned rows and every other
    field of ``old``'s rows unchanged): a row's reach reads its own fields, the
    technicians and the pinned rows only, whether it is savable its own fields, its
    reach and the clock. Nothing when the rows are too few or too many for both to use
    the same pairs (every pair vs the nearest technicians: the old rows' reach may
    change then)."""
    known = memo_of(old, "reach_s", None)
    saved = memo_of(old, "savable", None)
    if known is None and saved is None:
        return
    index = memo_of(old, "reach_index", None)
    if index is not None:  # the same technicians and pinned rows: the same index
        memoized(new, "reach_index", None, lambda: index)
    usable = _reach_index(new).usable.size
    n0, n = old.tickets.count, new.tickets.count
    if (n0 * usable <= DENSE_PAIRS_MAX) != (n * usable <= DENSE_PAIRS_MAX):
        return
    rows = np.arange(n0, n, dtype=np.int64)
    if known is not None and memo_of(new, "reach_s", None) is None:
        memoized(
            new, "reach_s", None, lambda: np.concatenate([known, _reach_s(new, rows)])
        )
    if saved is not None and memo_of(new, "savable", None) is None:
        memoized(
            new, "savable", None, lambda: np.concatenate([saved, _savable(new, rows)])
        )


@dataclass(frozen=True, slots=True)
class _ReachIndex:
    """What :func:`reach_s` reads of the technicians (they and the pinned rows only),
    built once per problem (``Problem.memo``; :func:`grow_reach_s` hands it on)."""

    usable: IntArray  # may take a ticket not yet held: available, a place not pinned
    placed: IntArray  # those with a location
    tree: NearestIndex | None  # over the placed ones' unit vectors (None: none)
    points: Points  # every technician's point_terms (its location)
    free_s: FloatArray  # per usable one: seconds from now until it is free
    unplaced_free_s: float  # the least free_s of the usable ones without location
    top_speed_kmh: float  # the fastest placed one's speed (nan: none placed)

    @classmethod
    def of(cls, problem: Problem) -> _ReachIndex:
        """The index of ``problem``'s technicians."""
        t, k = problem.tickets, problem.technicians
        now = problem.now_s
        pinned = np.flatnonzero(t.pinned)
        load = np.bincount(t.current_technician[pinned], minlength=k.count)
        usable = np.flatnonzero(k.available & (k.capacity > load))
        placed = usable[~np.isnan(k.lat_deg[usable])]
        tree = (
            NearestIndex(unit_vectors(k.lat_deg[placed], k.lon_deg[placed]))
            if placed.size
            else None
        )
        free = np.maximum(k.free_at_s[usable], now) - now
        unplaced = free[np.isnan(k.lat_deg[usable])]
        return cls(
            usable, placed, tree, point_terms(k.lat_deg, k.lon_deg), free,
            float(unplaced.min()) if unplaced.size else np.inf,
            float(np.max(k.speed_kmh[placed])) if placed.size else np.nan,
        )  # fmt: skip


def _reach_index(problem: Problem) -> _ReachIndex:
    """``problem``'s :class:`_ReachIndex`, built once."""
    return memoized(problem, "reach_index", None, lambda: _ReachIndex.of(problem))


def _reach_s(problem: Problem, rows: IntArray | None = None) -> FloatArray:
    """:func:`reach_s` computed (of ``rows``, aligned with them; default all)."""
    t, k = problem.tickets, problem.technicians
    rows = np.arange(t.count, dtype=np.int64) if rows is None else rows
    index = _reach_index(problem)
    usable = index.usable
    reach = np.zeros(rows.size)
    if usable.size and rows.size:
        if t.count * usable.size <= DENSE_PAIRS_MAX:
            reach = first_reach_s(problem, rows, usable).min(axis=1)
        else:
            reach = _reach_sparse(problem, index, rows)
    pinned = np.flatnonzero(t.pinned[rows])  # positions in rows
    if pinned.size:  # its holder holds it, full or not
        holder = t.current_technician[rows[pinned]]
        own = first_reach_s(problem, rows[pinned], holder[:, None])[:, 0]
        reach[pinned] = np.minimum(
            reach[pinned], np.where(k.available[holder], own, np.inf)
        )
    reach[np.isinf(reach)] = 0.0  # nobody here may hold it
    return reach


def first_reach_s(problem: Problem, tix: IntArray, techs: IntArray) -> FloatArray:
    """(tickets, technicians): the seconds from now before each technician of ``techs``
    (or, per row, of ``techs[row]`` when it is 2-D) can be at each ticket of ``tix``
    if it went there first: ``max(now, free_at)`` plus the travel at its speed, ``inf``
    where it may not hold the ticket (skills, exclusion, work not done by the shift end
    when started on arrival or at the window start)."""
    t, k = problem.tickets, problem.technicians
    tech = np.broadcast_to(techs, (tix.size, np.shape(techs)[-1])).reshape(-1)
    at = np.repeat(np.arange(tix.size), np.shape(techs)[-1])
    rows = tix[at]
    ready = np.maximum(k.free_at_s[tech], problem.now_s)
    arrive = ready + indexed_travel_time_s(
        _reach_index(problem).points, tech,
        point_terms(t.lat_deg[tix], t.lon_deg[tix]), at, k.speed_kmh[tech],
    )  # fmt: skip
    finish = np.maximum(arrive, t.window_start_s[rows]) + t.duration_s[rows]
    ok = skill_fit(problem, rows, tech)[0] & ~pair_set(problem, "excluded").contains(
        rows, tech
    )
    ok &= finish <= k.shift_end_s[tech]
    out = np.where(ok, arrive - problem.now_s, np.inf)
    return out.reshape(tix.size, -1)


def _reach_sparse(problem: Problem, index: _ReachIndex, rows: IntArray) -> FloatArray:
    """:func:`reach_s` above ``DENSE_PAIRS_MAX`` pairs: each located ticket's
    ``REACH_NEIGHBOURS`` nearest located technicians of the usable ones (``index``)
    exactly, the others bounded below by the next nearest's travel at the fastest speed;
    a technician without location is at every ticket (no travel): bounded by its time
    free, as is every technician for a ticket without location. Of ``rows``, aligned
    with them."""
    t, k = problem.tickets, problem.technicians
    placed = index.placed
    # no location: no travel, at least
    reach = np.full(rows.size, float(index.free_s.min()))
    at = np.flatnonzero(~np.isnan(t.lat_deg[rows]))  # positions in rows
    located = rows[at]
    if located.size == 0 or index.tree is None:
        return reach
    rest = np.full(located.size, index.unplaced_free_s)
    near_k = min(REACH_NEIGHBOURS + 1, placed.size)
    near = placed[
        index.tree.nearest(
            unit_vectors(t.lat_deg[located], t.lon_deg[located]), near_k
        ).reshape(located.size, near_k)
    ]
    exact = min(REACH_NEIGHBOURS, placed.size)
    if near_k > exact:  # every technician beyond the nearest ones
        far = near[:, exact]
        speed = index.top_speed_kmh
        rest = np.minimum(
            rest,
            travel_time_s(
                k.lat_deg[far], k.lon_deg[far], t.lat_deg[located], t.lon_deg[located],
                speed,
            ),
        )  # fmt: skip
    reach[at] = np.minimum(
        first_reach_s(problem, located, near[:, :exact]).min(axis=1), rest
    )
    return reach


def savable(problem: Problem, rows: IntArray | None = None) -> BoolArray:
    """Whether each ticket (of ``rows``; default all) can still be saved: on time if its
    work started as soon as a technician that may hold it could be there, first in its
    queue (:func:`reach_s`), or at its window start when that is later. One that cannot
    is late in every plan: no place in any queue starts it sooner. Every row's is
    computed once per problem (:func:`memoized`; the penalties and both lateness
    weights read it); ``rows`` are taken from it when it is known, else computed alone
    (the same values: each row by itself)."""
    if rows is None:
        return memoized(problem, "savable", None, lambda: _savable(problem))
    every: BoolArray | None = memo_of(problem, "savable", None)
    return every[rows] if every is not None else _savable(problem, rows)


def _savable(problem: Problem, rows: IntArray | None = None) -> BoolArray:
    """:func:`savable` computed: by bounds on the reach where they settle it, the exact
    reach of the other rows only (most live-loop rows are due hours after any
    technician could be there: their reach, every ticket x technician pair, was most of
    this). Lateness only grows with the start, so a row late even if somebody were
    there now (the reach is never below 0) cannot be saved, and one on time at an upper
    bound of its reach (:func:`_reach_bound_s`) can."""
    t = problem.tickets
    rows = np.arange(t.count, dtype=np.int64) if rows is None else rows
    out = _on_time(problem, rows, np.zeros(rows.size))
    unsure = np.flatnonzero(out)  # positions in rows
    if unsure.size:
        bound = _reach_bound_s(problem, rows[unsure])
        unsure = unsure[~_on_time(problem, rows[unsure], bound)]
    if unsure.size:
        known: FloatArray | None = memo_of(problem, "reach_s", None)
        at = rows[unsure]
        reach = known[at] if known is not None else _reach_s(problem, at)
        out[unsure] = _on_time(problem, at, reach)
    return out


def _on_time(problem: Problem, rows: IntArray, reach: FloatArray) -> BoolArray:
    """Whether each of ``rows`` is on time if its work started ``reach`` seconds from
    now, or at its window start when that is later."""
    t = problem.tickets
    start = np.maximum(problem.now_s + reach, t.window_start_s[rows])
    late = late_seconds(problem, rows, start, start + t.duration_s[rows])
    return np.asarray(late <= 0.0)


def _reach_bound_s(problem: Problem, rows: IntArray) -> FloatArray:
    """Above :func:`reach_s` of each of ``rows``: the longest wait of a technician that
    may take a ticket not yet held (``_ReachIndex.usable``) until it is free, plus the
    travel to the farthest of them at the slowest one's speed, bounded through their
    centre (the triangle inequality: ticket -> centre -> technician), widened far beyond
    the rounding. The reach is the least of such times over the technicians that may
    hold the ticket (or 0), never more (the pinned holder's own only lowers it, the
    sparse bound of the farther ones is the nearer ones' travel at the fastest speed)."""
    index = _reach_index(problem)
    if index.usable.size == 0:  # reach 0 everywhere: the lower bound settles every row
        return np.zeros(rows.size)
    wait = float(index.free_s.max())
    placed = index.placed
    if placed.size == 0:  # nobody travels
        return np.full(rows.size, wait + REACH_BOUND_SLACK_S)
    k, t = problem.technicians, problem.tickets
    techs = unit_vectors(k.lat_deg[placed], k.lon_deg[placed])
    centre = techs.sum(axis=0)
    norm = float(np.linalg.norm(centre))
    if not norm > 0.0:  # spread evenly around the globe: no bound
        return np.full(rows.size, np.inf)
    centre = (centre / norm)[None, :]
    slowest = float(k.speed_kmh[placed].min())
    spread = float(travel_time_bounds_s(centre, techs, slowest)[1].max())
    to_centre = travel_time_bounds_s(
        unit_vectors(t.lat_deg[rows], t.lon_deg[rows]), centre, slowest
    )[1][:, 0]
    travel = (to_centre + spread) * (1.0 + REACH_BOUND_SLACK)
    return np.asarray(wait + travel + REACH_BOUND_SLACK_S)


def lateness_weight(
    problem: Problem, weights: CostWeights, rows: IntArray | None = None
) -> FloatArray:
    """Weight per late second of each ticket (of ``rows``; default all):
    ``lateness x priority factor x (1 + tier x tier)``, times ``weights.overdue`` for a
    ticket that can no longer be saved (:func:`savable`)."""
    t = problem.tickets
    priority, tier = (
        (t.priority, t.tier) if rows is None else (t.priority[rows], t.tier[rows])
    )
    pf = PRIORITY_FACTOR[np.asarray(priority, dtype=np.int64)]
    weight = weights.lateness * pf * (1.0 + weights.tier * np.asarray(tier, np.float64))
    if weights.overdue != 1.0:
        weight = np.where(savable(problem, rows), weight, weight * weights.overdue)
    return np.asarray(weight)


def unassigned_penalty(
    problem: Problem, weights: CostWeights, rows: IntArray | None = None
) -> FloatArray:
    """Penalty (weight units) of leaving each ticket (of ``rows``; default all)
    unassigned: ``unassigned x priority factor``; for a ticket that can no longer be
    saved (:func:`savable`) that times ``weights.overdue``, but at least ``unassigned``
    (a P4's penalty), so it is still dispatched where a place would otherwise stay
    empty."""
    priority = problem.tickets.priority
    pf = PRIORITY_FACTOR[
        np.asarray(priority if rows is None else priority[rows], dtype=np.int64)
    ]
    penalty = weights.unassigned * pf
    if weights.overdue != 1.0:
        late = np.maximum(penalty * weights.overdue, weights.unassigned)
        penalty = np.where(savable(problem, rows), penalty, late)
    return np.asarray(penalty)


def breach_weight(
    problem: Problem, weights: CostWeights, rows: IntArray | None = None
) -> FloatArray:
    """Cost of a predicted SLA breach of each ticket (of ``rows``; default all):
    ``breach x priority factor`` for a ticket that can still be saved (:func:`savable`),
    0 for one that cannot (already breached at ``now``)."""
    t = problem.tickets
    rows = np.arange(t.count, dtype=np.int64) if rows is None else rows
    pf = PRIORITY_FACTOR[np.asarray(t.priority[rows], dtype=np.int64)]
    return np.asarray(weights.breach * pf * savable(problem, rows), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class LatePricing:
    """How predicted lateness is priced, per ticket row: per late second and per breach."""

    per_second: FloatArray  # :func:`lateness_weight`
    per_breach: FloatArray  # :func:`breach_weight`

    def lateness(self, tix: IntArray, late_s: FloatArray) -> FloatArray:
        """The ``lateness`` term of tickets ``tix`` late by ``late_s`` seconds."""
        return np.asarray(self.per_second.take(tix) * late_s)

    def breach(self, tix: IntArray, late_s: FloatArray) -> FloatArray:
        """The ``breach`` term: the breach weight where ``late_s > 0``."""
        return np.asarray(np.where(late_s > 0.0, self.per_breach.take(tix), 0.0))

    def cost(self, tix: IntArray, late_s: FloatArray) -> FloatArray:
        """Both terms together (what the queue sequencing minimises)."""
        return np.asarray(self.lateness(tix, late_s) + self.breach(tix, late_s))


def late_pricing(
    problem: Problem, weights: CostWeights, rows: IntArray | None = None
) -> LatePricing:
    """The :class:`LatePricing` of ``problem``'s tickets under ``weights`` (of ``rows``,
    aligned with them; default all). Every row's is computed once per problem and
    weights (:func:`memoized`); ``rows`` are taken from it when it is known, else priced
    alone (the same values: each row is priced by itself)."""
    if rows is None:
        return memoized(
            problem, "late_pricing", weights, lambda: _late_pricing(problem, weights)
        )
    every: LatePricing | None = memo_of(problem, "late_pricing", weights)
    if every is not None:
        return LatePricing(every.per_second[rows], every.per_breach[rows])
    return _late_pricing(problem, weights, rows)


def _late_pricing(
    problem: Problem, weights: CostWeights, rows: IntArray | None = None
) -> LatePricing:
    """:func:`late_pricing` computed."""
    return LatePricing(
        lateness_weight(problem, weights, rows), breach_weight(problem, weights, rows)
    )


def deferred_cost(
    problem: Problem, weights: CostWeights, rows: IntArray | None = None
) -> FloatArray:
    """Lateness and breach cost of each ticket (of ``rows``; default all) if its work
    started when the problem is planned again (``problem.replan_after_s`` from now; weight
    units): the deferred part of leaving it unassigned. Zero for a one-shot plan (None)."""
    t = problem.tickets
    # every row's: priced by the problem's own late pricing (computed once, and read
    # again by the solve), the same values as pricing the rows alone
    every = rows is None
    rows = np.arange(t.count, dtype=np.int64) if rows is None else rows
    if problem.replan_after_s is None:
        return np.zeros(rows.size, np.float64)
    start = np.maximum(problem.now_s + problem.replan_after_s, t.window_start_s[rows])
    late = late_seconds(problem, rows, start, start + t.duration_s[rows])
    pricing = late_pricing(problem, weights, None if every else rows)
    return pricing.cost(np.arange(rows.size, dtype=np.int64), late)


def drop_penalty(
    problem: Problem,
    weights: CostWeights,
    deferred: FloatArray | None = None,
    unassigned: FloatArray | None = None,
    rows: IntArray | None = None,
) -> FloatArray:
    """Cost of the "unassigned" arc: penalty + deferred cost + stability if ASSIGNED.

    The deferred lateness and breach (:func:`deferred_cost`, or ``deferred`` when the
    caller has it) keep overdue tickets dispatched; sending an assigned (not pinned)
    ticket back to the queue is churn like moving it. ``unassigned``: the problem's
    :func:`unassigned_penalty` when the caller has it (with ``deferred``). ``rows``:
    only these rows' (aligned with them; with ``deferred``, both arrays of every row):
    each row's is its own fields' alone.
    """
    if deferred is None:  # the problem's own: computed once per weights
        return memoized(
            problem,
            "drop_penalty",
            weights,
            lambda: drop_penalty(problem, weights, deferred_cost(problem, weights)),
        )
    t = problem.tickets
    at = slice(None) if rows is None else rows
    held = (t.current_technician[at] >= 0) & ~t.pinned[at]
    if unassigned is None:
        unassigned = unassigned_penalty(problem, weights)
    base = unassigned[at] + deferred[at]
    return np.asarray(base + weights.stability * held)


def first_in_queue_times(
    ready_s: FloatArray,
    travel_s: FloatArray,
    window_start_s: FloatArray,
    duration_s: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Start and finish of a ticket's work when it comes right after the technician's
    pinned queue (ready at ``ready_s``, ``travel_s`` away): on arrival, not before its
    window opens. Arrays broadcast. Both only grow with the travel."""
    start = np.asarray(
        np.maximum(np.add(ready_s, travel_s), window_start_s), np.float64
    )
    return start, np.asarray(start + duration_s, np.float64)


def late_seconds(
    problem: Problem, tix: IntArray, start_s: FloatArray, finish_s: FloatArray
) -> FloatArray:
    """Predicted late seconds: response lateness of the start plus resolution lateness of the finish."""
    t = problem.tickets
    due = np.minimum(t.resolution_due_s[tix], t.window_end_s[tix])
    resp = np.maximum(start_s - t.response_due_s[tix], 0.0)
    res = np.maximum(finish_s - due, 0.0)
    return np.asarray(resp + res, dtype=np.float64)


def pair_keys(tix: IntArray, tech: IntArray, n_technicians: int) -> IntArray:
    """One int64 key per (ticket, technician) pair: ``ticket x n_technicians + technician``."""
    return np.asarray(tix, np.int64) * max(n_technicians, 1) + np.asarray(
        tech, np.int64
    )


def in_pairs(
    pairs: IntArray, tix: IntArray, tech: IntArray, n_technicians: int
) -> BoolArray:
    """Whether each (tix, tech) is among the (m, 2) ``pairs`` (excluded / preferred lists)."""
    return PairSet.of(pairs, n_technicians).contains(tix, tech)


@dataclass(frozen=True, slots=True)
class PairSet:
    """A (m, 2) list of (ticket, technician) pairs (excluded / preferred), indexed for
    :func:`in_pairs` look-ups: built once per list (:func:`pair_set`), each look-up then
    reads only the pairs of the tickets that have any."""

    listed: BoolArray  # per ticket row up to the last listed one (+1): it has a pair
    keys: IntArray  # the pairs' :func:`pair_keys`, sorted, repeats kept
    n_technicians: int

    @classmethod
    def of(cls, pairs: IntArray, n_technicians: int) -> PairSet:
        """The index of ``pairs``."""
        if pairs.shape[0] == 0:
            return cls(np.zeros(1, np.bool_), np.zeros(0, np.int64), n_technicians)
        listed = np.zeros(int(pairs[:, 0].max()) + 2, np.bool_)
        listed[pairs[:, 0]] = True
        # sorted, not made unique: a key repeated is found at its first copy
        keys = np.sort(pair_keys(pairs[:, 0], pairs[:, 1], n_technicians))
        return cls(listed, keys, n_technicians)

    def has_pairs(self, tix: IntArray) -> BoolArray:
        """Whether each ticket row of ``tix`` has a pair in the list."""
        listed = self.listed
        return np.asarray(listed[np.minimum(tix, listed.size - 1)])

    def contains(self, tix: IntArray, tech: IntArray) -> BoolArray:
        """Whether each (tix, tech) is a listed pair (:func:`in_pairs`; broadcast)."""
        tix, tech = _pair_arrays(tix, tech)
        out = np.zeros(tix.shape, dtype=np.bool_)
        keys = self.keys
        if keys.size == 0 or tix.size == 0:
            return out
        # Few tickets have such a list: look up only the pairs of those tickets.
        flat = tix.ravel()
        at = np.flatnonzero(self.has_pairs(flat))
        if at.size == 0:  # (e.g. a new ticket without such a list)
            return out
        q = pair_keys(flat[at], tech.ravel()[at], self.n_technicians)
        pos = np.minimum(np.searchsorted(keys, q), keys.size - 1)
        out.ravel()[at] = keys[pos] == q
        return out


def pair_set(problem: Problem, name: str) -> PairSet:
    """The :class:`PairSet` of ``problem.tickets.<name>`` (``"excluded"`` or
    ``"preferred"``), built once per problem (``Problem.memo``)."""
    return memoized(
        problem,
        f"pair_set_{name}",
        None,
        lambda: PairSet.of(getattr(problem.tickets, name), problem.technicians.count),
    )


def _pair_arrays(tix: Any, tech: Any) -> tuple[IntArray, IntArray]:
    """Ticket and technician indices of pairs as int64 arrays of one shape (broadcast
    only when their shapes differ: ``broadcast_arrays`` costs ~8 us even when equal)."""
    tix, tech = np.asarray(tix, np.int64), np.asarray(tech, np.int64)
    if tix.shape != tech.shape:
        tix, tech = np.broadcast_arrays(tix, tech)
    return tix, tech


SKILL_FIT_BLOCK = 1 << 15
"""Pairs :func:`skill_fit` checks at a time (bounded temporaries; 2M pairs in blocks
of 32k took 24 ms against 37 ms skill by skill over all of them)."""


def skill_fit(
    problem: Problem, tix: IntArray, tech: IntArray
) -> tuple[BoolArray, IntArray]:
    """Per (ticket, technician) pair: whether the technician holds every required level,
    and the levels it holds above the requirement, summed over the required skills.

    Over the transposed skill rows (:func:`skill_rows`), ``SKILL_FIT_BLOCK`` pairs at a
    time: each block's (skills, pairs) levels gathered at once and reduced over the
    skills (a few numpy calls whatever the skills; skill by skill, ~7 calls per skill,
    cost ~50 us even on one pair). Reducing (pairs, skills) rows costs far more.
    """
    tix, tech = _pair_arrays(tix, tech)
    shape = tix.shape
    tix, tech = tix.ravel(), tech.ravel()
    need, held = skill_rows(problem)
    ok = np.empty(tix.size, np.bool_)
    surplus = np.empty(tix.size, np.int64)
    for c in range(0, tix.size, SKILL_FIT_BLOCK):
        b = slice(c, c + SKILL_FIT_BLOCK)
        req = need.take(tix[b], axis=1)
        above = held.take(tech[b], axis=1)
        above -= req  # no overflow: see skill_rows
        ok[b] = (above >= 0).all(axis=0)
        above *= req > 0
        above.sum(axis=0, dtype=np.int64, out=surplus[b])
    return ok.reshape(shape), surplus.reshape(shape)


def skill_holding(problem: Problem, need: IntArray) -> BoolArray:
    """Per requirement row of ``need`` (requirements, skills): which technicians hold
    every level of it, (requirements, technicians). Skill by skill over the
    technicians' transposed levels (:func:`skill_rows`), in blocks of about 4M
    levels: reducing (technicians, skills) rows costs ten times as much."""
    _, held = skill_rows(problem)
    out = np.ones((need.shape[0], held.shape[1]), np.bool_)
    step = max(1, 4_000_000 // max(held.size, 1))
    for c in range(0, need.shape[0], step):
        block = out[c : c + step]
        for s in range(held.shape[0]):
            block &= held[s][None, :] >= need[c : c + step, s, None]
    return out


def skill_rows(problem: Problem) -> tuple[npt.NDArray[np.signedinteger], ...]:
    """The tickets' required and the technicians' held skill levels, one contiguous row
    per skill (gathers from it are fast), transposed once per problem; in the narrowest
    of int16 and int32 that holds every level and every difference of two (the
    validation bounds levels to [0, 10**6]): a third of the gathers' memory of int64."""
    return memoized(problem, "skill_rows", None, lambda: _skill_rows(problem))


def grow_skill_rows(old: Problem, new: Problem) -> None:
    """Keep :func:`skill_rows` of ``old`` for ``new`` (transposing only the rows after
    them), when ``new`` is ``old`` with tickets appended (the caller's contract: the
    technicians and the skill levels of ``old``'s rows unchanged). Nothing when ``old``
    has none, ``new`` has them, or the new rows need a wider type."""
    known = memo_of(old, "skill_rows", None)
    if known is None or memo_of(new, "skill_rows", None) is not None:
        return
    need, held = known
    extra = new.tickets.skill_levels[old.tickets.count :]
    if need.dtype == np.int16 and int(extra.max(initial=0)) >= 2**14:
        return
    memoized(
        new,
        "skill_rows",
        None,
        lambda: (np.concatenate([need, extra.T.astype(need.dtype)], axis=1), held),
    )


def _skill_rows(problem: Problem) -> tuple[npt.NDArray[np.signedinteger], ...]:
    need, held = problem.tickets.skill_levels, problem.technicians.skill_levels
    top = max(int(need.max(initial=0)), int(held.max(initial=0)))
    dtype = np.int16 if top < 2**14 else np.int32
    return tuple(np.ascontiguousarray(x.T, dtype) for x in (need, held))


def pair_total(terms: dict[str, FloatArray]) -> FloatArray:
    """The placement cost of pairs (weight units): the sum of their ``PAIR_TERMS`` (of
    ``terms``, term name -> (pairs,) array), added in ``PAIR_TERMS`` order. The one sum of
    the placement terms; the same values as ``np.sum`` of them over axis 0, without
    stacking them into one (terms, pairs) array first."""
    total = np.array(terms[PAIR_TERMS[0]], np.float64)
    for name in PAIR_TERMS[1:]:
        total += terms[name]
    return total


def terms_at(
    problem: Problem,
    weights: CostWeights,
    tix: IntArray,
    tech: IntArray,
    travel_s: FloatArray,
    start_s: FloatArray,
    finish_s: FloatArray,
    surplus: IntArray | None = None,
    late: LatePricing | None = None,
    static: dict[str, FloatArray] | None = None,
) -> dict[str, FloatArray]:
    """The placement terms (``PAIR_TERMS``) of pairs for given travel and start/finish times.

    Parameters
    ----------
    problem, weights
        The instance and the weights.
    tix, tech
        Ticket and technician rows, equal-length int arrays.
    travel_s, start_s, finish_s
        Travel seconds to the ticket, predicted start and finish of its work.
    surplus
        The pairs' skill surplus (:func:`skill_fit`) when the caller has it.
    late
        The problem's :func:`late_pricing` (every row) when the caller has it.
    static
        The pairs' :func:`static_terms` when the caller has them (they do not depend
        on the times).

    Returns
    -------
    dict
        Term name -> float64 array (weight units), one value per pair.
    """
    t = problem.tickets
    late_s = late_seconds(problem, tix, start_s, finish_s)
    if late is not None:
        pricing, at = late, tix
    elif tix.size > t.count:  # more pairs than tickets: price every ticket once
        pricing, at = late_pricing(problem, weights), tix
    else:  # priced on the pairs' own rows (the whole problem is O(n) per call)
        pricing = late_pricing(problem, weights, tix)
        at = np.arange(tix.size)
    return {
        "travel": weights.travel * travel_s,
        "lateness": pricing.lateness(at, late_s),
        "breach": pricing.breach(at, late_s),
        "waiting": weights.waiting * np.maximum(start_s - problem.now_s, 0.0),
        **(
            static_terms(problem, weights, tix, tech, surplus)
            if static is None
            else static
        ),
    }


def static_terms(
    problem: Problem,
    weights: CostWeights,
    tix: IntArray,
    tech: IntArray,
    surplus: IntArray | None = None,
) -> dict[str, FloatArray]:
    """The placement terms of pairs that do not depend on the place or the times
    (``STATIC_TERMS``; part of :func:`terms_at`, ``surplus`` as there)."""
    t = problem.tickets
    if surplus is None:
        _, surplus = skill_fit(problem, tix, tech)
    cur = t.current_technician[tix]
    moved = (cur >= 0) & (cur != tech) & ~t.pinned[tix]
    pref = pair_set(problem, "preferred").contains(tix, tech)
    return {
        "skill_surplus": weights.skill_surplus
        * np.maximum(surplus, 0).astype(np.float64),
        "preference": np.where(pref, -weights.preference, 0.0),
        "stability": weights.stability * moved.astype(np.float64),
    }


@dataclass(frozen=True, slots=True)
class TechState:
    """Where and when each technician can start new work: after its pinned queue."""

    lat_deg: FloatArray  # (m,) location after the pinned queue
    lon_deg: FloatArray  # (m,)
    ready_s: FloatArray  # (m,) time the pinned queue is done (>= now)
    load: IntArray  # (m,) pinned tickets held
    free_slots: IntArray  # (m,) places left for movable tickets (0 when unavailable)
    # what is computed once per state from its locations (:func:`state_points`,
    # :func:`state_vectors`, the incremental pricing's blocks); not an init field, so a
    # state made by dataclasses.replace starts empty
    memo: dict[str, Any] = dataclasses.field(
        default_factory=dict, init=False, compare=False, repr=False
    )


def state_points(state: TechState) -> Points:
    """The :func:`solver.geo.point_terms` of the technicians' locations in ``state``,
    computed once per state (not to be changed)."""
    known = state.memo.get("points")
    if known is None:
        known = state.memo["points"] = point_terms(state.lat_deg, state.lon_deg)
    return known


def state_vectors(state: TechState) -> FloatArray:
    """The :func:`solver.geo.unit_vectors` of the technicians' locations in ``state``
    (one row per technician: a subset's are these rows), computed once per state (not
    to be changed)."""
    known = state.memo.get("vectors")
    if known is None:
        known = state.memo["vectors"] = unit_vectors(state.lat_deg, state.lon_deg)
    return known


@dataclass(frozen=True, slots=True)
class PairEval:
    """Predicted schedule, hard-constraint check and cost of (ticket, technician) pairs."""

    travel_s: FloatArray
    start_s: FloatArray
    finish_s: FloatArray
    skill_ok: BoolArray
    excluded: BoolArray
    shift_ok: BoolArray
    has_slot: BoolArray
    total: FloatArray  # sum of PAIR_TERMS (weight units)
    churn_ok: BoolArray  # not a move below ``move_min_gain`` (see :func:`move_gain`)

    @property
    def qualified(self) -> BoolArray:
        """The pair's own rules hold (skills, exclusion, shift), places aside."""
        return np.asarray(self.skill_ok & ~self.excluded & self.shift_ok)

    @property
    def placeable(self) -> BoolArray:
        """The technician could take the ticket: qualified, and a free place."""
        return np.asarray(self.qualified & self.has_slot)

    @property
    def feasible(self) -> BoolArray:
        """All hard constraints hold: placeable, and not a move below the threshold."""
        return np.asarray(self.placeable & self.churn_ok)


def evaluate_pairs(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    tix: IntArray,
    tech: IntArray,
    allow_overtime: bool,
    with_terms: bool = False,
    late: LatePricing | None = None,
    stays: Stays | None = None,
    points: tuple[Points, Points] | None = None,
) -> tuple[PairEval, dict[str, FloatArray]]:
    """Evaluate pairs as if each ticket came right after the technician's pinned queue.

    Parameters
    ----------
    problem, weights, state
        The instance, the weights and the technicians' state after their pinned queues.
    tix, tech
        Ticket and technician rows (equal length).
    allow_overtime
        When False, work that would finish after the shift end is infeasible.
    with_terms
        Also return the per-term breakdown (else an empty dict).
    late
        The problem's :func:`late_pricing` (every row) when the caller has it.
    stays
        The held tickets' :class:`Stays` (same ``allow_overtime``) when the caller has
        them (the bounded-churn rule's gains).
    points
        The tickets' and the technicians' (at ``state``'s locations)
        :func:`solver.geo.point_terms` when the caller has them (every row of each).

    Returns
    -------
    tuple
        (:class:`PairEval`, terms dict).
    """
    k = problem.technicians
    travel, start, finish = first_in_queue(problem, state, tix, tech, points)
    skill_ok, surplus = skill_fit(problem, tix, tech)
    shift_ok = (
        np.ones(tix.size, np.bool_) if allow_overtime else finish <= k.shift_end_s[tech]
    )
    terms = terms_at(problem, weights, tix, tech, travel, start, finish, surplus, late)
    total = pair_total(terms)
    ev = PairEval(
        travel_s=travel,
        start_s=start,
        finish_s=finish,
        skill_ok=np.asarray(skill_ok),
        excluded=pair_set(problem, "excluded").contains(tix, tech),
        shift_ok=np.asarray(shift_ok),
        has_slot=state.free_slots[tech] > 0,
        total=np.asarray(total, dtype=np.float64),
        churn_ok=np.ones(tix.size, np.bool_),
    )
    if weights.move_min_gain > 0:
        gain = move_gain(
            problem, weights, state, tix, tech, allow_overtime, ev, late, stays
        )
        ev = dataclasses.replace(ev, churn_ok=~below_min_gain(gain, weights))
    return ev, (terms if with_terms else {})


def first_in_queue(
    problem: Problem,
    state: TechState,
    tix: IntArray,
    tech: IntArray,
    points: tuple[Points, Points] | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Travel, start and finish of pairs as if each ticket came right after the
    technician's pinned queue (``state``): the schedule :func:`evaluate_pairs` prices.
    ``points`` as there."""
    t, k = problem.tickets, problem.technicians
    if points is None:
        travel = travel_time_s(
            state.lat_deg[tech], state.lon_deg[tech], t.lat_deg[tix], t.lon_deg[tix],
            k.speed_kmh[tech],
        )  # fmt: skip
    else:  # the same values, each point's latitude terms computed once by the caller
        travel = indexed_travel_time_s(
            points[1], tech, points[0], tix, k.speed_kmh[tech]
        )
    start, finish = first_in_queue_times(
        state.ready_s[tech], travel, t.window_start_s[tix], t.duration_s[tix]
    )
    return travel, start, finish


def below_min_gain(gain: FloatArray, weights: CostWeights) -> BoolArray:
    """The bounded-churn rule: which moves gaining ``gain`` (weight units; ``nan``: not a
    move, ``+inf``: forced) may not happen: a gain below ``weights.move_min_gain``. No
    threshold at 0: then every move may happen, whatever its gain. The one test of the
    rule, whichever pricing the gain comes from (:func:`move_gain` screens the exact
    core's arcs, :func:`solver.position.move_gains` prices a plan's moves at their places)."""
    gain = np.asarray(gain, np.float64)
    if weights.move_min_gain <= 0:
        return np.zeros(gain.shape, np.bool_)
    return np.asarray(gain < weights.move_min_gain)


def move_gain(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    tix: IntArray,
    tech: IntArray,
    allow_overtime: bool,
    ev: PairEval | None = None,
    late: LatePricing | None = None,
    stays: Stays | None = None,
) -> FloatArray:
    """What moving each ticket to ``tech`` gains, in weight units (the bounded-churn rule).

    For an ASSIGNED (held, not pinned) ticket going to another technician: its placement
    cost (the ``PAIR_TERMS`` but stability, priced right after the pinned queue as the
    exact core prices it) with its current technician minus that with ``tech``. ``+inf``
    when the current technician can no longer take it (unavailable, full, skills,
    exclusion, shift): the move is forced. ``nan`` when the pair is not a move (a ticket
    nobody holds, a pinned one, or its current technician). A move with a gain below
    ``weights.move_min_gain`` is infeasible (:attr:`PairEval.churn_ok`). ``ev``: these
    pairs' evaluation, ``late``: the problem's :func:`late_pricing`, ``stays``: the held
    tickets' :class:`Stays` (same ``allow_overtime``), when the caller has them.
    """
    t = problem.tickets
    tix = np.asarray(tix, np.int64)
    tech = np.asarray(tech, np.int64)
    cur = t.current_technician[tix]
    moving = np.flatnonzero((cur >= 0) & (cur != tech) & ~t.pinned[tix])
    gain = np.full(tix.size, np.nan)
    if moving.size == 0:
        return gain
    if ev is None:
        ev, _ = evaluate_pairs(
            problem, weights, state, tix, tech, allow_overtime, late=late
        )
    if stays is None:  # the moving tickets' alone, each once
        held, at = distinct_inverse(tix[moving], t.count)
        stay = _stay(problem, weights, state, held, allow_overtime, late)
        placeable, total = stay.placeable[at], stay.total[at]
    else:
        placeable, total = stays.placeable[tix[moving]], stays.total[tix[moving]]
    new_cost = ev.total[moving] - weights.stability
    gain[moving] = np.where(placeable, total - new_cost, np.inf)
    return gain


@dataclass(frozen=True, slots=True)
class Stays:
    """Each held (assigned, unpinned) ticket with its current technician, evaluated as
    :func:`evaluate_pairs` does (per ticket row; False and ``nan`` for the other rows):
    the side of :func:`move_gain` that does not depend on where the ticket would go."""

    placeable: BoolArray  # (n,) the current technician could still take it
    total: FloatArray  # (n,) its placement cost there (sum of PAIR_TERMS)

    @classmethod
    def of(
        cls,
        problem: Problem,
        weights: CostWeights,
        state: TechState,
        allow_overtime: bool,
        late: LatePricing | None = None,
        rows: IntArray | None = None,
    ) -> Stays:
        """Every held ticket of ``problem`` (of ``rows``: only those evaluated)."""
        t = problem.tickets
        if rows is None:
            rows = np.flatnonzero((t.current_technician >= 0) & ~t.pinned)
        else:
            rows = rows[(t.current_technician[rows] >= 0) & ~t.pinned[rows]]
        placeable = np.zeros(t.count, np.bool_)
        total = np.full(t.count, np.nan)
        if rows.size:
            ev = _stay(problem, weights, state, rows, allow_overtime, late)
            placeable[rows], total[rows] = ev.placeable, ev.total
        return cls(placeable, total)


def _stay(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    held: IntArray,
    allow_overtime: bool,
    late: LatePricing | None,
) -> PairEval:
    """The held tickets ``held`` with their current technician (:func:`evaluate_pairs`)."""
    tech = problem.tickets.current_technician[held]
    ev, _ = evaluate_pairs(
        problem, weights, state, held, tech, allow_overtime, late=late
    )
    return ev
