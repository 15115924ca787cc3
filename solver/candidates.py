"""Sparse candidates: the k cheapest feasible technicians per ticket via a spatial index.

Tickets are grouped by their skill-requirement row; each group gets a KD-tree (on unit-
sphere coordinates, so chord order = great-circle order) over the technicians that hold
those skills and have a free queue place. Each ticket queries ``CANDIDATE_OVERSAMPLE x k``
nearest, all hard constraints are checked, and the k cheapest feasible are kept. A ticket
with fewer than k feasible among them is evaluated against the whole group, so a ticket
that has any feasible technician always gets one, and so does one whose nearest
feasible technicians all cost more than leaving it unassigned. Cost grows with tickets x k
(plus the group size for those few tickets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from solver.constants import (
    CANDIDATE_OVERSAMPLE,
    DENSE_PAIRS_MAX,
    PAIR_CHUNK,
    SKILL_PATTERN_MAX,
    TECH_SIDE_KEEP,
)
from solver.cost import (
    Stays,
    drop_penalty,
    evaluate_pairs,
    late_pricing,
    pair_keys,
    skill_holding,
    state_points,
)
from solver.geo import point_terms, unit_vectors
from solver.ordering import distinct
from solver.spatial import nearest

if TYPE_CHECKING:
    from solver.cost import LatePricing, TechState
    from solver.geo import Points
    from solver.model import Problem, SolveParams

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
AnyArray = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidate arcs (feasible, cheaper than leaving the ticket unassigned), sorted by ticket."""

    tix: IntArray  # ticket row per arc
    tech: IntArray  # technician row per arc
    cost: FloatArray  # placement cost (weight units, sum of PAIR_TERMS)
    any_feasible: (
        BoolArray  # (n_tickets,) some technician satisfies every hard constraint
    )


@dataclass(frozen=True, slots=True)
class _Pricing:
    """What every evaluated pair's ticket and technician rows need, priced once per build
    instead of once per ``evaluate_pairs`` call: the late pricing, the points' latitude
    terms (tickets, technicians) and with a churn threshold the held tickets' cost with
    their current technician (:class:`solver.cost.Stays`)."""

    late: LatePricing
    points: tuple[Points, Points]  # the tickets': of the rows priced only (else 0)
    stays: Stays | None

    @classmethod
    def of(
        cls, problem: Problem, params: SolveParams, state: TechState, rows: IntArray
    ) -> _Pricing:
        """For pairs of ``rows`` of ``problem`` (their points and stays only are
        computed: no other ticket row is read)."""
        w, t = params.weights, problem.tickets
        late = late_pricing(problem, w)
        at = point_terms(t.lat_deg[rows], t.lon_deg[rows])
        ticket_points = tuple(np.zeros((len(at), t.count)))  # (one allocation)
        for whole, part in zip(ticket_points, at, strict=True):
            whole[rows] = part
        points = (
            (ticket_points[0], ticket_points[1], ticket_points[2]),
            state_points(state),
        )
        if w.move_min_gain <= 0:
            return cls(late, points, None)
        stays = Stays.of(problem, w, state, params.allow_overtime, late, rows)
        return cls(late, points, stays)


def _keep(
    rows: IntArray, techs: IntArray, cost: FloatArray, k: int | None
) -> tuple[AnyArray, ...]:
    """From (g, c) matrices keep each row's k cheapest finite entries (all finite if k is None)."""
    if k is not None and cost.shape[1] > k:
        idx = np.argpartition(cost, k - 1, axis=1)[:, :k]
        cost = np.take_along_axis(cost, idx, axis=1)
        techs = np.take_along_axis(techs, idx, axis=1)
    ok = np.isfinite(cost)
    rr = np.broadcast_to(rows[:, None], cost.shape)
    return rr[ok], techs[ok], cost[ok]


def _eval(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    rows: IntArray,
    techs: IntArray,
    pricing: _Pricing,
) -> tuple[FloatArray, IntArray]:
    """Costs of a (g, c) technician matrix for ticket ``rows``; inf where infeasible.
    ``pricing``: the rows' prices (:class:`_Pricing`)."""
    flat_t = np.broadcast_to(rows[:, None], techs.shape).ravel()
    ev, _ = evaluate_pairs(
        problem, params.weights, state, flat_t, techs.ravel(), params.allow_overtime,
        late=pricing.late, stays=pricing.stays, points=pricing.points,
    )  # fmt: skip
    cost = np.where(ev.feasible, ev.total, np.inf).reshape(techs.shape)
    return cost, np.isfinite(cost).sum(axis=1)


