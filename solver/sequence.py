"""Per-technician queue sequencing: minimise shift overruns, then lateness cost, then travel.

The lateness cost is what the objective charges for it: weighted late seconds plus the
per-breach step (:class:`solver.cost.LatePricing`). Without overtime a ticket that
overruns the shift is dropped to a later shift, so among the orders with the fewest
overruns the sequencing keeps the tickets of highest priority: the overruns' priority
factors (``solver.constants.PRIORITY_FACTOR``, the scale of the unassigned penalty) come
second. Counting alone, the nearer order dropped a P1 and kept a P4 as often as not; the
next shift may start after the P1's due time, where the P4 has days. Between orders equal
on both, the fewest at-risk priority factors come before travel
(``solver.constants.RISK_SHARE``: on time by too little for work that runs over).

Queues of up to ``EXACT_SEQUENCE_MAX`` tickets are sequenced exactly by enumerating every
permutation, vectorized across all technicians with the same queue length; longer queues
start from earliest-due-date order and improve by adjacent swaps (a heuristic).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from solver.compiled import table_drive
from solver.constants import (
    EXACT_SEQUENCE_MAX,
    PRIORITY_FACTOR,
    RISK_SHARE,
    SPILL_HARMLESS_S,
)
from solver.cost import memoized
from solver.geo import latitude_terms, leg_time_s, next_point, point_terms

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from solver.cost import LatePricing
    from solver.geo import Points
    from solver.model import Problem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_CHUNK_CELLS = 400_000  # technicians x permutations x queue length simulated at once

_PER_OVERRUN = float(PRIORITY_FACTOR.max())
"""What each overrun counts per stop of the order before the priority factors (:func:`_drive`:
more than the factors of a whole queue)."""

_STOPS_KEPT_PERMS = 6
"""Queues with at most this many orders (3 places) keep every order's stops in the one
drive of all orders; longer ones drive their chosen order again (cheaper than keeping
the stops of 24+ orders)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """Sequenced queues, aligned with the ``tix`` passed to :func:`sequence_queues`."""

    position: IntArray  # 0-based place among the sequenced tickets of that technician
    travel_s: FloatArray  # travel from the previous stop (or the start location)
    arrival_s: FloatArray
    start_s: FloatArray
    finish_s: FloatArray
    overrun: BoolArray  # finishes after the technician's shift end


@dataclass(frozen=True, slots=True)
class Stops:
    """What a drive reads of each ticket row (:func:`ticket_stops`): its point
    (:func:`solver.geo.point_terms`), window start, duration, response due and the due
    time of its finish (``min(resolution_due_s, window_end_s)``)."""

    phi: FloatArray
    cos_phi: FloatArray
    lon: FloatArray
    window_start_s: FloatArray
    duration_s: FloatArray
    response_due_s: FloatArray
    due_s: FloatArray


def ticket_stops(problem: Problem) -> Stops:
    """The :class:`Stops` of ``problem``'s tickets, computed once per problem
    (:func:`solver.cost.memoized`; as float64)."""
    return memoized(problem, "ticket_stops", None, lambda: _ticket_stops(problem))


def _ticket_stops(problem: Problem) -> Stops:
    t = problem.tickets
    phi, cos_phi, lon = point_terms(t.lat_deg, t.lon_deg)

    def row(x: npt.ArrayLike) -> FloatArray:
        return np.ascontiguousarray(x, np.float64)

    return Stops(
        row(phi), row(cos_phi), row(lon), row(t.window_start_s), row(t.duration_s),
        row(t.response_due_s), row(np.minimum(t.resolution_due_s, t.window_end_s)),
    )  # fmt: skip


@cache
def _perms(q: int) -> IntArray:
    return np.array(list(itertools.permutations(range(q))), dtype=np.int64).reshape(
        -1, q
    )


