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
from solver.cost import in_pairs
from solver.geo import pair_travel_time_s
from solver.model import UnassignedReason

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.cost import TechState
    from solver.model import Problem, SolveParams

    IntArray = npt.NDArray[np.int64]
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
    for c in range(0, techs.size, FIT_BLOCK):
        left = np.flatnonzero(out < 0)
        if left.size == 0:
            break
        kk = techs[c : c + FIT_BLOCK]
        r = rows[left]
        tix, tech = np.repeat(r, kk.size), np.tile(kk, r.size)
        ok = ~in_pairs(t.excluded, tix, tech, k.count)
        if not params.allow_overtime:
            tt = pair_travel_time_s(
                (state.lat_deg[kk], state.lon_deg[kk]), np.tile(np.arange(kk.size), r.size),
                (t.lat_deg[r], t.lon_deg[r]), np.repeat(np.arange(r.size), kk.size),
                k.speed_kmh[tech],
            )  # fmt: skip
            start = np.maximum(state.ready_s[tech] + tt, t.window_start_s[tix])
            ok &= start + t.duration_s[tix] <= k.shift_end_s[tech]
        ok = ok.reshape(r.size, kk.size)
        n_ok = ok.sum(axis=1)
        hit = np.flatnonzero(n_ok > 0)
        pick = r[hit] % n_ok[hit]  # the pick-th fitting technician of the block
        col = np.argmax(np.cumsum(ok[hit], axis=1) > pick[:, None], axis=1)
        out[left[hit]] = kk[col]
    return out
