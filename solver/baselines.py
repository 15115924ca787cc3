"""Baselines ticket platforms use today: round robin, least-loaded, nearest-available FIFO.

Same interface and output as :func:`solver.solve`: hard constraints hold, queues are
sequenced and costed by the same code, so objectives and KPIs compare like for like.
They never move an already assigned ticket (unless its technician became infeasible) and
take new tickets first come, first served (``created_s``, then row).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from solver.candidates import Candidates
from solver.cost import evaluate_pairs
from solver.finalize import finalize
from solver.model import NO_TECHNICIAN, Problem, Solution, SolveParams, SolveStatus
from solver.solve import tech_state

if TYPE_CHECKING:
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]

BASELINES = ("round_robin", "least_loaded", "nearest")
"""Names accepted by :func:`baseline_solve`."""


def baseline_solve(
    problem: Problem, params: SolveParams, name: str, cursor: int = 0
) -> tuple[Solution, int]:
    """Dispatch with one baseline rule.

    Parameters
    ----------
    problem, params
        As for :func:`solver.solve` (weights are used only to cost the result).
    name
        ``"round_robin"`` (next technician in row order after ``cursor`` that can take
        it), ``"least_loaded"`` (fewest tickets queued; ties: nearest) or ``"nearest"``
        (shortest travel from where the technician will be; ties: fewest queued).
    cursor
        Round-robin position (technician row to try first); ignored by the others.

    Returns
    -------
    tuple
        (the solution, the next round-robin cursor).

    Raises
    ------
    ValueError
        For an unknown ``name``.
    """
    if name not in BASELINES:
        raise ValueError(
            f"name: unknown baseline {name!r}, expected one of {BASELINES}"
        )
    t0 = time.perf_counter()
    t, k = problem.tickets, problem.technicians
    n, m = t.count, k.count
    w = params.weights
    state = tech_state(problem, w)
    # Queue tails: each new ticket joins the end of its technician's queue (FIFO).
    tail_lat, tail_lon = state.lat_deg.copy(), state.lon_deg.copy()
    tail_s = state.ready_s.copy()
    count = np.zeros(m, np.int64)
    tech_of = np.full(n, NO_TECHNICIAN, np.int64)
    any_feasible = np.zeros(n, np.bool_)
    arcs_t: list[int] = []
    arcs_k: list[int] = []
    techs = np.arange(m, dtype=np.int64)
    keep = np.flatnonzero(~t.pinned & (t.current_technician >= 0))
    new = np.flatnonzero(~t.pinned & (t.current_technician < 0))
    order = np.concatenate([keep, new[np.lexsort((new, t.created_s[new]))]])
    tail_state = type(state)(tail_lat, tail_lon, tail_s, state.load, state.free_slots)
    for row in order.tolist():
        rows = np.full(m, row, np.int64)
        ev, _ = evaluate_pairs(
            problem, w, tail_state, rows, techs, params.allow_overtime
        )
        ok = ev.feasible
        any_feasible[row] = bool(ok.any())
        ok &= count < state.free_slots
        queued = count + state.load  # pinned tickets count as load too
        cur = int(t.current_technician[row])
        if cur >= 0 and not ok[cur]:
            cur = (
                NO_TECHNICIAN  # its technician can no longer take it: dispatch it anew
            )
        choice = cur
        if choice < 0 and ok.any():
            cand = np.flatnonzero(ok)
            if name == "round_robin":
                choice = int(
                    cand[
                        np.argmax(((cand - cursor) % m) == ((cand - cursor) % m).min())
                    ]
                )
                cursor = (choice + 1) % m
            elif name == "least_loaded":
                choice = int(
                    cand[np.lexsort((cand, ev.travel_s[cand], queued[cand]))[0]]
                )
            else:
                choice = int(
                    cand[np.lexsort((cand, queued[cand], ev.travel_s[cand]))[0]]
                )
        if choice < 0:
            good = np.flatnonzero(ev.feasible)
            arcs_t.extend([row] * good.size)
            arcs_k.extend(good.tolist())
            continue
        tech_of[row] = choice
        count[choice] += 1
        tail_s[choice] = ev.finish_s[choice]
        tail_lat[choice], tail_lon[choice] = t.lat_deg[row], t.lon_deg[row]
    cands = Candidates(
        np.asarray(arcs_t, np.int64),
        np.asarray(arcs_k, np.int64),
        np.zeros(len(arcs_t)),
        any_feasible,
    )
    phases = {"assignment": time.perf_counter() - t0}
    sol = finalize(
        problem,
        params,
        state,
        cands,
        tech_of,
        SolveStatus.FEASIBLE,
        np.zeros(0, np.int64),
        phases,
        t0,
    )
    return sol, cursor
