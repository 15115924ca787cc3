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
which never exceeds the great-circle one) by spatial blocks, then pair by pair, and
finally the few survivors exactly with :func:`solver.cost.evaluate_pairs`. The caller adds
the pairs found, re-solves, and repeats until none remains.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from solver.constants import COST_SCALE, EARTH_RADIUS_KM, ROAD_FACTOR
from solver.cost import (
    drop_penalty,
    evaluate_pairs,
    lateness_weight,
    pair_keys,
    to_scaled,
)
from solver.geo import unit_vectors
from solver.spatial import block_order

if TYPE_CHECKING:
    from solver.cost import TechState
    from solver.model import Problem, SolveParams

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

TICKET_BLOCK = 64
TECH_BLOCK = 32
"""Spatial block sizes of the pricing: block pairs are bounded first, pairs after."""

BAND_BLOCKS = 2
"""Tickets are banded by their pricing threshold, this many blocks per band."""

PAIR_CELLS = 2_000_000
"""Most (ticket, technician) bound cells or exact evaluations held at once (bounds memory)."""


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
    scaled costs are integers far below 2**53.
    """
    m = free.size
    u_tix, u_tech, u_cost = arc_tix[used], arc_tech[used], arc_cost[used]
    count = np.bincount(u_tech, minlength=m)
    first_free = np.rint(balance_scaled * (load + count)).astype(np.float64)
    place = np.where(count < free, first_free, np.inf)
    assigned = np.zeros(n, np.bool_)
    assigned[u_tix] = True
    other = np.flatnonzero(assigned[arc_tix] & ~used)
    o_tix, o_tech, o_cost = arc_tix[other], arc_tech[other], arc_cost[other]
    pen = penalty.astype(np.float64)
    d_ticket = pen.copy()
    d_tech = place.copy()
    for _ in range(n + m + 2):
        new_tech = place.copy()
        np.minimum.at(new_tech, u_tech, d_ticket[u_tix] - u_cost)
        new_ticket = pen.copy()
        np.minimum.at(new_ticket, o_tix, o_cost + new_tech[o_tech])
        if np.array_equal(new_tech, d_tech) and np.array_equal(new_ticket, d_ticket):
            # Lowest valid ticket potentials for these technician potentials: an
            # assigned ticket's arc is tight (fewer pairs look improving).
            d_ticket = pen.copy()
            d_ticket[u_tix] = u_cost + d_tech[u_tech]
            return d_ticket, d_tech
        d_ticket, d_tech = new_ticket, new_tech
    return None


def _blocks(
    points: FloatArray, size: int, key: FloatArray | None = None
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Block order of unit vectors, block centres and radii.

    Points are cut into bands of ``BAND_BLOCKS x size`` by ``key`` (so a block holds
    similar key values), each band in :func:`solver.spatial.block_order` (so a block is
    compact).
    """
    order = (
        np.arange(points.shape[0], dtype=np.int64)
        if key is None
        else np.argsort(key, kind="stable").astype(np.int64)
    )
    band = BAND_BLOCKS * size if key is not None else max(order.size, 1)
    for b in range(0, order.size, band):
        part = order[b : b + band]
        order[b : b + band] = part[block_order(points[part], size)]
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


def _chords(a: FloatArray, b_t: FloatArray) -> FloatArray:
    """Chord lengths between unit vectors ``a`` (p, 3) and the columns of ``b_t`` (3, q).

    Three multiply-adds rather than a matrix product: BLAS would thread this small
    product, which costs far more than it saves on a loaded machine.
    """
    dot = a[:, 0, None] * b_t[0]
    dot += a[:, 1, None] * b_t[1]
    dot += a[:, 2, None] * b_t[2]
    dot *= -2.0
    dot += 2.0
    return np.asarray(np.sqrt(np.maximum(dot, 0.0, out=dot), out=dot))


