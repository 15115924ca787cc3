"""Optimality certificate of the sparse flow: price every pruned pair against dual prices.

The exact core solves the assignment over the candidate arcs only. Its answer is optimal
over *all* (ticket, technician) pairs exactly when no pruned pair has a negative reduced
cost against some feasible node potentials of the optimal flow. OR-Tools does not expose
its potentials, so :func:`potentials` computes them from the flow: shortest distances to
the sink in the residual network (label correcting, vectorized; the network restricted to
technicians and assigned tickets is small), and the unassigned tickets' own penalties.

:func:`negative_pairs` then prices every (movable ticket, technician with a free place)
pair with the required skills that is not an arc yet: first against a lower bound of the
pair's cost (waiting since the technician is ready plus travel over the chord distance,
which never exceeds the great-circle one, plus the lateness of that earliest start), each
ticket against compact spatial blocks of technicians (with many technicians, blocks of
alike tickets against them first), then pair by pair in the blocks it may reach, and
finally the few survivors exactly with :func:`solver.cost.evaluate_pairs`. The caller adds
the pairs found, re-solves, and repeats until none remains.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from solver.compiled import compiled
from solver.constants import COST_SCALE, EARTH_RADIUS_KM, ROAD_FACTOR
from solver.cost import (
    drop_penalty,
    evaluate_pairs,
    late_pricing,
    pair_keys,
    state_vectors,
    to_scaled,
)
from solver.geo import unit_vectors
from solver.ordering import distinct, stable_order
from solver.spatial import block_order

if TYPE_CHECKING:
    from solver.cost import TechState
    from solver.model import CostWeights, Problem, SolveParams

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

TECH_BLOCK = 16
"""Technicians per spatial block of the pricing: (ticket, block) bounds first, pairs after."""

TICKET_BLOCK = 16
"""Tickets per block of the pricing (alike in place and potential, :func:`_ticket_blocks`):
with ``TICKET_BLOCKS_FROM`` technician blocks or more to price against, (ticket block,
technician block) bounds come before the (ticket, technician block) ones."""

TICKET_BLOCKS_FROM = 128
"""Fewer technician blocks than this: each ticket is bounded against each block
directly (the ticket blocks cost more than they save)."""

LEVELS = 8
"""Classes of ticket potential (by rank) whose tickets are blocked apart: a block's
bound uses its largest threshold, so mixing potentials would make it loose."""

CHORD_ROUNDING = 1e-7
"""A chord from the dot product of unit vectors, sqrt(2 - 2 dot), carries float64 rounding
of up to ~2e-8 near 0 (equal points); pair bounds use the chord less this (0.6 m), so the
rounding never lifts a bound above the cost (at 1.3e8 scaled units per chord unit, 2e-8
would exceed the bounds' margin of 1)."""

PAIR_CELLS = 2_000_000
"""Most (ticket, technician) bound cells or exact evaluations held at once (bounds memory),
per pricing thread."""

PRICING_THREADS = 2
"""Threads pricing the skill groups of :func:`negative_pairs` side by side (numpy releases
the GIL in its array loops; the result does not depend on it: the pairs come sorted)."""

THREADED_FROM = 4_000_000
"""Fewest (ticket, technician) pairs of the groups for which the pricing starts its
threads: starting them costs ~1 ms of CPU (and more wall under load), more than a small
pricing (e.g. an incremental solve's few rows) gains from them."""


@dataclass(frozen=True, slots=True)
class PairBound:
    """Lower bound of a (ticket, technician) pair's scaled cost from the chord between
    them: waiting until the technician is ready (``base``) plus travel and waiting over
    the chord at its speed (``slope`` per chord unit), plus the lateness of that earliest
    start, plus the stability term of a pair that moves a held ticket (a held, unpinned
    ticket and a technician other than its holder: the term as
    :func:`solver.cost.static_terms` charges it). The chord never exceeds the great-circle
    distance, and the terms left out (breach step, skill surplus:
    :func:`solver.cost.terms_at`) are >= 0, so it never exceeds
    :func:`solver.cost.evaluate_pairs`' cost; only the preference bonus is < 0 (the
    pricing adds it to its thresholds). Per technician and ticket row.

    Most of the pairs the chord bound lets through are such moves (50k x 5k: 75-85% of
    those evaluated exactly), which the stability term (15 minutes of travel at the
    default weights) puts out of reach."""

    base: FloatArray  # scaled waiting until ready, per technician
    slope: FloatArray  # scaled travel and waiting per chord unit, per technician
    travel_per_chord: float  # travel seconds per chord unit at 1 km/h
    speed_kmh: FloatArray  # per technician
    ready_s: FloatArray  # per technician
    late_w: FloatArray  # lateness weight (weight units per second), per ticket
    resp: FloatArray  # response due, per ticket
    dur: FloatArray  # work duration, per ticket
    due: FloatArray  # resolution due or window end, the earlier, per ticket
    holder: IntArray  # holding technician per ticket, -1 when none or pinned
    stability: float  # scaled stability term of a pair that moves a held ticket

    @classmethod
    def of(cls, problem: Problem, weights: CostWeights, state: TechState) -> PairBound:
        """The terms of ``problem``'s rows with the technicians in ``state``."""
        w, k, t = weights, problem.technicians, problem.tickets
        travel_per_chord = EARTH_RADIUS_KM * ROAD_FACTOR * 3600.0
        return cls(
            COST_SCALE * w.waiting * (state.ready_s - problem.now_s),
            COST_SCALE * (w.travel + w.waiting) * EARTH_RADIUS_KM * ROAD_FACTOR
            * 3600.0 / k.speed_kmh,
            travel_per_chord, k.speed_kmh, state.ready_s,
            late_pricing(problem, w).per_second, t.response_due_s, t.duration_s,
            np.minimum(t.resolution_due_s, t.window_end_s),
            np.where(t.pinned, -1, t.current_technician), COST_SCALE * w.stability,
        )  # fmt: skip

    def at(self, tix: IntArray, tech: IntArray, chord: FloatArray) -> FloatArray:
        """The bound of the pairs (``tix``, ``tech``) ``chord`` apart (unit sphere)."""
        start = self.ready_s[tech] + chord * (
            self.travel_per_chord / self.speed_kmh[tech]
        )
        late = self.late_w[tix] * (
            np.maximum(start - self.resp[tix], 0.0)
            + np.maximum(start + self.dur[tix] - self.due[tix], 0.0)
        )
        bound = chord * self.slope[tech] + self.base[tech] + COST_SCALE * late
        holder = self.holder[tix]
        return np.asarray(bound + self.stability * ((holder >= 0) & (holder != tech)))

    def passes(
        self,
        tix: IntArray,
        tech: IntArray,
        chord: FloatArray,
        d_tech: FloatArray,
        cut: FloatArray,
        pen: FloatArray,
    ) -> BoolArray:
        """Per pair, whether its bound (:meth:`at`) plus its technician's potential
        ``d_tech`` is below ``cut`` and the bound below ``pen`` (per pair): one compiled
        loop (:func:`_bound_passes`), no temporaries."""
        ok: BoolArray = _bound_passes(
            tix, tech, chord, self.ready_s, self.speed_kmh, self.late_w, self.resp,
            self.dur, self.due, self.slope, self.base, self.holder, d_tech, cut, pen,
            self.travel_per_chord, self.stability, float(COST_SCALE),
        )  # fmt: skip
        return ok


@compiled()
def _bound_passes(
    tix: IntArray,
    tech: IntArray,
    chord: FloatArray,
    ready_s: FloatArray,
    speed_kmh: FloatArray,
    late_w: FloatArray,
    resp: FloatArray,
    dur: FloatArray,
    due: FloatArray,
    slope: FloatArray,
    base: FloatArray,
    holder: IntArray,
    d_tech: FloatArray,
    cut: FloatArray,
    pen: FloatArray,
    travel_per_chord: float,
    stability: float,
    scale: float,
) -> BoolArray:
    """:meth:`PairBound.at` of each pair and the two thresholds of
    :meth:`PairBound.passes`, bit for bit (the same IEEE operations in the same order,
    no ``fastmath``)."""
    out = np.empty(tix.size, np.bool_)
    for p in range(tix.size):
        t, k, c = tix[p], tech[p], chord[p]
        start = ready_s[k] + c * (travel_per_chord / speed_kmh[k])
        late = late_w[t] * (
            max(start - resp[t], 0.0) + max(start + dur[t] - due[t], 0.0)
        )
        bound = c * slope[k] + base[k] + scale * late
        h = holder[t]
        bound = bound + stability * (1.0 if (h >= 0 and h != k) else 0.0)
        out[p] = bound + d_tech[k] < cut[p] and bound < pen[p]
    return out


PairPrice = Callable[[IntArray, IntArray], tuple[FloatArray, BoolArray]]
"""The cost (weight units) and feasibility of (ticket rows, technician rows) pairs in a
flow that :func:`negative_pairs` certifies."""


def later_ready(
    state: TechState,
    speed_kmh: FloatArray,
    ready_at: FloatArray,
    lat_at: FloatArray,
    lon_at: FloatArray,
) -> FloatArray:
    """Per technician, a ready time for :class:`PairBound` (as ``state.ready_s``) that
    bounds pairs whose work starts after ``ready_at`` and a leg from (``lat_at``,
    ``lon_at``), their travel still priced from ``state``'s location (the position
    rounds' places, :func:`solver.position.place_starts`): ``ready_at`` less the travel
    over the chord between the two locations (plus ``CHORD_ROUNDING``), never before
    ``state.ready_s``. By the triangle inequality a leg from there is at least the chord
    from ``state``'s location less that chord, so such a start is never before this ready
    time plus the bound's travel."""
    here = state_vectors(state)
    chord = np.linalg.norm(here - unit_vectors(lat_at, lon_at), axis=1)
    travel_per_chord = EARTH_RADIUS_KM * ROAD_FACTOR * 3600.0
    lead = (chord + CHORD_ROUNDING) * travel_per_chord / speed_kmh
    return np.asarray(np.maximum(state.ready_s, ready_at - lead))


@dataclass(frozen=True, slots=True)
class Certificate:
    """How the optimality of the flow over all pairs was proven."""

    rounds: int  # pricing rounds (the last one found no negative pair)
    pairs_priced: int  # (ticket, technician) pairs checked, by bound or exactly
    pairs_evaluated: int  # of those, evaluated exactly
    arcs_added: int  # pairs with a negative reduced cost added to the candidate arcs
    certified: bool  # False: the potentials did not converge (left unproven)


def potentials(
    n: int,
    arc_tix: IntArray,
    arc_tech: IntArray,
    arc_cost: IntArray,
    used: BoolArray,
    penalty: IntArray,
    free: IntArray,
    load: IntArray,
    balance_scaled: float,
) -> tuple[FloatArray, FloatArray] | None:
    """Node potentials (ticket, technician) of an optimal flow, or None if not optimal.

    Reduced costs ``cost + pot_tech - pot_ticket`` are >= 0 on every residual arc. Computed
    as distances to the sink in the residual network: a technician reaches it through its
    first free place or back through a ticket it holds; an assigned ticket through its
    unassigned arc or another technician. An unassigned ticket takes its penalty (the
    smallest valid value, so the fewest pairs look improving). float64 is exact here:
    scaled costs are integers far below 2**53, so the distances do not depend on the
    order in which they are found.

    Label correcting from the first free places and the held tickets' penalties, one
    round per hop: each round relaxes only the arcs into the technicians whose distance
    fell in the round before, then the arcs of the tickets that improved (50k x 5k: every
    arc in the first round, a seventh of them by the tenth, ~1M relaxations over ~80 rounds
    where relaxing every arc every round made ~14M), in one compiled loop (:func:`_lowered`).
    A negative cycle (the flow is not optimal) keeps distances falling past ``n + m + 2``
    rounds: None.
    """
    m = free.size
    u_tix, u_tech, u_cost = arc_tix[used], arc_tech[used], arc_cost[used]
    count = np.bincount(u_tech, minlength=m)
    first_free = np.rint(balance_scaled * (load + count)).astype(np.float64)
    pen = penalty.astype(np.float64)
    d_tech = np.where(count < free, first_free, np.inf)
    np.minimum.at(d_tech, u_tech, pen[u_tix] - u_cost)
    holder = np.zeros(n, np.int64)  # of the assigned tickets: technician, arc cost
    holder[u_tix] = u_tech
    held_cost = np.zeros(n)
    held_cost[u_tix] = u_cost
    assigned = np.zeros(n, np.bool_)
    assigned[u_tix] = True
    other = np.flatnonzero(assigned[arc_tix] & ~used)
    other = other[stable_order(arc_tech[other])]  # by technician
    o_tix, o_cost = arc_tix[other], arc_cost[other].astype(np.float64)
    o_end = np.cumsum(np.bincount(arc_tech[other], minlength=m))
    o_start = np.r_[0, o_end[:-1]]
    d_ticket = pen.copy()
    fell = np.flatnonzero(np.isfinite(d_tech))
    if not _lowered(
        d_tech, d_ticket, fell, o_start, o_end, o_tix, o_cost, holder, held_cost,
        n + m + 2,
    ):  # fmt: skip
        return None
    # Lowest valid ticket potentials for these technician potentials: an assigned
    # ticket's arc is tight (fewer pairs look improving).
    d_ticket = pen.copy()
    d_ticket[u_tix] = u_cost + d_tech[u_tech]
    return d_ticket, d_tech


@compiled()
def _lowered(
    d_tech: FloatArray,
    d_ticket: FloatArray,
    fell: IntArray,
    o_start: IntArray,
    o_end: IntArray,
    o_tix: IntArray,
    o_cost: FloatArray,
    holder: IntArray,
    held_cost: FloatArray,
    rounds: int,
) -> bool:
    """:func:`potentials`' label correcting, in place: from the technicians ``fell``,
    each round relaxes the arcs (``o_start[k]:o_end[k]`` of ``o_tix``, ``o_cost``) of the
    technicians whose distance fell, a ticket's improvement passing on to its holder at
    once. False when distances still fall after ``rounds`` rounds (a negative cycle).
    The distances are integers in float64, exact in any order: the same fixpoint as
    numpy's round-by-round relaxation (which took 24 ms of a 10k x 1k solve)."""
    m = d_tech.size
    active = np.zeros(m, np.bool_)
    for k in fell:
        active[k] = True
    later = np.zeros(m, np.bool_)
    for _ in range(rounds):
        moved = False
        for k in range(m):
            if not active[k]:
                continue
            dk = d_tech[k]
            for arc in range(o_start[k], o_end[k]):
                t = o_tix[arc]
                via = o_cost[arc] + dk
                if via < d_ticket[t]:
                    d_ticket[t] = via
                    h = holder[t]
                    back = via - held_cost[t]
                    if back < d_tech[h]:
                        d_tech[h] = back
                        later[h] = True
                        moved = True
        if not moved:
            return True
        active, later = later, active
        later[:] = False
    return False


def _blocks(points: FloatArray, size: int) -> tuple[IntArray, FloatArray, FloatArray]:
    """Block order of unit vectors (:func:`solver.spatial.block_order`), block centres
    and radii (infinite for a block holding a point without location)."""
    order = block_order(points, size)
    nb = -(-order.size // size)
    pad = np.full(nb * size, order[-1], np.int64)
    pad[: order.size] = order
    pts = points[pad].reshape(nb, size, 3)
    centre = pts.mean(axis=1)
    radius = np.linalg.norm(pts - centre[:, None, :], axis=2).max(axis=1)
    # a point without location (the zero vector, solver.geo) is 0 away from everything:
    # its block's bound must not count any distance
    nowhere = np.any(np.all(pts == 0.0, axis=2), axis=1)
    return order, centre, np.where(nowhere, np.inf, radius)


@dataclass(frozen=True, slots=True)
class PricingGroup:
    """One skill group ready to price: its tickets, its technicians in spatial blocks."""

    rows: IntArray  # ticket rows
    elig: IntArray  # technician rows, in block order (blocks of TECH_BLOCK)
    centre: FloatArray  # (3, blocks) block centres (unit-sphere coordinates)
    radius: FloatArray  # (blocks,) block radii (inf: a technician without location)


def pricing_groups(
    state: TechState, groups: list[tuple[IntArray, IntArray]]
) -> list[PricingGroup]:
    """The (ticket rows, technician rows) ``groups`` with their technicians in compact
    spatial blocks: built once per solve, priced every round."""
    kvec = state_vectors(state)
    out = []
    for rows, elig in groups:
        if rows.size and elig.size:
            order, centre, radius = _blocks(kvec[elig], TECH_BLOCK)
            out.append(PricingGroup(rows, elig[order], centre.T.copy(), radius))
    return out


@dataclass(frozen=True, slots=True)
class _BlockedTechs:
    """A pricing group's technicians as (blocks, ``TECH_BLOCK``) tables, the last block
    padded with technicians no ticket passes (potential moved by +inf): what each pair
    of a passing (ticket, technician block) cell reads, one contiguous row per block."""

    tech: IntArray  # technician row (padding: the last one)
    xyz: tuple[FloatArray, ...]  # unit-sphere coordinates
    slope: FloatArray  # scaled cost per chord unit
    dt: FloatArray  # scaled waiting until ready + potential
    moved: FloatArray  # how far the potential moved (:func:`_moved`)
    located: BoolArray

    @classmethod
    def of(
        cls,
        elig: IntArray,
        k_xyz: tuple[FloatArray, ...],
        slope: FloatArray,
        dt_k: FloatArray,
        moved_k: FloatArray,
        located_k: BoolArray,
    ) -> _BlockedTechs:
        """The technicians ``elig`` (in block order) of the per-technician arrays."""
        kb = TECH_BLOCK
        nb = -(-elig.size // kb)
        pad = np.full(nb * kb, elig[-1], np.int64)
        pad[: elig.size] = elig
        moved = moved_k[pad]
        moved[elig.size :] = np.inf

        def table(x: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return x[pad].reshape(nb, kb)

        return cls(
            pad.reshape(nb, kb), tuple(table(x) for x in k_xyz), table(slope),
            table(dt_k), moved.reshape(nb, kb), table(located_k),
        )  # fmt: skip

    def near(
        self,
        tt: _TicketTerms,
        moved_t: FloatArray,
        r: IntArray,
        cut_t: FloatArray,
        ii: IntArray,
        blk: IntArray,
        everywhere: bool,
    ) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
        """Of the cells (ticket ``r[ii]``, technician block ``blk``), each pair whose
        ticket's potential rose more than its technician's and whose bound without
        lateness passes the ticket's cut (``cut_t[ii]``): (ticket, technician, chord
        less ``CHORD_ROUNDING``, floored at 0, index into ``r``), cell by cell, each
        block's technicians in order. The chord is :func:`_chords`' (the same
        operations), on one (cells, ``TECH_BLOCK``) table per step."""
        t = r[ii]
        x, k = tt.xyz, self.xyz
        pairs: tuple[IntArray, IntArray, FloatArray, IntArray] = _near_pairs(
            t, ii, blk, x[0], x[1], x[2], tt.located, moved_t, cut_t,
            k[0], k[1], k[2], self.located, self.moved, self.slope, self.dt,
            self.tech, everywhere, CHORD_ROUNDING,
        )  # fmt: skip
        return pairs


@compiled()
def _near_pairs(
    t: IntArray,
    ii: IntArray,
    blk: IntArray,
    tx: FloatArray,
    ty: FloatArray,
    tz: FloatArray,
    t_located: BoolArray,
    moved_t: FloatArray,
    cut_t: FloatArray,
    kx: FloatArray,
    ky: FloatArray,
    kz: FloatArray,
    k_located: BoolArray,
    moved_k: FloatArray,
    slope: FloatArray,
    dt: FloatArray,
    tech: IntArray,
    everywhere: bool,
    rounding: float,
) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
    """:meth:`_BlockedTechs.near` in one loop over its (cells, ``TECH_BLOCK``) table,
    cell by cell (its order), bit for bit: the same IEEE operations in the same order (no
    ``fastmath``); numpy took 45 ms of a 10k x 1k solve in its temporaries. Compiled and
    cached as :mod:`solver.compiled`'s kernels (:func:`solver.compiled.compiled`)."""
    cells, width = blk.size, kx.shape[1]
    out_t = np.empty(cells * width, np.int64)
    out_k = np.empty(cells * width, np.int64)
    out_chord = np.empty(cells * width, np.float64)
    out_at = np.empty(cells * width, np.int64)
    found = 0
    for c in range(cells):
        row, b, at = t[c], blk[c], ii[c]
        cut, moved = cut_t[at], moved_t[row]
        x, y, z = tx[row], ty[row], tz[row]
        for j in range(width):
            dot = x * kx[b, j]
            dot += y * ky[b, j]
            dot += z * kz[b, j]
            dot *= -2.0
            dot += 2.0
            chord = np.sqrt(max(dot, 0.0))
            chord -= rounding
            chord = max(chord, 0.0)
            if not everywhere and not (t_located[row] and k_located[b, j]):
                chord *= 0.0
            bound = chord * slope[b, j]
            bound += dt[b, j]
            if bound < cut and moved > moved_k[b, j]:
                out_t[found] = row
                out_k[found] = tech[b, j]
                out_chord[found] = chord
                out_at[found] = at
                found += 1
    return out_t[:found], out_k[:found], out_chord[:found], out_at[:found]


def _split(cells: Cells, most: int) -> Cells:
    """The chunks of ``cells`` cut into pieces of at most ``most`` cells."""
    for r, cut_t, pen_t, ii, bb in cells:
        for a in range(0, ii.size, most):
            yield r, cut_t, pen_t, ii[a : a + most], bb[a : a + most]


def _distances(
    t_xyz: tuple[FloatArray, ...], tix: IntArray, centre: FloatArray
) -> FloatArray:
    """(tickets, blocks) Euclidean distances from tickets ``tix`` (coordinates as three
    arrays) to the block centres ``centre`` (3, blocks), coordinate by coordinate."""
    diff = t_xyz[0][tix][:, None] - centre[0]
    out = diff * diff
    for c in (1, 2):
        np.subtract(t_xyz[c][tix][:, None], centre[c], out=diff)
        diff *= diff
        out += diff
    return np.asarray(np.sqrt(out, out=out))


def _paired_distances(
    t_xyz: tuple[FloatArray, ...], tix: IntArray, centre: FloatArray
) -> FloatArray:
    """Euclidean distances from tickets ``tix`` to the points ``centre`` (3, len(tix)),
    pair by pair."""
    out = np.zeros(tix.size)
    for c in range(3):
        diff = t_xyz[c][tix] - centre[c]
        diff *= diff
        out += diff
    return np.asarray(np.sqrt(out, out=out))


def _ranges(lo: IntArray, hi: IntArray) -> IntArray:
    """The integers of every range ``[lo[i], hi[i])``, range after range."""
    size = hi - lo
    skip = np.repeat(lo - np.cumsum(size) + size, size)
    return np.asarray(skip + np.arange(int(size.sum())), np.int64)


def _morton(points: FloatArray, level: FloatArray) -> IntArray:
    """An order of unit vectors ``points`` by ``LEVELS`` classes of ``level`` (by
    rank), then along a Z-order curve of their bounding box (10 bits per coordinate):
    runs of consecutive points are mostly compact and alike in ``level``."""
    if points.shape[0] == 0:
        return np.zeros(0, np.int64)
    rank = np.empty(level.size, np.int64)
    rank[np.argsort(level, kind="stable")] = np.arange(level.size)
    lo, hi = points.min(axis=0), points.max(axis=0)
    q = ((points - lo) * (1023.0 / np.maximum(hi - lo, 1e-12))).astype(np.int64)
    code = np.zeros(points.shape[0], np.int64)
    for c in range(3):
        x = q[:, c] & 0x3FF
        x = (x | (x << 16)) & 0x30000FF
        x = (x | (x << 8)) & 0x300F00F
        x = (x | (x << 4)) & 0x30C30C3
        x = (x | (x << 2)) & 0x9249249
        code |= x << c
    code |= (rank * LEVELS // level.size) << 30
    return np.asarray(np.argsort(code, kind="stable"), np.int64)


def _ticket_blocks(
    tvec: FloatArray, rows: IntArray, level: FloatArray
) -> tuple[IntArray, IntArray, tuple[FloatArray, ...], FloatArray]:
    """Ticket ``rows`` in blocks of ``TICKET_BLOCK`` consecutive rows of a Z-order
    (:func:`_morton`): the order (into ``rows``), each block's first position, centres
    (three coordinate arrays) and radii (infinite for a block holding a ticket without
    location, the zero vector: 0 away from everything)."""
    pts = tvec[rows]
    order = _morton(pts, level)
    pts = pts[order]
    start = np.arange(0, rows.size, TICKET_BLOCK)
    count = np.diff(np.append(start, rows.size))
    centre = np.add.reduceat(pts, start, axis=0) / count[:, None]
    spread = np.linalg.norm(pts - np.repeat(centre, count, axis=0), axis=1)
    radius = np.maximum.reduceat(spread, start)
    nowhere = np.maximum.reduceat(np.all(pts == 0.0, axis=1), start)
    radius = np.where(nowhere, np.inf, radius)
    return order, start, tuple(centre.T.copy()), radius


def _per_block(values: FloatArray, size: int, how: str) -> FloatArray:
    """Min or max of consecutive blocks of ``size`` (the last one may be short)."""
    nb = -(-values.size // size)
    pad = np.full(nb * size, values[-1])
    pad[: values.size] = values
    blocks = pad.reshape(nb, size)
    return np.asarray(blocks.min(axis=1) if how == "min" else blocks.max(axis=1))


def _moved(
    d_ticket: FloatArray,
    d_tech: FloatArray,
    since: tuple[FloatArray, FloatArray] | None,
) -> tuple[FloatArray, FloatArray]:
    """How far each ticket's and technician's potential moved since the last round (a
    technician's -inf when unknown: infinite in both rounds). Without a last round,
    every ticket's +inf: every pair is priced."""
    if since is None:
        return np.full(d_ticket.size, np.inf), np.zeros(d_tech.size)
    with np.errstate(invalid="ignore"):
        moved_k = d_tech - since[1]
    return d_ticket - since[0], np.where(np.isnan(moved_k), -np.inf, moved_k)


def _narrowed(
    g: PricingGroup, moved: tuple[FloatArray, FloatArray], kvec: FloatArray
) -> list[PricingGroup]:
    """Group ``g`` in the parts a later round prices (``moved``: :func:`_moved`): the
    tickets whose potential rose against every technician of ``g``; the others only
    against its technicians whose potential fell more than the most any of these tickets
    moved (no other can make a pair of theirs pass, :func:`_parts`), in compact blocks of
    their own (``kvec``: the technicians' unit vectors). In a first round every ticket's
    potential "rose": ``g`` itself."""
    up = moved[0][g.rows] > 0
    if up.all():
        return [g]
    low = g.rows[~up]
    fell = g.elig[moved[1][g.elig] < moved[0][low].max()]
    parts = [dataclasses.replace(g, rows=g.rows[up])] if up.any() else []
    if fell.size:
        order, centre, radius = _blocks(kvec[fell], TECH_BLOCK)
        parts.append(PricingGroup(low, fell[order], centre.T.copy(), radius))
    return parts


def _parts(
    g: PricingGroup, moved: tuple[FloatArray, FloatArray]
) -> tuple[list[tuple[IntArray, IntArray]], FloatArray]:
    """(ticket rows, block indices) of group ``g`` to price, and per block the least
    move of a technician's potential (:func:`_moved`). A pair's reduced cost fell only
    where its ticket's potential rose more than its technician's: the tickets whose
    potential rose are priced against every block, the others only against blocks with
    a technician whose potential fell more than theirs."""
    blocks = np.arange(g.centre.shape[1])
    fell = _per_block(moved[1][g.elig], TECH_BLOCK, "min")
    up = moved[0][g.rows] > 0
    low = g.rows[~up]
    parts = [(g.rows[up], blocks)]
    if low.size:
        parts.append((low, np.flatnonzero(fell < moved[0][low].max())))
    return parts, fell


@dataclass(frozen=True, slots=True)
class _TicketTerms:
    """Per ticket row, what the (ticket, technician block) bounds of a pricing read."""

    cut: FloatArray  # a pair passes while bound + technician potential < cut
    pen: FloatArray  # ... and bound < pen (the unassigned arc)
    late_w: FloatArray  # scaled cost per late second
    resp: FloatArray  # response due
    done_by: FloatArray  # latest start that meets the resolution due
    vec: FloatArray  # (n, 3) unit vectors (zero: no location)
    xyz: tuple[FloatArray, ...]  # the same, coordinate by coordinate
    located: BoolArray
    moved: (
        FloatArray  # how far the potential rose since the last round (:func:`_moved`)
    )
    potential: (
        FloatArray  # the ticket potentials (the blocks' level, :func:`_ticket_blocks`)
    )


@dataclass(frozen=True, slots=True)
class _TechBlocks:
    """Per technician block of a pricing group, the least of each bound term."""

    centre: FloatArray  # (3, blocks)
    radius: FloatArray
    slope: FloatArray  # scaled cost per chord unit
    base: FloatArray  # scaled waiting until ready
    dt: FloatArray  # base + potential
    ready: FloatArray
    tpc: FloatArray  # travel seconds per chord unit
    fell: FloatArray  # least move of a potential (:func:`_parts`)


Cells = Iterator[tuple[IntArray, FloatArray, FloatArray, IntArray, IntArray]]


def _lower_bound(
    b: _TechBlocks, e: IntArray, gap: FloatArray, tt: _TicketTerms, r: IntArray
) -> FloatArray:
    """Lower bound of the scaled cost between tickets ``r`` and technician blocks ``e``
    at least ``gap`` apart (broadcast together): travel and waiting plus the lateness of
    the earliest start."""
    start = b.ready[e] + gap * b.tpc[e]
    late = np.maximum(start - tt.resp[r], 0.0) + np.maximum(start - tt.done_by[r], 0.0)
    return np.asarray(b.slope[e] * gap + tt.late_w[r] * late)


def _passes(
    b: _TechBlocks, e: IntArray, lb: FloatArray, tt: _TicketTerms, r: IntArray
) -> BoolArray:
    """Whether pairs of tickets ``r`` and technician blocks ``e`` (broadcast together)
    whose cost is at least ``lb`` may have a negative reduced cost: below the ticket's
    cut with the block's least potential, below its unassigned arc, and the potentials
    moved enough since the last round (:func:`_parts`)."""
    return np.asarray(
        (lb + b.dt[e] < tt.cut[r])
        & (lb + b.base[e] < tt.pen[r])
        & (tt.moved[r] > b.fell[e])
    )


def _ticket_cells(
    tt: _TicketTerms, b: _TechBlocks, part_rows: IntArray, bsel: IntArray
) -> Cells:
    """Chunks of rows ``r`` with their thresholds (cut, pen) and the (position in
    ``r``, position in ``bsel``) cells whose (ticket, technician block) bound passes:
    each ticket against each block of ``bsel``."""
    step = max(1, PAIR_CELLS // bsel.size)
    centre = b.centre[:, bsel]
    x = tt.xyz
    for a in range(0, part_rows.size, step):
        r = part_rows[a : a + step]
        ii, bb = _cells_passing(
            r, bsel, x[0], x[1], x[2], tt.located, tt.resp, tt.done_by, tt.late_w,
            tt.cut, tt.pen, tt.moved, centre[0], centre[1], centre[2], b.radius,
            b.ready, b.tpc, b.slope, b.dt, b.base, b.fell,
        )  # fmt: skip
        yield r, tt.cut[r], tt.pen[r], ii, bb


@compiled()
def _cells_passing(
    r: IntArray,
    bsel: IntArray,
    tx: FloatArray,
    ty: FloatArray,
    tz: FloatArray,
    located: BoolArray,
    resp: FloatArray,
    done_by: FloatArray,
    late_w: FloatArray,
    cut: FloatArray,
    pen: FloatArray,
    moved: FloatArray,
    cx: FloatArray,
    cy: FloatArray,
    cz: FloatArray,
    radius: FloatArray,
    ready: FloatArray,
    tpc: FloatArray,
    slope: FloatArray,
    dt: FloatArray,
    base: FloatArray,
    fell: FloatArray,
) -> tuple[IntArray, IntArray]:
    """The (position in ``r``, position in ``bsel``) cells of :func:`_ticket_cells`
    whose bound passes, in its order (ticket by ticket), bit for bit what
    :func:`_distances`, :func:`_lower_bound` and :func:`_passes` gave on the (tickets,
    blocks) table: the same IEEE operations in the same order (``cx``.. are the centres
    of the blocks ``bsel``, the other technician terms per block)."""
    rows, blocks = r.size, bsel.size
    out_i = np.empty(rows * blocks, np.int64)
    out_b = np.empty(rows * blocks, np.int64)
    found = 0
    for i in range(rows):
        t = r[i]
        x, y, z = tx[t], ty[t], tz[t]
        here = located[t]
        t_resp, t_done, t_late = resp[t], done_by[t], late_w[t]
        t_cut, t_pen, t_moved = cut[t], pen[t], moved[t]
        for j in range(blocks):
            e = bsel[j]
            d = x - cx[j]
            out = d * d
            d = y - cy[j]
            d *= d
            out += d
            d = z - cz[j]
            d *= d
            out += d
            gap = max(np.sqrt(out) - radius[e], 0.0)
            if not here:
                gap *= 0.0
            start = ready[e] + gap * tpc[e]
            late = max(start - t_resp, 0.0) + max(start - t_done, 0.0)
            lb = slope[e] * gap + t_late * late
            if lb + dt[e] < t_cut and lb + base[e] < t_pen and t_moved > fell[e]:
                out_i[found] = i
                out_b[found] = j
                found += 1
    return out_i[:found], out_b[:found]


@dataclass(frozen=True, slots=True)
class _TicketBlockTables:
    """Tickets in blocks (:func:`_ticket_blocks`) as :func:`_blocked_cells` bounds them:
    ``rows`` (the part's ticket rows in block order), each block's ``first`` position in
    them, ``centre`` and ``radius``; ``block``: each block's loosest terms (one row a
    block); ``slot``: each block as one row of ``TICKET_BLOCK`` positions in ``rows`` (a
    short block padded with its first; ``real`` False there, never kept) and ``table``
    its tickets' terms at those positions."""

    rows: IntArray
    first: IntArray
    centre: tuple[FloatArray, ...]
    radius: FloatArray
    block: _TicketTerms
    slot: IntArray
    real: BoolArray
    table: _TicketTerms


def _ticket_block_tables(tt: _TicketTerms, part_rows: IntArray) -> _TicketBlockTables:
    """The :class:`_TicketBlockTables` of the tickets ``part_rows``."""
    order, first, t_cen, t_rad = _ticket_blocks(
        tt.vec, part_rows, tt.potential[part_rows]
    )
    rows = part_rows[order]
    top = np.maximum.reduceat
    blk = _TicketTerms(
        top(tt.cut[rows], first), top(tt.pen[rows], first),
        np.minimum.reduceat(tt.late_w[rows], first), top(tt.resp[rows], first),
        top(tt.done_by[rows], first), tt.vec, t_cen, tt.located,
        top(tt.moved[rows], first), tt.potential,
    )  # fmt: skip
    last = np.append(first[1:], rows.size)
    slot = first[:, None] + np.arange(TICKET_BLOCK)
    real = slot < last[:, None]
    slot = np.where(real, slot, first[:, None])
    at_slot = rows[slot]
    tab = _TicketTerms(
        tt.cut[at_slot], tt.pen[at_slot], tt.late_w[at_slot], tt.resp[at_slot],
        tt.done_by[at_slot], tt.vec, tuple(x[at_slot] for x in tt.xyz),
        tt.located[at_slot], tt.moved[at_slot], tt.potential,
    )  # fmt: skip
    return _TicketBlockTables(rows, first, t_cen, t_rad, blk, slot, real, tab)


def _blocked_cells(
    tt: _TicketTerms, b: _TechBlocks, part_rows: IntArray, bsel: IntArray
) -> Cells:
    """:func:`_ticket_cells`, with the tickets bounded in blocks first: a (ticket
    block, technician block) bound (the block's loosest thresholds and lateness, the
    least distance between the blocks) skips most (ticket, technician block) bounds."""
    tb = _ticket_block_tables(tt, part_rows)
    rows, first, t_cen, t_rad = tb.rows, tb.first, tb.centre, tb.radius
    blk, tab, real, slot = tb.block, tb.table, tb.real, tb.slot
    step = max(1, PAIR_CELLS // (bsel.size * TICKET_BLOCK))
    c, bt = b.centre, blk
    for a in range(0, first.size, step):
        lo = first[a]
        r = rows[lo:]
        ii, bb = _blocked_cells_passing(
            a, min(a + step, first.size), lo, bsel, t_cen[0], t_cen[1], t_cen[2], t_rad,
            bt.cut, bt.pen, bt.late_w, bt.resp, bt.done_by, bt.moved,
            tab.xyz[0], tab.xyz[1], tab.xyz[2], tab.located, tab.cut, tab.pen,
            tab.late_w, tab.resp, tab.done_by, tab.moved, real, slot,
            c[0], c[1], c[2], b.radius, b.ready, b.tpc, b.slope, b.dt, b.base, b.fell,
            CHORD_ROUNDING,
        )  # fmt: skip
        yield r, tt.cut[r], tt.pen[r], ii, bb


def warm_up_blocked_cells() -> None:
    """Compile (or load) :func:`_blocked_cells_passing` through :func:`_blocked_cells`
    on two tickets and one technician block, the argument types a pricing gives it: a
    region needs ``TICKET_BLOCKS_FROM`` blocks of technicians (2,048 in one skill group)
    for a solve to reach it, more than :func:`solver.compiled.warm_up`'s solve has."""
    vec = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    one = np.ones(2)
    tt = _TicketTerms(
        one, one, one, one, one, vec, tuple(vec.T.copy()), np.ones(2, np.bool_),
        one, one,
    )  # fmt: skip
    block = np.ones(1)
    b = _TechBlocks(
        vec[:1].T.copy(), block, block, block, block, block, block, block
    )  # fmt: skip
    for _ in _blocked_cells(tt, b, np.arange(2, dtype=np.int64), np.zeros(1, np.int64)):
        pass


@compiled()
def _blocked_cells_passing(
    a: int,
    z: int,
    lo: int,
    bsel: IntArray,
    qx: FloatArray,
    qy: FloatArray,
    qz: FloatArray,
    q_rad: FloatArray,
    q_cut: FloatArray,
    q_pen: FloatArray,
    q_late_w: FloatArray,
    q_resp: FloatArray,
    q_done_by: FloatArray,
    q_moved: FloatArray,
    tx: FloatArray,
    ty: FloatArray,
    tz: FloatArray,
    t_located: BoolArray,
    t_cut: FloatArray,
    t_pen: FloatArray,
    t_late_w: FloatArray,
    t_resp: FloatArray,
    t_done_by: FloatArray,
    t_moved: FloatArray,
    real: BoolArray,
    slot: IntArray,
    cx: FloatArray,
    cy: FloatArray,
    cz: FloatArray,
    radius: FloatArray,
    ready: FloatArray,
    tpc: FloatArray,
    slope: FloatArray,
    dt: FloatArray,
    base: FloatArray,
    fell: FloatArray,
    rounding: float,
) -> tuple[IntArray, IntArray]:
    """Of the ticket blocks ``a .. z - 1`` of :func:`_blocked_cells` (``q_``: their
    terms; ``t``: their tickets' terms as (blocks, ``TICKET_BLOCK``) tables), each
    (ticket block, technician block of ``bsel``) bound, then each ticket of a passing
    pair against that technician block: the cells (position in the rows from ``lo``,
    position in ``bsel``) that pass, in the order and bit for bit as numpy's tables gave
    them (the same IEEE operations in the same order, no ``fastmath``)."""
    blocks, width = bsel.size, tx.shape[1]
    most = (z - a) * blocks * width
    out_i = np.empty(most, np.int64)
    out_b = np.empty(most, np.int64)
    found = 0
    for q in range(a, z):
        for j in range(blocks):
            e = bsel[j]
            d = qx[q] - cx[e]
            out = d * d
            d = qy[q] - cy[e]
            d *= d
            out += d
            d = qz[q] - cz[e]
            d *= d
            out += d
            gap = np.sqrt(out)
            gap -= q_rad[q] + radius[e] + rounding
            gap = max(gap, 0.0)
            start = ready[e] + gap * tpc[e]
            late = max(start - q_resp[q], 0.0) + max(start - q_done_by[q], 0.0)
            lb = slope[e] * gap + q_late_w[q] * late
            if not (
                lb + dt[e] < q_cut[q]
                and lb + base[e] < q_pen[q]
                and q_moved[q] > fell[e]
            ):
                continue
            for col in range(width):
                d = tx[q, col] - cx[e]
                out = d * d
                d = ty[q, col] - cy[e]
                d *= d
                out += d
                d = tz[q, col] - cz[e]
                d *= d
                out += d
                gap = max(np.sqrt(out) - radius[e], 0.0)
                if not t_located[q, col]:
                    gap *= 0.0
                start = ready[e] + gap * tpc[e]
                late = max(start - t_resp[q, col], 0.0) + max(
                    start - t_done_by[q, col], 0.0
                )
                lb = slope[e] * gap + t_late_w[q, col] * late
                if (
                    lb + dt[e] < t_cut[q, col]
                    and lb + base[e] < t_pen[q, col]
                    and t_moved[q, col] > fell[e]
                    and real[q, col]
                ):
                    out_i[found] = slot[q, col] - lo
                    out_b[found] = j
                    found += 1
    return out_i[:found], out_b[:found]


@dataclass(slots=True)
class _Found:
    """What pricing one group found (:func:`negative_pairs`)."""

    priced: int  # pairs of the group
    tix: list[IntArray] = field(default_factory=list)  # kept pairs, batch by batch
    tech: list[IntArray] = field(default_factory=list)
    cost: list[FloatArray] = field(default_factory=list)  # weight units
    evaluated: int = 0  # pairs evaluated exactly
    negative: int = 0  # of the kept pairs, those with a negative reduced cost
    waiting: tuple[IntArray, IntArray] | None = None  # past the bounds, not evaluated


def _ticket_terms(
    problem: Problem,
    w: CostWeights,
    pb: PairBound,
    rows: IntArray,
    d_ticket: FloatArray,
    pen_w: FloatArray,
    slack: float,
    moved: FloatArray,
) -> _TicketTerms:
    """The :class:`_TicketTerms` of the ticket ``rows`` priced, per ticket row (the
    other rows' are 0 and the zero vector: never read). A pair is worth a look when its
    bound < min(ticket potential - technician potential, penalty), with a margin of 1
    and the ticket's preference bonus (< 0) on both sides."""
    t = problem.tickets
    n, margin = t.count, 1.0
    bonus = np.zeros(n)
    if t.preferred.shape[0]:
        bonus[t.preferred[:, 0]] = COST_SCALE * w.preference
    bonus = bonus[rows]
    vec = np.zeros((n, 3))
    at = unit_vectors(t.lat_deg[rows], t.lon_deg[rows])
    vec[rows] = at
    # the seven row-sized terms in one block (one allocation: 4x cheaper than seven
    # fresh arrays, whose pages fault in one by one)
    block = iter(np.zeros((7, n)))

    def on_rows(values: FloatArray) -> FloatArray:
        out: FloatArray = next(block)
        out[rows] = values
        return out

    located = np.zeros(n, np.bool_)
    located[rows] = np.any(at != 0.0, axis=1)

    return _TicketTerms(
        on_rows(d_ticket[rows] + bonus + margin + slack),
        on_rows(pen_w[rows] * COST_SCALE + bonus + margin),
        on_rows(COST_SCALE * pb.late_w[rows]), pb.resp,
        on_rows(pb.due[rows] - pb.dur[rows]), vec,
        tuple(on_rows(at[:, c]) for c in range(3)),
        located, moved, d_ticket,
    )  # fmt: skip


def negative_pairs(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    groups: list[PricingGroup],
    arc_keys: IntArray,
    d_ticket: FloatArray,
    d_tech: FloatArray,
    slack: float = 0.0,
    deadline: float = math.inf,
    since: tuple[FloatArray, FloatArray] | None = None,
    penalty: FloatArray | None = None,
    pair_price: PairPrice | None = None,
) -> tuple[IntArray, IntArray, FloatArray, int, int, int]:
    """Every pair of ``groups`` with a negative reduced cost that is not an arc yet.

    Parameters
    ----------
    groups
        Groups whose (ticket, technician) pairs are all to be priced: the skill groups of
        :func:`solver.candidates.skill_groups`, through :func:`pricing_groups`.
    arc_keys
        Sorted :func:`solver.cost.pair_keys` of the current arcs.
    d_ticket, d_tech
        Potentials from :func:`potentials`.

    deadline
        ``time.perf_counter()`` value after which pricing stops unfinished (then the
        negative count returned is -1: nothing is proven).
    slack
        Also return pairs whose reduced cost is below this (scaled units, >= 0): likely
        to turn negative once the flow changes, so adding them saves rounds.
    since
        (ticket, technician) potentials of the previous round of the same certification,
        after which every pair that is not an arc had a reduced cost of at least
        ``slack`` (it priced every pair with this ``slack``; the pairs it returned are
        arcs now). A pair's reduced cost moved by its technician's potential change
        minus its ticket's, so only pairs whose ticket potential rose more than their
        technician's can be below ``slack`` now: only those are priced (the same pairs
        are returned as without ``since``).
    penalty
        The problem's :func:`solver.cost.drop_penalty` when the caller has it.
    pair_price
        The cost (weight units) and feasibility of pairs in the flow being certified
        (:data:`PairPrice`), when it is not their first-in-queue evaluation
        (:func:`solver.cost.evaluate_pairs` in ``state``, the default): e.g. the
        position rounds' costs at the places of a plan
        (:func:`solver.core.position_rounds`). Then ``state`` is what the bounds read
        (:class:`PairBound`): a pair's cost must never be below its first-in-queue cost
        in ``state`` (e.g. ``ready_s`` from :func:`later_ready`).

    Returns
    -------
    tuple
        (ticket rows, technician rows, costs in weight units) of the feasible pairs
        cheaper than the ticket's penalty whose reduced cost is below ``slack``; pairs
        priced; pairs evaluated exactly; how many of the returned are negative (none:
        the flow is optimal over all pairs).
    """
    w = params.weights
    k, m = problem.technicians, problem.technicians.count
    pen_w = drop_penalty(problem, w) if penalty is None else penalty
    # Each pair's lower bound (PairBound); the preference bonus (< 0) is added to the
    # thresholds (_ticket_terms).
    pb = PairBound.of(problem, w, state)
    base, slope, travel_per_chord = pb.base, pb.slope, pb.travel_per_chord
    need = distinct(
        np.concatenate([g.rows for g in groups] or [np.zeros(0, np.int64)]),
        problem.tickets.count,
    )
    kvec = state_vectors(state)
    k_xyz = tuple(kvec.T.copy())
    located_k = (k_xyz[0] != 0.0) | (k_xyz[1] != 0.0) | (k_xyz[2] != 0.0)
    dt_k = base + d_tech
    kb = TECH_BLOCK
    moved = _moved(d_ticket, d_tech, since)
    terms = _ticket_terms(problem, w, pb, need, d_ticket, pen_w, slack, moved[0])
    everywhere = bool(terms.located[need].all() and located_k.all())
    stop = threading.Event()  # the deadline passed: every group stops

    # a pricing of the caller's is set up once a pass: every group's pairs at once
    deferred = pair_price is not None
    exact = (
        _first_in_queue(problem, params, state) if pair_price is None else pair_price
    )

    def evaluate(found: _Found, a: IntArray, z: IntArray) -> None:
        """Evaluate the pairs (``a``, ``z``) exactly, keep the good ones in ``found``."""
        total, feasible = exact(a, z)
        red = to_scaled(total) + d_tech[z] - d_ticket[a]
        good = feasible & (total < pen_w[a]) & (red < slack)
        found.tix.append(a[good])
        found.tech.append(z[good])
        found.cost.append(total[good])
        found.evaluated += a.size
        found.negative += int(np.count_nonzero(good & (red < 0)))

    def price(group: PricingGroup) -> _Found:
        """The pairs of ``group`` past the bounds, evaluated in large batches."""
        if stop.is_set():
            return _Found(0)
        found = _Found(group.rows.size * group.elig.size)
        wait_t: list[IntArray] = []
        wait_k: list[IntArray] = []
        for g in _narrowed(group, moved, kvec):
            elig = g.elig
            # Each ticket is bounded against every block of technicians (with its own
            # threshold and lateness), then pair by pair in the blocks it may reach.
            parts, fell = _parts(g, moved)
            blocks = _TechBlocks(
                g.centre, g.radius, _per_block(slope[elig], kb, "min"),
                _per_block(base[elig], kb, "min"), _per_block(dt_k[elig], kb, "min"),
                _per_block(state.ready_s[elig], kb, "min"),
                travel_per_chord / _per_block(k.speed_kmh[elig], kb, "max"), fell,
            )  # fmt: skip
            techs = _BlockedTechs.of(elig, k_xyz, slope, dt_k, moved[1], located_k)
            for part_rows, bsel in parts:
                if part_rows.size == 0 or bsel.size == 0:
                    continue
                cells = (
                    _blocked_cells if bsel.size >= TICKET_BLOCKS_FROM else _ticket_cells
                )
                chunks = _split(cells(terms, blocks, part_rows, bsel), PAIR_CELLS // kb)
                for r, cut_t, pen_t, ii, bb in chunks:
                    if stop.is_set() or time.perf_counter() > deadline:
                        stop.set()
                        return found
                    # First the bound without lateness (>= 0, it can only raise the
                    # bound), then the full bound on the pairs that pass it.
                    p_t, p_k, chord, at = techs.near(
                        terms, moved[0], r, cut_t, ii, bsel[bb], everywhere
                    )
                    ok = pb.passes(p_t, p_k, chord, d_tech, cut_t[at], pen_t[at])
                    p_t, p_k = p_t[ok], p_k[ok]
                    keys = pair_keys(p_t, p_k, m)
                    pos = np.minimum(
                        np.searchsorted(arc_keys, keys), max(arc_keys.size - 1, 0)
                    )
                    fresh = (
                        arc_keys[pos] != keys
                        if arc_keys.size
                        else np.ones(keys.size, bool)
                    )
                    wait_t.append(p_t[fresh])
                    wait_k.append(p_k[fresh])
                    if sum(x.size for x in wait_t) >= PAIR_CELLS:
                        evaluate(found, np.concatenate(wait_t), np.concatenate(wait_k))
                        wait_t.clear()
                        wait_k.clear()
        if not any(x.size for x in wait_t):  # (no call on no pairs: ~0.3 ms)
            return found
        found.waiting = (np.concatenate(wait_t), np.concatenate(wait_k))
        if not deferred:
            evaluate(found, *found.waiting)
            found.waiting = None
        return found

    pairs = sum(g.rows.size * g.elig.size for g in groups)
    if PRICING_THREADS > 1 and len(groups) > 1 and pairs >= THREADED_FROM:
        with ThreadPoolExecutor(PRICING_THREADS) as pool:
            done = list(pool.map(price, groups))
    else:
        done = [price(g) for g in groups]
    waiting = [f.waiting for f in done if f.waiting is not None]
    if waiting:
        done.append(_Found(0))
        evaluate(
            done[-1],
            np.concatenate([t for t, _ in waiting]),
            np.concatenate([k for _, k in waiting]),
        )
    negative = -1 if stop.is_set() else sum(f.negative for f in done)
    return _by_pair(done, m, negative)


def _by_pair(
    done: list[_Found], m: int, negative: int
) -> tuple[IntArray, IntArray, FloatArray, int, int, int]:
    """:func:`negative_pairs`' answer from what pricing the groups found (``done``) and
    the count of negative pairs (-1: unfinished): the pairs in pair order, whatever the
    blocks and threads."""
    priced = sum(f.priced for f in done)
    evaluated = sum(f.evaluated for f in done)
    out_t = [x for f in done for x in f.tix]
    if not out_t:
        e = np.zeros(0, np.int64)
        return e, e, np.zeros(0), priced, evaluated, negative
    found_t = np.concatenate(out_t)
    found_k = np.concatenate([x for f in done for x in f.tech])
    order = np.argsort(pair_keys(found_t, found_k, m))
    return (
        found_t[order],
        found_k[order],
        np.concatenate([x for f in done for x in f.cost])[order],
        priced,
        evaluated,
        negative,
    )


def _first_in_queue(
    problem: Problem, params: SolveParams, state: TechState
) -> PairPrice:
    """The pairs' first-in-queue cost and feasibility in ``state``
    (:func:`solver.cost.evaluate_pairs`): :func:`negative_pairs`' default pricing."""

    def price(tix: IntArray, tech: IntArray) -> tuple[FloatArray, BoolArray]:
        ev, _ = evaluate_pairs(
            problem, params.weights, state, tix, tech, params.allow_overtime
        )
        return ev.total, ev.feasible

    return price