def simulate(
    problem: Problem,
    pricing: LatePricing,
    orders: IntArray,
    tech: IntArray,
    lat0: FloatArray,
    lon0: FloatArray,
    t0: FloatArray,
    stops: bool = True,
    at_risk: bool = True,
) -> tuple[FloatArray, ...]:
    """Drive every order (T, P, q) of tickets, row t for technician ``tech[t]`` starting at
    (``lat0[t]``, ``lon0[t]``) at ``t0[t]``: the one chained evaluation of a queue order.

    Returns (each (T, P), then (T, P, q), then (T, P)): shift overruns (counted, then
    priority factors, module docstring; 0 when none), lateness cost (``pricing``),
    travel seconds; per stop travel, arrival, start and finish; the at-risk tickets'
    priority factors (``solver.constants.RISK_SHARE``). Without ``stops`` only
    the start per stop is kept (the others are returned empty): storing them costs an
    eighth of the drive. Without ``at_risk`` the priority at risk is not computed
    (returned 0; only the sequencing's choice of order reads it): a fifth of the
    drive's array operations."""
    stop = ticket_stops(problem)
    # where the technician is: latitude terms and longitude, carried from stop to stop
    # (each stop's computed once per problem, for the legs that arrive at and leave it);
    # the start as (T, 1) columns, which the first leg broadcasts over the P orders
    phi, cos_phi = (x[:, None] for x in latitude_terms(lat0))
    at: list[Points] = [(phi, cos_phi, np.asarray(lon0)[:, None])]
    speed = problem.technicians.speed_kmh[tech][:, None]

    def leg(_: int, tk: IntArray) -> FloatArray:
        to: Points = (stop.phi.take(tk), stop.cos_phi.take(tk), stop.lon.take(tk))
        tt = leg_time_s(at[0], to, speed)
        at[0] = next_point(at[0], to)
        return tt

    return _drive(
        problem, stop, pricing, orders.shape, tech, t0, stops,
        lambda s: np.ascontiguousarray(orders[:, :, s]), leg, at_risk,
    )  # fmt: skip


def simulate_local(
    problem: Problem,
    pricing: LatePricing,
    base: IntArray,
    pattern: IntArray,
    tech: IntArray,
    lat0: FloatArray,
    lon0: FloatArray,
    t0: FloatArray,
    stops: bool = True,
    legs: tuple[FloatArray, IntArray] | None = None,
    at_risk: bool = True,
) -> tuple[FloatArray, ...]:
    """:func:`simulate` of the orders ``orders[t, p] = base[t, pattern[p]]`` (``pattern``
    (P, q) shared by the rows, or (T, P, q) per row): every order of row t is made of the
    tickets ``base[t]`` (T, L), e.g. all permutations of a queue. The same arrays bit for
    bit. When every ticket of ``base`` has a location, each row's legs are computed
    once (:func:`row_legs`: L(L+1)/2 per row instead of P x q) and the orders driven
    from them in one compiled loop (:func:`solver.compiled.table_drive`), else the
    orders are driven as :func:`simulate` drives them. ``legs``: the :func:`row_legs` of ``base`` when the
    caller has them (every ticket of ``base`` has a location), e.g. for the many drives
    of one queue's descent."""
    stop = ticket_stops(problem)
    rows = base.shape[0]
    # legs start at the last located stop
    if legs is None and np.isnan(stop.phi.take(base)).any():
        if pattern.ndim == 2:
            orders = base[:, pattern]
        else:
            orders = np.take_along_axis(base[:, None, :], pattern, axis=2)
        return simulate(problem, pricing, orders, tech, lat0, lon0, t0, stops, at_risk)
    table, column = row_legs(problem, base, tech, lat0, lon0) if legs is None else legs
    shape3 = (rows, *pattern.shape[-2:])
    shape = shape3[:2]
    late, travel, overrun, risk = (np.zeros(shape) for _ in range(4))
    st_all = np.empty(shape3)
    tt_all, arr_all, fin_all = (
        np.empty(shape3 if stops else (0, 0, 0)) for _ in range(3)
    )
    table_drive(
        np.asarray(base, np.int64), np.asarray(pattern, np.int64).reshape(-1, *shape3[1:]),
        pattern.ndim == 2, table, column, np.asarray(t0, np.float64),
        problem.technicians.shift_end_s[tech].astype(np.float64), stop.window_start_s,
        stop.duration_s, stop.response_due_s, stop.due_s,
        np.asarray(pricing.per_second, np.float64),
        np.asarray(pricing.per_breach, np.float64), overrun_weights(problem),
        _PER_OVERRUN * shape3[2] + 1.0, RISK_SHARE, SPILL_HARMLESS_S, stops, at_risk,
        overrun, late, travel, risk, tt_all, arr_all, st_all, fin_all,
    )  # fmt: skip
    return overrun, late, travel, tt_all, arr_all, st_all, fin_all, risk