def _per_block(values: FloatArray, size: int, how: str) -> FloatArray:
    """Min or max of consecutive blocks of ``size`` (the last one may be short)."""
    nb = -(-values.size // size)
    pad = np.full(nb * size, values[-1])
    pad[: values.size] = values
    blocks = pad.reshape(nb, size)
    return np.asarray(blocks.min(axis=1) if how == "min" else blocks.max(axis=1))


def negative_pairs(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    groups: list[tuple[IntArray, IntArray]],
    arc_keys: IntArray,
    d_ticket: FloatArray,
    d_tech: FloatArray,
    slack: float = 0.0,
    deadline: float = math.inf,
) -> tuple[IntArray, IntArray, FloatArray, int, int, int]:
    """Every pair of ``groups`` with a negative reduced cost that is not an arc yet.

    Parameters
    ----------
    groups
        (ticket rows, technician rows) blocks whose pairs are all to be priced (the skill
        groups of :func:`solver.candidates.skill_groups`).
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
    pen_w = drop_penalty(problem, w)
    pen_s = pen_w * COST_SCALE
    t = problem.tickets
    # Lower bound of a pair's scaled cost: base (waiting until ready) + slope x chord, plus
    # the lateness of the earliest possible start. It leaves out the breach step, skill
    # surplus and stability: those terms are >= 0 (solver.cost.terms_at), so leaving them out
    # keeps it a valid LOWER bound (only a looser one); only the preference bonus is < 0,
    # and it is added to the thresholds below.
    base = COST_SCALE * w.waiting * (state.ready_s - problem.now_s)
    slope = (
        COST_SCALE * (w.travel + w.waiting) * EARTH_RADIUS_KM * ROAD_FACTOR * 3600.0
    ) / k.speed_kmh
    travel_per_chord = EARTH_RADIUS_KM * ROAD_FACTOR * 3600.0
    lw = lateness_weight(problem, w)
    resp, dur = t.response_due_s, t.duration_s
    due = np.minimum(t.resolution_due_s, t.window_end_s)
    bonus = np.zeros(t.count)
    if t.preferred.shape[0]:
        bonus[t.preferred[:, 0]] = COST_SCALE * w.preference
    # A pair is worth a look when bound < min(ticket potential - tech potential, penalty).
    margin = 1.0
    out_t: list[IntArray] = []
    out_k: list[IntArray] = []
    out_c: list[FloatArray] = []
    wait_t: list[IntArray] = []  # pairs past the bounds, evaluated in large batches
    wait_k: list[IntArray] = []
    priced = evaluated = negative = 0

    def evaluate_waiting() -> int:
        """Evaluate the waiting pairs exactly, keep the good ones; how many are negative."""
        a, z = np.concatenate(wait_t), np.concatenate(wait_k)
        wait_t.clear()
        wait_k.clear()
        ev, _ = evaluate_pairs(problem, w, state, a, z, params.allow_overtime)
        red = to_scaled(ev.total) + d_tech[z] - d_ticket[a]
        good = ev.feasible & (ev.total < pen_w[a]) & (red < slack)
        out_t.append(a[good])
        out_k.append(z[good])
        out_c.append(ev.total[good])
        return int(np.count_nonzero(good & (red < 0)))

    tvec = unit_vectors(t.lat_deg, t.lon_deg)
    kvec = unit_vectors(state.lat_deg, state.lon_deg)
    kvec_t = np.ascontiguousarray(kvec.T)
    located_t, located_k = np.any(tvec != 0.0, axis=1), np.any(kvec != 0.0, axis=1)
    dt_k = base + d_tech
    for rows, elig in groups:
        if negative < 0:
            break
        if rows.size == 0 or elig.size == 0:
            continue
        priced += rows.size * elig.size
        cut_t = d_ticket[rows] + bonus[rows] + margin + slack  # bound + d_tech < cut_t
        pen_t = pen_s[rows] + bonus[rows] + margin  # and: bound < pen_t
        # Band tickets by threshold (overdue ones apart: their lateness grows with any
        # travel), technicians by potential, so that block bounds stay tight.
        overdue = resp[rows] <= problem.now_s
        span = float(np.ptp(cut_t)) + 1.0 if cut_t.size else 1.0
        r_ord, r_c, r_r = _blocks(tvec[rows], TICKET_BLOCK, cut_t + 2 * span * overdue)
        e_ord, e_c, e_r = _blocks(kvec[elig], TECH_BLOCK, d_tech[elig] + base[elig])
        rows, cut_t, pen_t = rows[r_ord], cut_t[r_ord], pen_t[r_ord]
        elig = elig[e_ord]
        ne = elig.size
        tb, kb = TICKET_BLOCK, TECH_BLOCK
        e_slope = _per_block(slope[elig], kb, "min")
        e_base = _per_block(base[elig], kb, "min")
        e_dt = _per_block(base[elig] + d_tech[elig], kb, "min")
        e_ready = _per_block(state.ready_s[elig], kb, "min")
        e_tpc = travel_per_chord / _per_block(k.speed_kmh[elig], kb, "max")
        b_cut, b_pen = _per_block(cut_t, tb, "max"), _per_block(pen_t, tb, "max")
        b_lw = _per_block(lw[rows], tb, "min") * COST_SCALE
        b_resp = _per_block(resp[rows], tb, "max")
        b_due = _per_block(due[rows] - dur[rows], tb, "max")
        gap = np.linalg.norm(r_c[:, None, :] - e_c[None, :, :], axis=2)
        gap = np.maximum(gap - r_r[:, None] - e_r[None, :], 0.0)
        start = e_ready[None, :] + gap * e_tpc[None, :]
        late = b_lw[:, None] * (
            np.maximum(start - b_resp[:, None], 0.0)
            + np.maximum(start - b_due[:, None], 0.0)
        )
        lb = e_slope[None, :] * gap + late
        look = (lb + e_dt[None, :] < b_cut[:, None]) & (
            lb + e_base[None, :] < b_pen[:, None]
        )
        for b in np.flatnonzero(look.any(axis=1)).tolist():
            if time.perf_counter() > deadline:
                negative = -1
                break
            sl = slice(b * tb, min((b + 1) * tb, rows.size))
            near = np.flatnonzero(look[b])
            cols = (near[:, None] * TECH_BLOCK + np.arange(TECH_BLOCK)).ravel()
            cols = cols[cols < ne]
            br, ec = rows[sl], elig[cols]
            chord = _chords(tvec[br], kvec_t[:, ec])
            if not (located_t[br].all() and located_k[ec].all()):
                chord *= located_t[br, None] & located_k[None, ec]
            # First the bound without lateness (>= 0, it can only raise the bound) over
            # the whole block, then the full bound on the pairs that pass it.
            ii, jj = np.nonzero(chord * slope[ec] + dt_k[ec] < cut_t[sl, None])
            if ii.size == 0:
                continue
            p_t, p_k, chord = br[ii], ec[jj], chord[ii, jj]
            travel = chord * (travel_per_chord / k.speed_kmh[p_k])
            start = state.ready_s[p_k] + travel
            late = lw[p_t] * (
                np.maximum(start - resp[p_t], 0.0)
                + np.maximum(start + dur[p_t] - due[p_t], 0.0)
            )
            lbp = chord * slope[p_k] + base[p_k] + COST_SCALE * late
            ok = (lbp + d_tech[p_k] < cut_t[sl][ii]) & (lbp < pen_t[sl][ii])
            p_t, p_k = p_t[ok], p_k[ok]
            if p_t.size == 0:
                continue
            keys = pair_keys(p_t, p_k, m)
            pos = np.minimum(np.searchsorted(arc_keys, keys), max(arc_keys.size - 1, 0))
            fresh = arc_keys[pos] != keys if arc_keys.size else np.ones(keys.size, bool)
            wait_t.append(p_t[fresh])
            wait_k.append(p_k[fresh])
            if sum(x.size for x in wait_t) >= PAIR_CELLS:
                evaluated += sum(x.size for x in wait_t)
                negative += evaluate_waiting()
    if negative >= 0 and wait_t:
        evaluated += sum(x.size for x in wait_t)
        negative += evaluate_waiting()
    if not out_t:
        e = np.zeros(0, np.int64)
        return e, e, np.zeros(0), priced, evaluated, negative
    return (
        np.concatenate(out_t),
        np.concatenate(out_k),
        np.concatenate(out_c),
        priced,
        evaluated,
        negative,
    )
