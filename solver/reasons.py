"""Why a ticket is unassigned: judged against every technician, not the candidates.

:func:`unassigned_reasons` gives every row of a plan its reason; :func:`judge` judges
some unassigned rows only and also names, for a ticket left unassigned because the
penalty was cheaper, a technician with a free place that could have taken it (its
*witness*). A ticket's reason depends on the plan only through which technicians have a
free place (:func:`free_places`), so :class:`solver.finalize_cache.FinalizeCache` keeps
the reasons of unchanged rows and judges again only those a change of free places can
move (a witness that lost its place, a technician that gained one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.candidates import skill_holders
from solver.cost import first_in_queue_times, in_pairs
from solver.geo import pair_travel_time_s, travel_time_bounds_s, unit_vectors
from solver.model import UnassignedReason

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.cost import TechState
    from solver.model import Problem, SolveParams

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]
    BoolArray = npt.NDArray[np.bool_]

FIT_BLOCK = 64
"""Technicians tried at once when looking for one that could take an unassigned ticket."""


@dataclass(frozen=True, slots=True)
class Judgement:
    """Reasons of some unassigned rows (aligned with the rows judged)."""

    reason: IntArray  # UnassignedReason value
    witness: (
        IntArray  # PENALTY_CHEAPER: a technician with a free place that fits; else -1
    )


def free_places(problem: Problem, state: TechState, tech_of: IntArray) -> BoolArray:
    """Per technician: a free place left to movable tickets in the plan ``tech_of``
    (technician per row, pinned rows included or not: they are not counted)."""
    t = problem.tickets
    count = np.bincount(
        tech_of[(tech_of >= 0) & ~t.pinned], minlength=problem.technicians.count
    )
    room: BoolArray = count < state.free_slots
    return room


def unassigned_reasons(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    tech_of: IntArray,
    dropped: IntArray,
) -> IntArray:
    """The binding reason (``UnassignedReason``) of every ticket row; ASSIGNED when assigned.

    Judged against every technician (:func:`judge`). Tickets the shift repair dropped
    (``dropped``) get SHIFT.
    """
    reason = np.full(problem.tickets.count, int(UnassignedReason.ASSIGNED), np.int64)
    un = np.flatnonzero(tech_of < 0)
    reason[un] = judge(problem, params, state, tech_of, un).reason
    reason[dropped[tech_of[dropped] < 0]] = UnassignedReason.SHIFT
    return reason


def judge(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    tech_of: IntArray,
    rows: IntArray,
) -> Judgement:
    """The reasons of the unassigned, sorted ``rows`` of the plan ``tech_of``.

    Judged against every technician, not the candidates: none available
    (NO_TECHNICIANS); none available with the skills (NO_SKILL); every skilled one
    excluded (EXCLUDED); every eligible one (available, skilled, not excluded) without
    a free place in this plan (CAPACITY); every eligible one with a free place unable to
    finish it within the shift (SHIFT); otherwise leaving it unassigned was cheaper than
    any place left (PENALTY_CHEAPER). A row's reason depends on the plan only through
    :func:`free_places`.
    """
    k = problem.technicians
    m = k.count
    out = Judgement(
        np.full(rows.size, int(UnassignedReason.PENALTY_CHEAPER), np.int64),
        np.full(rows.size, -1, np.int64),
    )
    if rows.size == 0:
        return out
    r = out.reason
    avail = np.flatnonzero(k.available)
    if avail.size == 0:
        r[:] = UnassignedReason.NO_TECHNICIANS
        return out
    inv, skilled = skill_holders(problem, rows)
    room = free_places(problem, state, tech_of)
    n_skill = skilled.sum(axis=1)[inv]
    n_room = (skilled & room[None, :]).sum(axis=1)[inv]
    ex_u, ex_tech = _excluded_of(problem, rows, m)
    is_sk = skilled[inv[ex_u], ex_tech]
    n_ex_skill = np.bincount(ex_u[is_sk], minlength=rows.size)
    n_ex_room = np.bincount(ex_u[is_sk & room[ex_tech]], minlength=rows.size)
    open_place = n_room - n_ex_room > 0
    for p in np.unique(inv[open_place]).tolist():
        who = np.flatnonzero(open_place & (inv == p))
        out.witness[who] = _fitting(
            problem, params, state, rows[who], np.flatnonzero(skilled[p] & room)
        )
    r[open_place & (out.witness < 0)] = UnassignedReason.SHIFT
    r[~open_place] = UnassignedReason.CAPACITY
    r[n_skill - n_ex_skill <= 0] = UnassignedReason.EXCLUDED
    r[n_skill == 0] = UnassignedReason.NO_SKILL
    out.witness[r != UnassignedReason.PENALTY_CHEAPER] = -1
    return out


def skilled_for_any(problem: Problem, rows: IntArray, techs: IntArray) -> BoolArray:
    """Per row of ``rows``: one of ``techs`` is available and has its skills."""
    k = problem.technicians
    techs = techs[k.available[techs]]
    need = problem.tickets.skill_levels[rows]
    has = k.skill_levels[techs]
    fit = np.all(has[None, :, :] >= need[:, None, :], axis=2)
    return np.asarray(np.any(fit, axis=1), np.bool_)


def _excluded_of(problem: Problem, un: IntArray, m: int) -> tuple[IntArray, IntArray]:
    """Distinct excluded pairs of the (sorted) rows ``un``: (index into ``un``, tech)."""
    ex = problem.tickets.excluded
    if ex.shape[0] == 0:
        e = np.zeros(0, np.int64)
        return e, e
    pos = np.minimum(np.searchsorted(un, ex[:, 0]), un.size - 1)
    hit = un[pos] == ex[:, 0]
    pairs = np.unique(pos[hit] * max(m, 1) + ex[hit, 1])
    return pairs // max(m, 1), pairs % max(m, 1)


def _fitting(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    rows: IntArray,
    techs: IntArray,
) -> IntArray:
    """Per ticket row, one of ``techs`` (skilled, with a free place) that can take it
    without exclusion or shift overrun, else -1. Technicians with the most shift slack are
    tried first, a block at a time, and only on the rows that fit nowhere yet; within a
    block each row takes the (row mod fitting)-th fitting one, so that rows do not all
    lean on the same technician (a witness that loses its place is judged again)."""
    t, k = problem.tickets, problem.technicians
    out = np.full(rows.size, -1, np.int64)
    slack = k.shift_end_s[techs] - state.ready_s[techs]
    techs = techs[np.argsort(-slack, kind="stable")]
    # A block is a (rows, technicians) matrix: the points and the rows with an exclusion
    # are found once.
    has_ex = np.isin(rows, t.excluded[:, 0])
    t_pts = unit_vectors(t.lat_deg[rows], t.lon_deg[rows])
    k_pts = unit_vectors(state.lat_deg[techs], state.lon_deg[techs])
    for c in range(0, techs.size, FIT_BLOCK):
        left = np.flatnonzero(out < 0)
        if left.size == 0:
            break
        b = slice(c, c + FIT_BLOCK)
        kk = techs[b]
        r = rows[left]
        ok = np.ones((r.size, kk.size), np.bool_)
        ex = np.flatnonzero(has_ex[left])
        if ex.size:
            ok[ex] = ~in_pairs(t.excluded, r[ex, None], kk[None, :], k.count)
        if not params.allow_overtime:
            bounds = travel_time_bounds_s(t_pts[left], k_pts[b], k.speed_kmh[kk])
            ok &= _within_shift(problem, state, r, kk, bounds)
        n_ok = np.count_nonzero(ok, axis=1)
        hit = np.flatnonzero(n_ok > 0)
        col = r[hit] % n_ok[hit]  # the col-th fitting technician of the block: the
        gaps = np.flatnonzero(n_ok[hit] < kk.size)  # col-th column where all fit
        col[gaps] = np.argmax(
            np.cumsum(ok[hit[gaps]], axis=1) > col[gaps, None], axis=1
        )
        out[left[hit]] = kk[col]
    return out


def _within_shift(
    problem: Problem,
    state: TechState,
    r: IntArray,
    kk: IntArray,
    bounds: tuple[FloatArray, FloatArray],
) -> BoolArray:
    """(rows, technicians): whether each ticket of ``r`` would finish within the shift of
    each technician of ``kk`` coming right after its pinned work (the rule of
    :attr:`solver.cost.PairEval.shift_ok`). ``bounds``: lower and upper bounds on each
    pair's travel (:func:`solver.geo.travel_time_bounds_s`). The finish only grows with
    the travel: a pair that fits with the upper bound fits, one that does not fit with
    the lower bound does not; the travel of the others is computed."""
    t, k = problem.tickets, problem.technicians

    def fits(i: IntArray, j: IntArray, travel: FloatArray) -> BoolArray:
        _, finish = first_in_queue_times(
            state.ready_s[kk[j]], travel, t.window_start_s[r[i]], t.duration_s[r[i]]
        )
        return np.asarray(finish <= k.shift_end_s[kk[j]])

    every = np.arange(r.size)[:, None], np.arange(kk.size)[None, :]
    ok = fits(*every, bounds[1])
    i, j = np.nonzero(~ok & fits(*every, bounds[0]))
    if i.size == 0:
        return ok
    travel = pair_travel_time_s(
        (state.lat_deg[kk], state.lon_deg[kk]), j, (t.lat_deg[r], t.lon_deg[r]), i,
        k.speed_kmh[kk[j]],
    )  # fmt: skip
    ok[i, j] = fits(i, j, travel)
    return ok