def _dense(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    rows: IntArray,
    elig: IntArray,
    k: int | None,
    pricing: _Pricing,
) -> tuple[list[AnyArray], IntArray]:
    parts: list[AnyArray] = []
    nfeas = np.zeros(rows.size, np.int64)
    step = max(1, PAIR_CHUNK // max(elig.size, 1))
    for c in range(0, rows.size, step):
        r = rows[c : c + step]
        techs = np.broadcast_to(elig[None, :], (r.size, elig.size))
        cost, nf = _eval(problem, params, state, r, techs, pricing)
        nfeas[c : c + step] = nf
        parts.extend(_keep(r, techs, cost, k))
    return parts, nfeas


def _group(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    rows: IntArray,
    elig: IntArray,
    penalty: FloatArray,
    pricing: _Pricing,
) -> tuple[list[AnyArray], IntArray]:
    """Candidates of one skill group: (list of tix/tech/cost arrays, feasible count per row)."""
    k = params.candidates_k
    kq = min(elig.size, int(k * CANDIDATE_OVERSAMPLE))
    if params.all_pairs or elig.size <= kq:
        return _dense(
            problem, params, state, rows, elig, None if params.all_pairs else k,
            pricing,
        )  # fmt: skip
    t = problem.tickets
    techs = elig[
        nearest(
            unit_vectors(state.lat_deg[elig], state.lon_deg[elig]),
            unit_vectors(t.lat_deg[rows], t.lon_deg[rows]),
            kq,
        )
    ]
    cost, nfeas = _eval(problem, params, state, rows, techs, pricing)
    # Too few feasible among the nearest, or none cheaper than leaving the ticket
    # unassigned (a farther, idle technician may be): evaluate the whole group, so a
    # ticket that can be served always gets an arc.
    pen = penalty[rows]
    short = (nfeas < k) | ~(cost < pen[:, None]).any(axis=1)
    good = ~short
    parts = list(_keep(rows[good], techs[good], cost[good], k))
    if short.any():
        more, nf = _dense(problem, params, state, rows[short], elig, k, pricing)
        parts.extend(more)
        nfeas[short] = nf
    return parts, nfeas


def _tech_side(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    rows: IntArray,
    elig: IntArray,
    penalty: FloatArray,
    pricing: _Pricing,
) -> list[AnyArray]:
    """Reverse candidates: per technician, of its k nearest tickets (per skill group), the
    ``TECH_SIDE_KEEP x k`` with the lowest cost relative to their unassigned penalty.

    Ticket-side candidates alone leave technicians in sparse areas unreachable when the
    region is overloaded (more tickets than places): the exact core then leaves places
    empty that the all-pairs optimum fills. These arcs close most of that gap.
    """
    k = params.candidates_k
    kq = min(rows.size, 2 * k)
    if params.all_pairs or rows.size <= kq:
        return []
    t = problem.tickets
    tix = rows[
        nearest(
            unit_vectors(t.lat_deg[rows], t.lon_deg[rows]),
            unit_vectors(state.lat_deg[elig], state.lon_deg[elig]),
            kq,
        )
    ]  # (e, kq)
    flat_k = np.broadcast_to(elig[:, None], tix.shape).ravel()
    ev, _ = evaluate_pairs(
        problem, params.weights, state, tix.ravel(), flat_k, params.allow_overtime,
        late=pricing.late, stays=pricing.stays, points=pricing.points,
    )  # fmt: skip
    rel = ev.total - penalty[tix.ravel()]
    rel = np.where(ev.feasible, rel, np.inf).reshape(tix.shape)
    cost = ev.total.reshape(tix.shape)
    keep = max(1, int(k * TECH_SIDE_KEEP))
    if kq > keep:
        idx = np.argpartition(rel, keep - 1, axis=1)[:, :keep]
        rel = np.take_along_axis(rel, idx, axis=1)
        tix = np.take_along_axis(tix, idx, axis=1)
        cost = np.take_along_axis(cost, idx, axis=1)
    ok = np.isfinite(rel)
    return [tix[ok], np.broadcast_to(elig[:, None], tix.shape)[ok], cost[ok]]


def _extra(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    movable: IntArray,
    pricing: _Pricing,
) -> list[AnyArray]:
    """Current and preferred technicians of the ``movable`` tickets (sorted, distinct
    rows), when feasible."""
    t = problem.tickets
    cur_rows = movable[t.current_technician[movable] >= 0]
    if t.preferred.shape[0]:
        mask = np.zeros(t.count, np.bool_)
        mask[movable] = True
        pref = t.preferred[mask[t.preferred[:, 0]]]
    else:
        pref = t.preferred
    rows = np.concatenate([cur_rows, pref[:, 0]]).astype(np.int64)
    if rows.size == 0:
        return []
    techs = np.concatenate([t.current_technician[cur_rows], pref[:, 1]]).astype(
        np.int64
    )
    cost, _ = _eval(problem, params, state, rows, techs[:, None], pricing)
    return list(_keep(rows, techs[:, None], cost, None))


def first_of_each(keys: IntArray) -> IntArray:
    """Index of the first occurrence of each distinct value of ``keys`` (>= 0), by
    value: ``np.unique(keys, return_index=True)[1]``. Sorts value and position packed
    in one int64 (a sort of values, several times faster than the stable argsort
    ``np.unique`` runs; numpy's stable one, which merges runs: the candidates come
    mostly in order, 29 ms where its default sort took 61 at 50k x 5k) when they fit,
    else calls ``np.unique``."""
    size = keys.size
    if size == 0 or int(keys.max()) >= (2**62) // size:
        return np.asarray(np.unique(keys, return_index=True)[1], np.int64)
    packed = np.sort(keys * size + np.arange(size), kind="stable")
    value = packed // size
    new = np.ones(size, np.bool_)
    np.not_equal(value[1:], value[:-1], out=new[1:])
    return np.asarray(packed[new] % size, np.int64)


def skill_patterns(req: IntArray) -> tuple[IntArray, IntArray]:
    """Distinct requirement rows (in ``np.unique(axis=0)`` order) and each row's index.

    Rows are encoded as integers (first column most significant, so the order is the same)
    and those are made unique: far faster than ``np.unique(axis=0)``.
    """
    if req.shape[1] == 0 or req.shape[0] <= 1:  # (one row: its own pattern)
        return req[:1], np.zeros(req.shape[0], np.int64)
    base = int(req.max()) + 1
    if base ** req.shape[1] >= 2**62 or int(req.min()) < 0:
        pats, inv = np.unique(req, axis=0, return_inverse=True)
        return pats, inv.reshape(-1).astype(np.int64)
    digit = base ** np.arange(req.shape[1] - 1, -1, -1, dtype=np.int64)
    key = (np.asarray(req, np.int64) * digit).sum(axis=1)
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return req[first], inv.reshape(-1).astype(np.int64)


def skill_holders(problem: Problem, rows: IntArray) -> tuple[IntArray, BoolArray]:
    """Which available technicians hold each requirement of ``rows``: each row's pattern
    index (:func:`skill_patterns`) and a (patterns, technicians) mask, False for the
    unavailable ones (:func:`solver.cost.skill_holding`)."""
    pats, inv = skill_patterns(problem.tickets.skill_levels[rows])
    skilled = skill_holding(problem, pats) & problem.technicians.available[None, :]
    return inv, skilled


def skill_groups(
    problem: Problem, state: TechState, movable: IntArray
) -> list[tuple[IntArray, IntArray]]:
    """Movable tickets grouped by skill requirement, each with the technicians holding it.

    Only technicians with a free place count. Beyond ``SKILL_PATTERN_MAX`` distinct
    requirements, one group of every movable ticket and every such technician.
    """
    usable = np.flatnonzero(state.free_slots > 0)
    if movable.size == 0 or usable.size == 0:
        return []
    req = problem.tickets.skill_levels[movable]
    pats, inv = skill_patterns(req)
    if pats.shape[0] > SKILL_PATTERN_MAX:
        return [(movable, usable)]
    holds = skill_holding(problem, pats)[:, usable]
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(pats.shape[0] + 1))
    return [
        (movable[order[bounds[p] : bounds[p + 1]]], usable[holds[p]])
        for p in range(pats.shape[0])
    ]


