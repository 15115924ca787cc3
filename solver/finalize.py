"""Turn a technician-per-ticket decision into a full ``Solution``: schedule, terms, reasons."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from solver.candidates import skill_patterns
from solver.cost import (
    PAIR_TERMS,
    TERM_NAMES,
    TechState,
    deferred_cost,
    evaluate_pairs,
    in_pairs,
    late_pricing,
    terms_at,
    unassigned_penalty,
)
from solver.geo import travel_time_s
from solver.model import (
    Problem,
    Solution,
    SolveParams,
    SolveStats,
    SolveStatus,
    UnassignedReason,
    relative_gap_pct,
)
from solver.sequence import sequence_queues

FIT_BLOCK = 64
"""Technicians tried at once when looking for one that could take an unassigned ticket."""

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.candidates import Candidates
    from solver.certify import Certificate
    from solver.model import CostWeights

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]
    BoolArray = npt.NDArray[np.bool_]


def unassigned_reasons(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    tech_of: IntArray,
    dropped: IntArray,
) -> IntArray:
    """The binding reason (``UnassignedReason``) of every ticket row; ASSIGNED when assigned.

    Judged against every technician, not the candidates: none available
    (NO_TECHNICIANS); none available with the skills (NO_SKILL); every skilled one
    excluded (EXCLUDED); every eligible one (available, skilled, not excluded) without
    a free place in this plan (CAPACITY); every eligible one with a free place unable to
    finish it within the shift (SHIFT); otherwise leaving it unassigned was cheaper than
    any place left (PENALTY_CHEAPER). Tickets the shift repair dropped get SHIFT.
    """
    t, k = problem.tickets, problem.technicians
    n, m = t.count, k.count
    reason = np.full(n, int(UnassignedReason.ASSIGNED), np.int64)
    un = np.flatnonzero(tech_of < 0)
    if un.size == 0:
        return reason
    avail = np.flatnonzero(k.available)
    if avail.size == 0:
        reason[un] = UnassignedReason.NO_TECHNICIANS
        return reason
    pats, inv = skill_patterns(t.skill_levels[un])
    skilled = np.zeros((pats.shape[0], m), np.bool_)
    held = k.skill_levels[avail]
    step = max(1, 4_000_000 // max(avail.size * max(pats.shape[1], 1), 1))
    for c in range(0, pats.shape[0], step):
        block = (held[None, :, :] >= pats[c : c + step, None, :]).all(axis=2)
        skilled[c : c + step, avail] = block
    count = np.bincount(tech_of[(tech_of >= 0) & ~t.pinned], minlength=m)
    room = count < state.free_slots
    n_skill = skilled.sum(axis=1)[inv]
    n_room = (skilled & room[None, :]).sum(axis=1)[inv]
    ex_u, ex_tech = _excluded_of(problem, un, m)
    is_sk = skilled[inv[ex_u], ex_tech]
    n_ex_skill = np.bincount(ex_u[is_sk], minlength=un.size)
    n_ex_room = np.bincount(ex_u[is_sk & room[ex_tech]], minlength=un.size)
    r = np.full(un.size, int(UnassignedReason.PENALTY_CHEAPER), np.int64)
    open_place = n_room - n_ex_room > 0
    fits = np.zeros(un.size, np.bool_)
    for p in np.unique(inv[open_place]).tolist():
        who = np.flatnonzero(open_place & (inv == p))
        fits[who] = _fits_somewhere(
            problem, params, state, un[who], np.flatnonzero(skilled[p] & room)
        )
    r[open_place & ~fits] = UnassignedReason.SHIFT
    r[~open_place] = UnassignedReason.CAPACITY
    r[n_skill - n_ex_skill <= 0] = UnassignedReason.EXCLUDED
    r[n_skill == 0] = UnassignedReason.NO_SKILL
    reason[un] = r
    reason[dropped[tech_of[dropped] < 0]] = UnassignedReason.SHIFT
    return reason


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


def _fits_somewhere(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    rows: IntArray,
    techs: IntArray,
) -> BoolArray:
    """Per ticket row: one of ``techs`` (skilled, with a free place) can take it without
    exclusion or shift overrun. Technicians with the most shift slack are tried first, a
    block at a time, and only on the rows that fit nowhere yet."""
    t, k = problem.tickets, problem.technicians
    out = np.zeros(rows.size, np.bool_)
    slack = k.shift_end_s[techs] - state.ready_s[techs]
    techs = techs[np.argsort(-slack, kind="stable")]
    for c in range(0, techs.size, FIT_BLOCK):
        left = np.flatnonzero(~out)
        if left.size == 0:
            break
        kk = techs[c : c + FIT_BLOCK]
        r = rows[left]
        tix, tech = np.repeat(r, kk.size), np.tile(kk, r.size)
        ok = ~in_pairs(t.excluded, tix, tech, k.count)
        if not params.allow_overtime:
            tt = travel_time_s(
                state.lat_deg[tech], state.lon_deg[tech], t.lat_deg[tix],
                t.lon_deg[tix], k.speed_kmh[tech],
            )  # fmt: skip
            start = np.maximum(state.ready_s[tech] + tt, t.window_start_s[tix])
            ok &= start + t.duration_s[tix] <= k.shift_end_s[tech]
        out[left] = ok.reshape(r.size, kk.size).any(axis=1)
    return out


def _shared_terms(
    problem: Problem, w: CostWeights, tech_of: IntArray
) -> dict[str, float]:
    """The terms that do not depend on where a ticket sits in its queue: balance of the
    places taken, unassigned penalties and the stability of dropping a held ticket."""
    t = problem.tickets
    count = np.bincount(tech_of[tech_of >= 0], minlength=problem.technicians.count)
    un = tech_of < 0
    base = unassigned_penalty(problem, w) + deferred_cost(problem, w)
    dropped_held = un & (t.current_technician >= 0) & ~t.pinned
    return {
        "balance": float(w.balance * np.sum(count * (count - 1) / 2)),
        "unassigned": float(np.sum(base[un])),
        "stability": float(w.stability * np.sum(dropped_held)),
    }


def _plan_terms(
    movable: dict[str, FloatArray],
    pinned: dict[str, FloatArray],
    shared: dict[str, float],
) -> dict[str, float]:
    """A plan's cost by term name: the movable and pinned tickets' placement terms plus
    the position-free ``shared`` ones."""
    terms = dict.fromkeys(TERM_NAMES, 0.0)
    for name in PAIR_TERMS:
        terms[name] = float(np.sum(movable[name])) + float(np.sum(pinned[name]))
    for name, value in shared.items():
        terms[name] += value
    return terms


def finalize(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    cands: Candidates,
    tech_of: IntArray,
    status: SolveStatus,
    dropped: IntArray,
    phases_s: dict[str, float],
    t0: float,
    alive: BoolArray | None = None,
    free: IntArray | None = None,
    certificate: Certificate | None = None,
    bound_gap: float | None = None,
    reasons: IntArray | None = None,
) -> Solution:
    """Build the :class:`Solution` for movable decisions ``tech_of`` plus the pinned tickets.

    Pinned tickets keep their technician and head its queue; movable assigned tickets are
    sequenced after them. The objective is the plan's cost as driven: every ticket's
    placement terms at its sequenced travel (chained stop to stop), start and finish (the
    evaluation of :func:`solver.position.queue_costs`), queue-place balance, stability and
    the unassigned penalties. ``stats.model_objective`` prices the same plan in the exact
    core's first-in-queue model (movable tickets as if each came right after the pinned
    work), the model ``bound_gap`` (model cost above the certified optimum) is about.
    """
    t, k = problem.tickets, problem.technicians
    n = t.count
    w = params.weights
    tech_of = tech_of.copy()
    pinned = np.flatnonzero(t.pinned)
    tech_of[pinned] = t.current_technician[pinned]
    lw = late_pricing(problem, w)
    pos = np.full(n, -1, np.int64)
    arr, st, fin = (np.full(n, np.nan) for _ in range(3))
    ready0 = np.maximum(np.asarray(k.free_at_s, np.float64), problem.now_s)
    ps = sequence_queues(
        problem, lw, pinned, tech_of[pinned], k.lat_deg, k.lon_deg, ready0, True
    )
    pos[pinned], arr[pinned], st[pinned], fin[pinned] = (
        ps.position,
        ps.arrival_s,
        ps.start_s,
        ps.finish_s,
    )
    mov = np.flatnonzero((tech_of >= 0) & ~t.pinned)
    ms = sequence_queues(
        problem,
        lw,
        mov,
        tech_of[mov],
        state.lat_deg,
        state.lon_deg,
        state.ready_s,
        params.allow_overtime,
    )
    pos[mov] = ms.position + state.load[tech_of[mov]]
    arr[mov], st[mov], fin[mov] = ms.arrival_s, ms.start_s, ms.finish_s
    _, first = evaluate_pairs(
        problem, w, state, mov, tech_of[mov], True, with_terms=True
    )
    driven = terms_at(
        problem, w, mov, tech_of[mov], ms.travel_s, ms.start_s, ms.finish_s
    )
    pt = terms_at(
        problem, w, pinned, tech_of[pinned], ps.travel_s, ps.start_s, ps.finish_s
    )
    shared = _shared_terms(problem, w, tech_of)
    terms = _plan_terms(driven, pt, shared)
    model_objective = float(sum(_plan_terms(first, pt, shared).values()))
    row_terms = {name: np.zeros(n) for name in PAIR_TERMS}
    for name, values in row_terms.items():
        values[mov], values[pinned] = driven[name], pt[name]
    assigned = tech_of >= 0
    sla = assigned & (st <= t.response_due_s) & (fin <= t.resolution_due_s)
    reason = (
        unassigned_reasons(problem, params, state, tech_of, dropped)
        if reasons is None
        else reasons
    )
    objective = float(sum(terms.values()))
    model_bound = None if bound_gap is None else model_objective - bound_gap
    stats = SolveStats(
        status=status,
        wall_time_s=time.perf_counter() - t0,
        candidate_arcs=int(cands.tix.size),
        n_tickets=n,
        n_technicians=k.count,
        phases_s={
            **phases_s,
            "finalize": time.perf_counter() - t0 - sum(phases_s.values()),
        },
        certificate=certificate,
        model_objective=model_objective,
        model_bound=model_bound,
        model_gap_pct=None
        if model_bound is None
        else relative_gap_pct(model_objective, model_bound),
    )
    return Solution(
        technician=tech_of,
        position=pos,
        arrival_s=arr,
        start_s=st,
        finish_s=fin,
        sla_met=np.asarray(sla, np.bool_),
        reason=reason,
        objective=objective,
        objective_terms=terms,
        stats=stats,
        row_terms=row_terms,
    )
