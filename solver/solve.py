"""``solve``: candidates -> exact min-cost assignment over queue places -> sequencing -> Solution."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from solver.candidates import build_candidates
from solver.core import Core, run_core
from solver.cost import TechState, late_pricing
from solver.finalize import finalize
from solver.geo import next_location
from solver.model import NO_TECHNICIAN, CostWeights, Problem, Solution, SolveParams
from solver.sequence import sequence_queues


def tech_state(problem: Problem, weights: CostWeights) -> TechState:
    """Technicians after their pinned queues: location, ready time, load and free places.

    Pinned tickets stay on their technician at the head of its queue, sequenced among
    themselves (lateness, then travel) from ``max(now, free_at)``.

    Parameters
    ----------
    problem
        The instance.
    weights
        Weights (the lateness weight orders the pinned queue).

    Returns
    -------
    TechState
        Per technician: location and time its pinned queue ends, pinned load, and free
        places for movable tickets (0 when unavailable; never negative when the pinned
        load exceeds the capacity).
    """
    t, k = problem.tickets, problem.technicians
    m = k.count
    lat = np.asarray(k.lat_deg, np.float64).copy()
    lon = np.asarray(k.lon_deg, np.float64).copy()
    ready = np.maximum(np.asarray(k.free_at_s, np.float64), problem.now_s)
    pinned = np.flatnonzero(t.pinned)
    load = np.bincount(t.current_technician[pinned], minlength=m).astype(np.int64)
    if pinned.size:
        sch = sequence_queues(
            problem,
            late_pricing(problem, weights),
            pinned,
            t.current_technician[pinned],
            lat,
            lon,
            ready,
            True,
        )
        last = sch.position == load[t.current_technician[pinned]] - 1
        who = t.current_technician[pinned[last]]
        lat[who], lon[who] = next_location(
            lat[who], lon[who], t.lat_deg[pinned[last]], t.lon_deg[pinned[last]]
        )
        ready[who] = sch.finish_s[last]
    free = np.where(k.available, np.maximum(k.capacity - load, 0), 0).astype(np.int64)
    return TechState(lat, lon, ready, load, free)


def _with_previous(problem: Problem, previous: Solution | None) -> Problem:
    """Use ``previous.technician`` as the incumbent of unheld, unpinned tickets (same rows)."""
    if previous is None or previous.technician.shape[0] != problem.tickets.count:
        return problem
    t = problem.tickets
    prev = np.asarray(previous.technician, np.int64)
    prev = np.where(prev < problem.technicians.count, prev, NO_TECHNICIAN)
    cur = np.where(t.current_technician >= 0, t.current_technician, prev)
    if np.array_equal(cur, t.current_technician):
        return problem
    return dataclasses.replace(
        problem, tickets=dataclasses.replace(t, current_technician=cur)
    )


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
        unassigned reason; the objective (the plan's cost as driven) and its terms (see
        ``solver.cost``); statistics. ``status`` is OPTIMAL when the plan is the certified
        optimum of the first-in-queue flow over all pairs, else FEASIBLE with that
        optimum as ``stats.model_bound`` and the plan's first-in-queue price as
        ``stats.model_objective`` (the shift repair, the position rounds or polish changed
        it).

    Raises
    ------
    ValueError
        If ``problem`` or ``params`` is not a valid instance of its type.
    """
    if not isinstance(problem, Problem) or not isinstance(params, SolveParams):
        raise ValueError("solve: expected (Problem, SolveParams)")
    t0 = time.perf_counter()
    problem = _with_previous(problem, previous)
    if params.batch and problem.replan_after_s is not None:
        problem = dataclasses.replace(
            problem, replan_after_s=None
        )  # one-shot: no later
    core, t1 = cold_core(problem, params, t0)
    tech_of, status = run_core(core)
    t2 = time.perf_counter()
    phases = {"candidates": t1 - t0, "assignment": t2 - t1}
    return finalize(
        problem, params, core.state, core.cands, tech_of, status, phases, t0,
        core.certificate, core.bound_gap,
    )  # fmt: skip


def cold_core(problem: Problem, params: SolveParams, t0: float) -> tuple[Core, float]:
    """The flow network of a cold solve started at ``t0`` (``time.perf_counter``): the
    technicians' state, candidate arcs of every movable ticket and the time limit's
    deadline. Returns it with the time its candidates were built."""
    state = tech_state(problem, params.weights)
    movable = np.flatnonzero(~problem.tickets.pinned)
    cands = build_candidates(problem, params, state, movable)
    t1 = time.perf_counter()
    core = Core.build(problem, params, state, cands)
    core.deadline = t0 + params.time_limit_s
    return core, t1