def build_candidates(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    movable: IntArray,
    penalty: FloatArray | None = None,
) -> Candidates:
    """Feasible candidate arcs of the movable tickets.

    Parameters
    ----------
    problem, params
        The instance and solver knobs (``candidates_k``, ``all_pairs``, ``allow_overtime``).
    state
        Technicians after their pinned queues (location, ready time, free places).
    movable
        Rows of the tickets to place (not pinned).
    penalty
        The problem's :func:`solver.cost.drop_penalty` when the caller has it.

    Returns
    -------
    Candidates
        Arcs sorted by (ticket, technician), pruned to those cheaper than the ticket's
        unassigned penalty (never optimal otherwise, as place costs are >= 0).
    """
    n = problem.tickets.count
    m = problem.technicians.count
    any_feasible = np.zeros(n, np.bool_)
    usable = np.flatnonzero(state.free_slots > 0)
    if penalty is None:
        penalty = drop_penalty(problem, params.weights)
    pricing = _Pricing.of(problem, params, state, movable)
    parts: list[AnyArray] = []
    if movable.size and usable.size:
        if movable.size * usable.size <= DENSE_PAIRS_MAX:
            got, nfeas = _dense(problem, params, state, movable, usable, None, pricing)
            parts.extend(got)
            any_feasible[movable] = nfeas > 0
            groups = []
        else:
            groups = skill_groups(problem, state, movable)
        for rows, elig in groups:
            if rows.size and elig.size:
                got, nfeas = _group(
                    problem, params, state, rows, elig, penalty, pricing
                )
                parts.extend(got)
                parts.extend(
                    _tech_side(problem, params, state, rows, elig, penalty, pricing)
                )
                any_feasible[rows] = nfeas > 0
        parts.extend(_extra(problem, params, state, distinct(movable, n), pricing))
    if not parts:
        e = np.zeros(0, np.int64)
        return Candidates(e, e, np.zeros(0), any_feasible)
    tix = np.concatenate(parts[0::3]).astype(np.int64)
    tech = np.concatenate(parts[1::3]).astype(np.int64)
    cost = np.concatenate(parts[2::3]).astype(np.float64)
    first = first_of_each(pair_keys(tix, tech, m))
    tix, tech, cost = tix[first], tech[first], cost[first]
    keep = cost < penalty[tix]
    return Candidates(tix[keep], tech[keep], cost[keep], any_feasible)