def overrun_weights(problem: Problem) -> FloatArray:
    """Per ticket row, its priority factor (``solver.constants.PRIORITY_FACTOR``): what
    an overrun of it weighs in the sequencing's key (:func:`_drive`), computed once per
    problem (:func:`solver.cost.memoized`)."""
    return memoized(
        problem, "overrun_weights", None,
        lambda: np.ascontiguousarray(PRIORITY_FACTOR.take(problem.tickets.priority)),
    )  # fmt: skip


def row_legs(
    problem: Problem,
    base: IntArray,
    tech: IntArray,
    lat0: FloatArray,
    lon0: FloatArray,
) -> tuple[FloatArray, IntArray]:
    """The legs each row t of tickets ``base`` (T, L) may drive for technician
    ``tech[t]``, from its start (``lat0[t]``, ``lon0[t]``) to each of its tickets and
    between each two of them, as :func:`simulate` drives them
    (:func:`solver.geo.leg_time_s`): travel seconds (T, K), and the column (L + 1, L) of
    the leg from its start (origin 0) or its ticket i (origin 1 + i) to its ticket j. A
    leg and its reverse are equal bit for bit (the haversine of the same two ends), so
    each pair of tickets takes one column; a ticket's leg to itself is 0, the last
    column."""
    stop = ticket_stops(problem)
    rows, size = base.shape
    a, b = _ticket_pairs(size)
    column = leg_columns(size)
    here: Points = (stop.phi.take(base), stop.cos_phi.take(base), stop.lon.take(base))
    phi0, cos0 = latitude_terms(lat0)
    start = (phi0[:, None], cos0[:, None], np.asarray(lon0, np.float64)[:, None])
    speed = problem.technicians.speed_kmh[tech][:, None]
    legs = np.zeros((rows, size + a.size + 1))
    legs[:, :size] = leg_time_s(start, here, speed)
    if a.size:
        legs[:, size:-1] = leg_time_s(
            (here[0][:, a], here[1][:, a], here[2][:, a]),
            (here[0][:, b], here[1][:, b], here[2][:, b]),
            speed,
        )
    return legs, column


@cache
def _ticket_pairs(size: int) -> tuple[IntArray, IntArray]:
    """``numpy.triu_indices(size, 1)``, once per size (read-only: shared)."""
    a, b = np.triu_indices(size, 1)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


@cache
def leg_columns(size: int) -> IntArray:
    """The column (size + 1, size) of :func:`row_legs`' table for rows of ``size``
    tickets: the leg from the start (origin 0) or ticket i (origin 1 + i) to ticket j;
    the pairs of tickets in :func:`numpy.triu_indices` order after the ``size`` legs
    from the start, then the 0 of a ticket to itself (read-only: shared)."""
    a, b = _ticket_pairs(size)
    column = np.full((size + 1, size), size + a.size, np.int64)
    column[0] = np.arange(size)
    column[a + 1, b] = column[b + 1, a] = size + np.arange(a.size)
    column.setflags(write=False)
    return column


