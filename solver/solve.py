"""``solve``: candidates -> exact min-cost assignment over queue places -> sequencing -> Solution."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from solver.candidates import Candidates, build_candidates
from solver.constants import COST_SCALE
from solver.cost import (
    TechState,
    lateness_weight,
    pair_keys,
    to_scaled,
    unassigned_penalty,
)
from solver.finalize import finalize
from solver.flow import assign_slots
from solver.local import local_resolve, places
from solver.model import (
    NO_TECHNICIAN,
    CostWeights,
    Problem,
    Solution,
    SolveParams,
    SolveStatus,
)
from solver.sequence import sequence_queues

if TYPE_CHECKING:
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]

REPAIR_ROUNDS = 2
"""Re-solves after sequencing found shift overruns (their arcs removed) before dropping them."""


def tech_state(problem: Problem, weights: CostWeights) -> TechState:
    """Technicians after their pinned queues: location, ready time, load and free places.

    Pinned tickets stay on their technician at the head of its queue, sequenced among
    themselves (lateness, then travel) from ``max(now, free_at)``.
    """
    t, k = problem.tickets, problem.technicians
    m = k.count
    lat = np.asarray(k.lat_deg, np.float64).copy()
    lon = np.asarray(k.lon_deg, np.float64).copy()
    ready = np.maximum(np.asarray(k.free_at_s, np.float64), problem.now_s)
    pinned = np.flatnonzero(t.pinned)
    load = np.bincount(t.current_technician[pinned], minlength=m).astype(np.int64)
    if pinned.size:
        lw = lateness_weight(problem, weights)
        sch = sequence_queues(
            problem, lw, pinned, t.current_technician[pinned], lat, lon, ready, True
        )
        last = sch.position == load[t.current_technician[pinned]] - 1
        who = t.current_technician[pinned[last]]
        lat[who], lon[who] = t.lat_deg[pinned[last]], t.lon_deg[pinned[last]]
        ready[who] = sch.finish_s[last]
    free = np.where(k.available, np.maximum(k.capacity - load, 0), 0).astype(np.int64)
    return TechState(lat, lon, ready, load, free)


def _with_previous(problem: Problem, previous: Solution | None) -> Problem:
    """Use ``previous.technician`` as the incumbent of unheld, unpinned tickets (same rows)."""
    if previous is None or previous.technician.shape[0] != problem.tickets.count:
        return problem
    import dataclasses

    t = problem.tickets
    prev = np.asarray(previous.technician, np.int64)
    prev = np.where(prev < problem.technicians.count, prev, NO_TECHNICIAN)
    cur = np.where(t.current_technician >= 0, t.current_technician, prev)
    if np.array_equal(cur, t.current_technician):
        return problem
    return dataclasses.replace(
        problem, tickets=dataclasses.replace(t, current_technician=cur)
    )


def run_core(
    problem: Problem, params: SolveParams, state: TechState, cands: Candidates
) -> tuple[IntArray, SolveStatus, IntArray]:
    """Flow + sequencing + shift repair on given candidates.

    Returns
    -------
    tuple
        (technician per ticket row for the movable tickets, else NO_TECHNICIAN; status;
        rows dropped for shift overruns after the repair rounds).
    """
    n = problem.tickets.count
    penalty = to_scaled(unassigned_penalty(problem, params.weights))
    arc_cost = to_scaled(cands.cost)
    bal = params.weights.balance * COST_SCALE
    free = state.free_slots.copy()
    lw = lateness_weight(problem, params.weights)
    slot_tech, slot_cost = places(free, state.load, bal)
    res = assign_slots(
        n, cands.tix, cands.tech, arc_cost, penalty, slot_tech, slot_cost
    )
    tech_of = np.full(n, NO_TECHNICIAN, np.int64)
    if res.status is not SolveStatus.OPTIMAL:
        return tech_of, res.status, np.zeros(0, np.int64)
    tech_of[cands.tix[res.arc_used]] = cands.tech[res.arc_used]
    return repair_shifts(problem, params, state, cands, arc_cost, penalty, tech_of, lw)


def repair_shifts(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    cands: Candidates,
    arc_cost: IntArray,
    penalty: IntArray,
    tech_of: IntArray,
    lw: FloatArray,
) -> tuple[IntArray, SolveStatus, IntArray]:
    """Remove shift overruns found by sequencing; re-place the displaced tickets locally.

    A technician whose sequenced queue overruns its shift keeps only as many places as
    its fitting tickets used; the overrunning (ticket, technician) arcs are removed and the
    neighbourhood of the displaced tickets is re-solved exactly (:func:`local_resolve`).
    After ``REPAIR_ROUNDS`` the remaining overruns are left unassigned (reason SHIFT).
    """
    status = SolveStatus.OPTIMAL
    if params.allow_overtime:
        return tech_of, status, np.zeros(0, np.int64)
    m = problem.technicians.count
    free = state.free_slots.copy()
    alive = np.ones(cands.tix.size, np.bool_)
    bal = params.weights.balance * COST_SCALE
    for rnd in range(REPAIR_ROUNDS + 1):
        rows = np.flatnonzero(tech_of >= 0)
        sch = sequence_queues(
            problem,
            lw,
            rows,
            tech_of[rows],
            state.lat_deg,
            state.lon_deg,
            state.ready_s,
            False,
        )
        bad = rows[sch.overrun]
        if bad.size == 0:
            return tech_of, status, np.zeros(0, np.int64)
        if rnd == REPAIR_ROUNDS:
            tech_of = tech_of.copy()
            tech_of[bad] = NO_TECHNICIAN
            return tech_of, SolveStatus.FEASIBLE, bad
        hit = np.unique(tech_of[bad])
        fits = np.bincount(tech_of[rows[~sch.overrun]], minlength=m)
        free[hit] = fits[hit]
        alive &= ~np.isin(
            pair_keys(cands.tix, cands.tech, m), pair_keys(bad, tech_of[bad], m)
        )
        tech_of = tech_of.copy()
        tech_of[bad] = NO_TECHNICIAN
        tech_of, status, _ = local_resolve(
            cands.tix[alive], cands.tech[alive], arc_cost[alive], penalty, free,
            state.load, bal, tech_of, bad,
        )  # fmt: skip
        if status is not SolveStatus.OPTIMAL:
            break
    return tech_of, status, np.zeros(0, np.int64)


def solve(
    problem: Problem, params: SolveParams, previous: Solution | None = None
) -> Solution:
    """Assign open tickets to technicians: exact over the candidate arcs, then sequenced.

    Parameters
    ----------
    problem
        One region's tickets, technicians and clock (validated on construction).
    params
        Weights, ``candidates_k`` / ``all_pairs``, ``allow_overtime``, seed.
    previous
        Optional previous solution with the same ticket rows: its technicians act as the
        incumbents (stability cost) of tickets whose ``current_technician`` is unset.
        Ignored when its length differs.

    Returns
    -------
    Solution
        Per ticket the technician, queue position, predicted times and SLA outcome or the
        unassigned reason; the objective and its terms (see ``solver.cost``); statistics.
        ``status`` is OPTIMAL when the assignment is optimal over the candidate arcs, and
        FEASIBLE when shift repair had to drop tickets after ``REPAIR_ROUNDS`` re-solves.

    Raises
    ------
    ValueError
        If ``problem`` or ``params`` is not a valid instance of its type.
    """
    if not isinstance(problem, Problem) or not isinstance(params, SolveParams):
        raise ValueError("solve: expected (Problem, SolveParams)")
    t0 = time.perf_counter()
    problem = _with_previous(problem, previous)
    state = tech_state(problem, params.weights)
    movable = np.flatnonzero(~problem.tickets.pinned)
    cands = build_candidates(problem, params, state, movable)
    t1 = time.perf_counter()
    tech_of, status, dropped = run_core(problem, params, state, cands)
    t2 = time.perf_counter()
    return finalize(
        problem, params, state, cands, tech_of, status, dropped,
        {"candidates": t1 - t0, "assignment": t2 - t1}, t0,
    )  # fmt: skip
