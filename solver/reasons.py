"""Why a ticket is unassigned: judged against every technician, not the candidates.

:func:`judge` gives unassigned rows of a plan their reasons and also names, for a
ticket left unassigned because the penalty was cheaper, a technician with a free place
that could have taken it (its *witness*). A ticket's reason depends on the plan only through which technicians have a
free place (:func:`free_places`), so :class:`solver.finalize_cache.FinalizeCache` keeps
the reasons of unchanged rows and judges again only those a change of free places can
move (a witness that lost its place, a technician that gained one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.candidates import skill_holders
from solver.constants import EXACT_SEQUENCE_MAX, QUEUE_MARGIN_S
from solver.cost import first_in_queue_times, late_pricing, pair_set, state_vectors
from solver.geo import (
    pair_travel_time_s,
    travel_time_bounds_s,
    travel_time_s,
    unit_vectors,
)
from solver.model import UnassignedReason
from solver.sequence import queues_overrun, sequence_queues

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.cost import TechState
    from solver.model import Problem, SolveParams

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]
    BoolArray = npt.NDArray[np.bool_]

FIT_BLOCK = 64
"""Technicians tried at once when looking for one that could take an unassigned ticket."""

APPEND_AT_ONCE = 256
"""Most fitting pairs of a block tried after the last stop of the queue in one go
(:func:`_fitting`): the spread picks with the rest (one call: its overhead is worth some
600 pairs' work). Above, the spread picks first, then the pairs of the rows they leave
(most rows' pick fits when many are judged)."""

QUEUE_TRIES = 8
"""Technicians per row whose queues are sequenced with the ticket at once, when it fits
after the last stop of none of them (:func:`_pick_checked`)."""


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
        tech_of.compress((tech_of >= 0) & ~t.pinned),
        minlength=problem.technicians.count,
    )
    room: BoolArray = count < state.free_slots
    return room


def judge(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    tech_of: IntArray,
    rows: IntArray,
    schedule: tuple[IntArray, FloatArray] | None = None,
    room: BoolArray | None = None,
) -> Judgement:
    """The reasons of the unassigned, sorted ``rows`` of the plan ``tech_of``.

    Judged against every technician, not the candidates: none available
    (NO_TECHNICIANS); none available with the skills (NO_SKILL); every skilled one
    excluded (EXCLUDED); every eligible one (available, skilled, not excluded) without
    a free place in this plan (CAPACITY); every eligible one with a free place unable to
    finish it within the shift, its queue in this plan sequenced with the ticket
    (:func:`solver.sequence.queues_overrun`, the rule of the solve's shift repair and
    refill) (SHIFT); otherwise leaving it unassigned was cheaper than any place left
    (PENALTY_CHEAPER). A row's reason depends on the plan through :func:`free_places`
    and, for SHIFT and PENALTY_CHEAPER, the queues of the technicians with a free place.

    ``schedule``: the plan's movable rows as :func:`solver.finalize.place_movable`
    sequenced them (position and finish per row), when the caller has them: the queues
    are read from it instead of sequenced again (the same sequencing, the same answer).
    ``room``: the plan's :func:`free_places` when the caller has them.
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
    if room is None:
        room = free_places(problem, state, tech_of)
    n_skill = skilled.sum(axis=1)[inv]
    n_room = (skilled & room[None, :]).sum(axis=1)[inv]
    ex_u, ex_tech = _excluded_of(problem, rows, m)
    is_sk = skilled[inv[ex_u], ex_tech]
    n_ex_skill = np.bincount(ex_u[is_sk], minlength=rows.size)
    n_ex_room = np.bincount(ex_u[is_sk & room[ex_tech]], minlength=rows.size)
    open_place = n_room - n_ex_room > 0
    queues = (
        None
        if params.allow_overtime or not open_place.any()
        else _Queues(problem, params, state, tech_of, room, schedule)
    )
    for p in np.unique(inv[open_place]).tolist():
        who = np.flatnonzero(open_place & (inv == p))
        out.witness[who] = _fitting(
            problem, state, queues, rows[who], np.flatnonzero(skilled[p] & room)
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
    state: TechState,
    queues: _Queues | None,
    rows: IntArray,
    techs: IntArray,
    at_once: int = APPEND_AT_ONCE,
) -> IntArray:
    """Per ticket row, one of ``techs`` (skilled, with a free place in the plan) that can
    take it without exclusion or shift overrun, else -1: it finishes within the shift
    first in the queue (:func:`_within_shift`) and its queue in the plan, sequenced with
    it, does not overrun the shift (``queues``; None: overtime allowed, no shift check).
    Technicians with the most time left (to the shift end, less their queue's work) are
    tried first, a block at a time, and only on the rows that fit nowhere yet; within a block each row takes the (row mod
    fitting)-th fitting one, so that rows do not all lean on the same technician (a
    witness that loses its place or whose queue changes is judged again); a row whose
    pick overruns in the queue picks again among the others. ``at_once``: most fitting
    pairs of a block tried after the last stop in one go (the same witnesses)."""
    t, k = problem.tickets, problem.technicians
    out = np.full(rows.size, -1, np.int64)
    slack = (  # time left: to the shift end, less the work already in the queue
        k.shift_end_s[techs] - state.ready_s[techs]
        if queues is None
        else queues.latest[techs]
    )
    order = np.argsort(-slack, kind="stable")
    techs, slack = techs[order], slack[order]
    # with queues, the technicians a row may fit are a prefix: those with time for its
    # work (the others are never tried)
    reach = (
        np.full(rows.size, techs.size)
        if queues is None
        else np.searchsorted(-slack, QUEUE_MARGIN_S - t.duration_s[rows], side="right")
    )
    # A block is a (rows, technicians) matrix: the points and the rows with an exclusion
    # are found once.
    excluded = pair_set(problem, "excluded")
    has_ex = excluded.has_pairs(rows)
    t_pts = unit_vectors(t.lat_deg[rows], t.lon_deg[rows])
    k_pts = state_vectors(state)[techs]
    for c in range(0, techs.size, FIT_BLOCK):
        left = np.flatnonzero((out < 0) & (reach > c))
        if left.size == 0:
            break
        b = slice(c, c + FIT_BLOCK)
        kk = techs[b]
        r = rows[left]
        ok = np.ones((r.size, kk.size), np.bool_)
        ex = np.flatnonzero(has_ex[left])
        if ex.size:
            ok[ex] = ~excluded.contains(r[ex, None], kk[None, :])
        if queues is None:
            hit, col = _pick_spread(r, ok)
            out[left[hit]] = kk[col]
            continue
        bounds = travel_time_bounds_s(t_pts[left], k_pts[b], k.speed_kmh[kk])
        ok &= _within_shift(problem, state, r, kk, bounds) & queues.may_fit(r, kk)
        # each row's spread pick, when the ticket fits after the last stop of its queue
        # as sequenced; else one of those where it fits so; else the first fitting
        # technician whose queue, sequenced with it, keeps the shift
        hit, col = _pick_spread(r, ok)
        after_last = np.zeros_like(ok)
        i, j = np.nonzero(ok)
        few = i.size <= at_once
        if few:  # every fitting pair tried after the last stop at once
            after_last[i, j] = queues.append_fits(r[i], kk[j])
            good = after_last[hit, col]
        else:
            good = queues.append_fits(r[hit], kk[col])
        out[left[hit[good]]] = kk[col[good]]
        ok[hit[good]] = False
        after_last[hit[good]] = False
        if not few:  # the pairs of the rows the picks left
            i, j = np.nonzero(ok)
            after_last[i, j] = queues.append_fits(r[i], kk[j])
        hit, col = _pick_spread(r, after_last)
        out[left[hit]] = kk[col]
        ok[hit] = False
        _pick_checked(r, ok, out, left, kk, queues)
    return out


def _pick_spread(r: IntArray, ok: BoolArray) -> tuple[IntArray, IntArray]:
    """Each row ``r[i]`` with a True in ``ok[i]`` picks the (row mod count)-th of them
    (rows spread over the technicians): (those rows' indices ``i``, their columns)."""
    n_ok = np.count_nonzero(ok, axis=1)
    hit = np.flatnonzero(n_ok > 0)
    col = r[hit] % n_ok[hit]  # the col-th fitting technician of the block: the
    gaps = np.flatnonzero(n_ok[hit] < ok.shape[1])  # col-th column where all fit
    col[gaps] = np.argmax(np.cumsum(ok[hit[gaps]], axis=1) > col[gaps, None], axis=1)
    return hit, col


def _pick_checked(
    r: IntArray,
    ok: BoolArray,
    out: IntArray,
    left: IntArray,
    kk: IntArray,
    queues: _Queues,
) -> None:
    """Each row ``r[i]`` takes the first column of ``ok[i]`` whose queue, sequenced with
    it, keeps the shift (``out[left[i]] = kk[column]``); ``QUEUE_TRIES`` columns of each
    row are tried at once. ``ok`` is used up."""
    while True:
        cand = ok & (np.cumsum(ok, axis=1) <= QUEUE_TRIES)
        i, j = np.nonzero(cand)
        if i.size == 0:
            return
        fits = queues.fit(r[i], kk[j])
        ok[i, j] = False
        first = np.unique(i[fits], return_index=True)[1]  # first fitting column per row
        won = i[fits][first]
        out[left[won]] = kk[j[fits][first]]
        ok[won] = False


class _Queues:
    """The plan's queues of movable tickets with a free place, to try a ticket in them
    (shift ends)."""

    def __init__(
        self,
        problem: Problem,
        params: SolveParams,
        state: TechState,
        tech_of: IntArray,
        room: BoolArray,
        schedule: tuple[IntArray, FloatArray] | None = None,
    ) -> None:
        """The queues of the technicians with ``room`` (a free place) in ``tech_of``,
        sequenced without overtime (:func:`solver.sequence.sequence_queues`), or read
        from ``schedule`` (per row: position after the pinned work and finish, as
        :func:`solver.finalize.place_movable` leaves them without overtime: that
        sequencing, queue by queue)."""
        t, k = problem.tickets, problem.technicians
        self.problem, self.state = problem, state
        self.late = late_pricing(problem, params.weights)
        on = np.flatnonzero((tech_of >= 0) & ~t.pinned)
        on = on.compress(room.take(tech_of.take(on)))
        tech = tech_of.take(on)
        self.members = on[np.argsort(tech, kind="stable")]  # by technician
        self.count = np.bincount(tech, minlength=k.count)
        self.first = np.cumsum(self.count) - self.count
        work = np.bincount(tech, t.duration_s[on], minlength=k.count)
        self.latest = k.shift_end_s - state.ready_s - work  # latest work of one more
        # where and when each queue as sequenced ends (an empty one: at its start)
        if schedule is None:
            sch = sequence_queues(
                problem, self.late, on, tech, state.lat_deg, state.lon_deg,
                state.ready_s, False,
            )  # fmt: skip
            position, finish, overrun = sch.position, sch.finish_s, sch.overrun
        else:
            position = schedule[0][on] - state.load[tech]
            finish = schedule[1][on]
            overrun = finish > k.shift_end_s[tech]
        last = np.flatnonzero(position == self.count[tech] - 1)
        self.end_lat, self.end_lon = state.lat_deg.copy(), state.lon_deg.copy()
        self.end_s = state.ready_s.copy()
        who, ends = tech[last], on[last]
        self.end_lat[who], self.end_lon[who] = t.lat_deg[ends], t.lon_deg[ends]
        self.end_s[who] = finish[last]
        over = np.bincount(tech.compress(overrun), minlength=k.count) > 0
        self.short = (self.count < EXACT_SEQUENCE_MAX) & ~over

    def append_fits(self, r: IntArray, kk: IntArray) -> BoolArray:
        """Per pair (``r[i]``, ``kk[i]``): whether the ticket finishes within the shift
        after the last stop of the technician's queue as the plan sequences it. Enough
        for the queue with it to keep the shift when it holds at most
        ``EXACT_SEQUENCE_MAX`` (the sequencing finds an order without overrun when one
        exists); False when unknown (a longer queue, the last stop without location, a
        queue overrunning). True for an empty queue: the ticket alone in it fits as the
        flow's pair rule says, first in the queue (the callers check that rule)."""
        t, k = self.problem.tickets, self.problem.technicians
        travel = travel_time_s(
            self.end_lat[kk], self.end_lon[kk], t.lat_deg[r], t.lon_deg[r],
            k.speed_kmh[kk],
        )  # fmt: skip
        start = np.maximum(self.end_s[kk] + travel, t.window_start_s[r])
        within = start + t.duration_s[r] <= k.shift_end_s[kk]
        # alone in its queue: the first-in-queue rule decides (the callers checked it)
        fits: BoolArray = (within & self.short[kk]) | (self.count[kk] == 0)
        return fits

    def may_fit(self, r: IntArray, kk: IntArray) -> BoolArray:
        """(rows, technicians): whether ticket ``r[i]`` may fit in ``kk[j]``'s queue:
        False when the queue's work with it alone (no travel, no waiting) already ends
        after the shift (``QUEUE_MARGIN_S`` of margin for the float sums, left to
        :meth:`fit`)."""
        need = self.problem.tickets.duration_s[r][:, None]
        fits: BoolArray = need <= self.latest[kk][None, :] + QUEUE_MARGIN_S
        return fits

    def fit(self, r: IntArray, kk: IntArray) -> BoolArray:
        """Per pair (``r[i]``, ``kk[i]``): the queue of ``kk[i]`` in the plan with ticket
        ``r[i]`` added, sequenced (:func:`solver.sequence.queues_overrun`, one trial
        queue per pair), does not overrun the shift."""
        state, size = self.state, self.count[kk] + 1
        pair = np.repeat(np.arange(kk.size), size)
        at = np.arange(pair.size) - np.repeat(np.cumsum(size) - size, size)
        last = at == size[pair] - 1  # the ticket tried comes after the queue's own
        tix = (
            np.where(
                last,
                r[pair],
                self.members[
                    np.minimum(self.first[kk][pair] + at, self.members.size - 1)
                ],
            )
            if self.members.size
            else r[pair]
        )
        over = queues_overrun(
            self.problem, self.late, tix, pair, state.lat_deg[kk], state.lon_deg[kk],
            state.ready_s[kk], kk,
        )  # fmt: skip
        return ~over


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