def legs_to(
    problem: Problem,
    base: IntArray,
    new: IntArray,
    tech: IntArray,
    lat0: FloatArray,
    lon0: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """The legs of row t to ticket ``new[t]``, as :func:`row_legs` drives them for the
    row ``base[t]`` with ``new[t]`` appended, bit for bit: from its start (T,) and from
    each of its tickets ``base[t]`` (T, q), for technician ``tech[t]`` starting at
    (``lat0[t]``, ``lon0[t]``)."""
    stop = ticket_stops(problem)
    here: Points = (stop.phi.take(base), stop.cos_phi.take(base), stop.lon.take(base))
    to: Points = (stop.phi.take(new), stop.cos_phi.take(new), stop.lon.take(new))
    phi0, cos0 = latitude_terms(lat0)
    speed = problem.technicians.speed_kmh[tech]
    start = leg_time_s((phi0, cos0, np.asarray(lon0, np.float64)), to, speed)
    column: Points = (to[0][:, None], to[1][:, None], to[2][:, None])
    return start, leg_time_s(here, column, speed[:, None])


def _drive(
    problem: Problem,
    stop: Stops,
    pricing: LatePricing,
    shape3: tuple[int, ...],
    tech: IntArray,
    t0: FloatArray,
    stops: bool,
    index: Callable[[int], IntArray],
    leg: Callable[[int, IntArray], FloatArray],
    at_risk: bool = True,
) -> tuple[FloatArray, ...]:
    """The drive of :func:`simulate` (its returns) of orders of shape ``shape3``: at
    stop s the orders reach the entries ``index(s)`` (T, P) of ``stop`` and ``pricing``
    by legs of ``leg(s, index(s))`` seconds (which moves the technicians' points on).
    Without ``at_risk`` the priority at risk is not computed (returned 0)."""
    shape = shape3[:2]
    now = np.asarray(t0)[:, None]  # broadcast over the orders by the first leg
    shift_end = problem.technicians.shift_end_s[tech][:, None]
    # fewest overruns first, then the least priority factors: each overrun counts more
    # than the factors of a whole queue (small integers: the sums are exact)
    overrun_weight = PRIORITY_FACTOR.take(problem.tickets.priority)
    per_overrun = PRIORITY_FACTOR.max() * shape3[2] + 1.0
    late = np.zeros(shape)
    travel = np.zeros(shape)
    overrun = np.zeros(shape)
    risk = np.zeros(shape)
    work = np.zeros(shape)  # estimated work before the stop, from the queue's start
    st_all = np.empty(shape3)
    tt_all, arr_all, fin_all = (
        np.empty(shape3 if stops else (0, 0, 0)) for _ in range(3)
    )
    for s in range(shape3[2]):
        tk = index(s)
        tt = leg(s, tk)
        arr = now + tt
        if stops:
            tt_all[:, :, s], arr_all[:, :, s] = tt, arr
        st = np.maximum(arr, stop.window_start_s.take(tk), out=arr)
        duration = stop.duration_s.take(tk)
        response_due = stop.response_due_s.take(tk)
        due = stop.due_s.take(tk)
        weight = overrun_weight.take(tk)
        fin = st + duration
        late_s = np.maximum(st - response_due, 0.0)
        late_s += np.maximum(fin - due, 0.0)
        late += pricing.cost(tk, late_s)
        travel += tt
        overrun += (fin > shift_end) * (weight + per_overrun)
        if at_risk:
            late_start = st + RISK_SHARE * work > response_due
            work = work + duration
            # the shift end threatens only a ticket a later shift would serve late
            spill_end = np.where(
                np.minimum(response_due, due) < shift_end + SPILL_HARMLESS_S,
                shift_end,
                np.inf,
            )
            late_finish = fin + RISK_SHARE * work > np.minimum(due, spill_end)
            risk += (late_start | late_finish) * weight
        st_all[:, :, s] = st
        if stops:
            fin_all[:, :, s] = fin
        now = fin
    return overrun, late, travel, tt_all, arr_all, st_all, fin_all, risk


def _pick(drive: tuple[FloatArray, ...]) -> IntArray:
    """Per row of a drive (:func:`simulate`'s returns), the lexicographically best
    column: fewest overruns (then least priority overrunning), least lateness cost,
    least priority at risk, least travel."""
    overrun, late, travel, risk = drive[0], drive[1], drive[2], drive[7]
    # sums of small integers (_drive): exact, so equal overruns compare equal
    mask = overrun == overrun.min(axis=1, keepdims=True)
    lt = np.where(mask, late, np.inf)
    best = lt.min(axis=1, keepdims=True)
    mask &= lt <= best + 1e-9 * np.maximum(1.0, np.abs(best))
    rk = np.where(mask, risk, np.inf)  # sums of small integers: exact
    mask &= rk == rk.min(axis=1, keepdims=True)
    return np.asarray(np.argmin(np.where(mask, travel, np.inf), axis=1), dtype=np.int64)


def sequence_queues(
    problem: Problem,
    pricing: LatePricing,
    tix: IntArray,
    tech: IntArray,
    start_lat: FloatArray,
    start_lon: FloatArray,
    start_s: FloatArray,
    allow_overtime: bool,
) -> Schedule:
    """Order each technician's tickets and predict arrival, start and finish.

    Parameters
    ----------
    problem
        The instance.
    pricing
        Per ticket row, the weight per late second and per breach
        (:func:`solver.cost.late_pricing`).
    tix, tech
        The tickets to sequence and their technicians (equal length).
    start_lat, start_lon, start_s
        Per technician row: where and when its sequenced queue begins.
    allow_overtime
        When False, shift overruns are reported (they count first in the ordering key
        either way).

    Returns
    -------
    Schedule
        Arrays aligned with ``tix`` (read-only: the last call's schedule is kept in
        ``Problem.memo`` and returned again for the same queues).
    """
    # One solve sequences the same plan's queues in several phases (position rounds,
    # polish, finalize): the last call's schedule is kept per problem, keyed by what it
    # reads (the queues, their technicians' starts and the tickets' pricing; the rest is
    # the problem's). The order does not depend on ``allow_overtime`` (overruns count
    # first either way, ``_pick``): only the reported overruns do. No queue: nothing to
    # keep (the kept schedule stays).
    if tix.size == 0:
        return _sequence_queues(
            problem, pricing, tix, tech, start_lat, start_lon, start_s
        )
    starts = (start_lat, start_lon, start_s)
    prices = (pricing.per_second, pricing.per_breach)
    key = (
        tix.dtype.str, tix.tobytes(), tech.dtype.str, tech.tobytes(),
        *(np.asarray(a, np.float64)[tech].tobytes() for a in starts),
        *(np.asarray(a, np.float64)[tix].tobytes() for a in prices),
    )  # fmt: skip
    sch: Schedule = memoized(
        problem, "sequence_queues", key,
        lambda: _sequence_queues(problem, pricing, tix, tech, *starts),
    )  # fmt: skip
    if allow_overtime:
        return dataclasses.replace(sch, overrun=np.zeros(tix.size, np.bool_))
    return sch


def _sequence_queues(
    problem: Problem,
    pricing: LatePricing,
    tix: IntArray,
    tech: IntArray,
    start_lat: FloatArray,
    start_lon: FloatArray,
    start_s: FloatArray,
) -> Schedule:
    """:func:`sequence_queues` computed, every overrun reported."""
    r = tix.size
    pos = np.full(r, -1, np.int64)
    out = {name: np.full(r, np.nan) for name in ("tt", "arr", "st", "fin")}
    overrun_out = np.zeros(r, np.bool_)
    order = np.lexsort((tix, tech))
    for q, perms, tc, bc, sc in _queues(tix[order], tech[order]):
        args = (tc, start_lat[tc], start_lon[tc], start_s[tc])
        if perms is not None and perms.shape[0] <= _STOPS_KEPT_PERMS:
            # one drive: the chosen order's stops as driven among the others
            drive = simulate_local(problem, pricing, bc, perms, *args)
            pick = _pick(drive)
            best_perm = perms[pick]
            chosen = np.arange(pick.size), pick
            tt, arr, st, fin = (x[chosen][:, None] for x in drive[3:7])
        else:
            if perms is not None:
                drive = simulate_local(problem, pricing, bc, perms, *args, False)
                best_perm = perms[_pick(drive)]
            else:
                best_perm = _descent(problem, pricing, bc, args)
            ordered = np.take_along_axis(bc, best_perm, axis=1)[:, None, :]
            _, _, _, tt, arr, st, fin, _ = simulate(
                problem, pricing, ordered, *args, at_risk=False
            )
        # (T, q) original indices in sequence order
        dest = order[sc[:, None] + best_perm]
        pos[dest] = np.arange(q)[None, :]
        out["tt"][dest], out["arr"][dest] = tt[:, 0], arr[:, 0]
        out["st"][dest], out["fin"][dest] = st[:, 0], fin[:, 0]
        overrun_out[dest] = fin[:, 0] > problem.technicians.shift_end_s[tc][:, None]
    return Schedule(pos, out["tt"], out["arr"], out["st"], out["fin"], overrun_out)


def queues_overrun(
    problem: Problem,
    pricing: LatePricing,
    tix: IntArray,
    tech: IntArray,
    start_lat: FloatArray,
    start_lon: FloatArray,
    start_s: FloatArray,
    queue_tech: IntArray | None = None,
) -> BoolArray:
    """Per technician row, whether its queue of ``tix`` (technicians ``tech``), sequenced
    without overtime, overruns the shift: ``sequence_queues(..., False).overrun`` of
    some of its tickets (arguments as there), without building the schedule. The
    sequencing puts the fewest overruns first, so a queue of at most
    ``EXACT_SEQUENCE_MAX`` overruns when every order of it does.

    ``queue_tech``: ``tech`` (and the start arrays' index) numbers queues, not
    technicians, and this is each queue's technician row (its speed and shift end):
    several trial queues of one technician in one call."""
    over = np.zeros(start_s.size, np.bool_)
    order = np.lexsort((tix, tech))
    for _, perms, tc, bc, _ in _queues(tix[order], tech[order]):
        who = tc if queue_tech is None else queue_tech[tc]
        args = (who, start_lat[tc], start_lon[tc], start_s[tc])
        if perms is not None:
            ov = simulate_local(
                problem, pricing, bc, perms, *args, False, at_risk=False
            )[0]
            over[tc] = ov.min(axis=1) > 0
        else:
            best_perm = _descent(problem, pricing, bc, args)
            ordered = np.take_along_axis(bc, best_perm, axis=1)[:, None, :]
            ov = simulate(problem, pricing, ordered, *args, False, at_risk=False)[0]
            over[tc] = ov[:, 0] > 0
    return over


def _queues(
    tix: IntArray, tech: IntArray
) -> Iterator[tuple[int, IntArray | None, IntArray, IntArray, IntArray]]:
    """The queues of ``tix`` (sorted by technician ``tech``) in chunks of equal length q:
    (q, every order of q places or None when q exceeds ``EXACT_SEQUENCE_MAX``, the
    chunk's technicians, their tickets (T, q) in row order, where each queue starts in
    ``tix``)."""
    uniq, first, counts = np.unique(tech, return_index=True, return_counts=True)
    for q in np.unique(counts).tolist():
        sel = counts == q
        techs, starts = uniq[sel], first[sel]
        base = tix[starts[:, None] + np.arange(q)]  # (T, q) tickets in row order
        perms = _perms(q) if q <= EXACT_SEQUENCE_MAX else None
        step = max(
            1, _CHUNK_CELLS // (q * (perms.shape[0] if perms is not None else 2))
        )
        for c in range(0, techs.size, step):
            end = c + step
            yield q, perms, techs[c:end], base[c:end], starts[c:end]


def _descent(
    problem: Problem,
    pricing: LatePricing,
    base: IntArray,
    args: tuple[IntArray, FloatArray, FloatArray, FloatArray],
) -> IntArray:
    """Long queues: earliest-due-date order, then adjacent-swap descent (vectorized)."""
    t = problem.tickets
    key = np.minimum(
        t.response_due_s, np.minimum(t.resolution_due_s, t.window_end_s) - t.duration_s
    )
    perm = np.argsort(key[base], axis=1, kind="stable").astype(np.int64)
    q = base.shape[1]
    rows = np.arange(base.shape[0])
    located = not np.isnan(ticket_stops(problem).phi.take(base)).any()
    legs = row_legs(problem, base, *args[:3]) if located else None  # once, every step
    for _ in range(q):
        improved = False
        for s in range(q - 1):
            swapped = perm.copy()
            swapped[:, [s, s + 1]] = perm[:, [s + 1, s]]
            both = np.stack([perm, swapped], axis=1)  # (T, 2, q)
            drive = simulate_local(problem, pricing, base, both, *args, False, legs)
            pick = _pick(drive)
            improved |= bool(pick.any())
            perm = both[rows, pick]
        if not improved:
            break
    return perm
