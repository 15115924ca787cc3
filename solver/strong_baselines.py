"""Strong baselines: what a good human dispatcher does, and a regret-insertion greedy.

Same interface and output as :func:`solver.baselines.baseline_solve`; both keep held tickets
where their technician can still take them (step 1 of :mod:`solver.baselines`, so they move
tickets as rarely as the simple baselines), then place the rest one at a time at the end of a
technician's queue, checking every hard constraint with :func:`solver.cost.evaluate_pairs`
against the queue's tail (skills, exclusions, a free place, and, unless overtime is allowed,
work ending before the shift does):

- ``priority_edd``: open tickets sorted by priority (P1 first), then resolution due time,
  then creation time; each goes to the *nearest* feasible technician (least travel from
  where its queue ends; ties: fewest queued, lowest row).
- ``regret``: regret-2 insertion. Each ticket's insertion cost at each technician is the
  solver's own pair cost at the queue's tail (travel, lateness weighted by priority and
  tier, waiting, ...; :func:`solver.cost.evaluate_pairs`). At every step the ticket whose
  second-best option is dearest relative to its best (the largest regret; a ticket with one
  option left first) is placed at its best technician. Cost per placement: one
  (queued tickets x 1 technician) evaluation plus a partition over the cost matrix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solver.cost import TechState, evaluate_pairs

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.baselines import Tails
    from solver.model import Problem, SolveParams

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]

STRONG_BASELINES = ("priority_edd", "regret")
"""Names of the strong baselines (accepted by :func:`solver.baselines.baseline_solve`)."""


def _tail_state(tails: Tails) -> TechState:
    return TechState(tails.lat, tails.lon, tails.ready, tails.queued, tails.left)


def _evaluate(
    problem: Problem,
    params: SolveParams,
    tails: Tails,
    rows: IntArray,
    techs: IntArray,
) -> tuple[npt.NDArray[np.bool_], FloatArray, FloatArray, FloatArray]:
    """Feasible, travel, finish and pair cost of ``rows`` appended to ``techs`` (equal length)."""
    e, _ = evaluate_pairs(
        problem, params.weights, _tail_state(tails), rows, techs, params.allow_overtime
    )
    return e.feasible, e.travel_s, e.finish_s, e.total


def priority_edd(
    problem: Problem, params: SolveParams, tails: Tails, queue: IntArray
) -> IntArray:
    """Technician row per ticket of ``queue`` (-1: none can take it), priority then due."""
    t = problem.tickets
    m = problem.technicians.count
    order = np.lexsort(
        (queue, t.created_s[queue], t.resolution_due_s[queue], t.priority[queue])
    )
    chosen = np.full(queue.size, -1, np.int64)
    techs = np.arange(m, dtype=np.int64)
    for i in order:
        row = int(queue[i])
        ok, travel, finish, _ = _evaluate(
            problem, params, tails, np.full(m, row, np.int64), techs
        )
        if not ok.any():
            continue
        cand = techs[ok]
        j = int(cand[np.lexsort((cand, tails.queued[cand], travel[cand]))[0]])
        tails.place(problem, row, j, float(finish[j]))
        chosen[i] = j
    return chosen


def regret_insertion(
    problem: Problem, params: SolveParams, tails: Tails, queue: IntArray
) -> IntArray:
    """Technician row per ticket of ``queue`` (-1: none can take it), by regret-2."""
    m = problem.technicians.count
    q = queue.size
    chosen = np.full(q, -1, np.int64)
    if q == 0 or m == 0:
        return chosen
    qi, ki = np.repeat(np.arange(q), m), np.tile(np.arange(m, dtype=np.int64), q)
    ok, _, _, total = _evaluate(problem, params, tails, queue[qi], ki)
    cost = np.where(ok, total, np.inf).reshape(q, m)
    live: npt.NDArray[np.bool_] = np.asarray(np.isfinite(cost).any(axis=1))
    while live.any():
        rows = np.flatnonzero(live)
        sub = cost[rows]
        if m > 1:
            two = np.partition(sub, 1, axis=1)[:, :2]
        else:
            two = np.column_stack([sub[:, 0], np.full(rows.size, np.inf)])
        regret = two[:, 1] - two[:, 0]  # inf when only one option is left
        # Largest regret; ties: cheapest best option, then lowest queue position.
        pick = np.lexsort((rows, two[:, 0], -regret))[0]
        i = int(rows[pick])
        j = int(np.argmin(cost[i]))
        row = int(queue[i])
        _, _, finish, _ = _evaluate(
            problem, params, tails, np.array([row], np.int64), np.array([j], np.int64)
        )
        tails.place(problem, row, j, float(finish[0]))
        chosen[i] = j
        live[i] = False
        cost[i] = np.inf
        rest = np.flatnonzero(live)
        if rest.size:
            ok_j, _, _, tot_j = _evaluate(
                problem, params, tails, queue[rest], np.full(rest.size, j, np.int64)
            )
            cost[rest, j] = np.where(ok_j, tot_j, np.inf)
            live[rest] = np.isfinite(cost[rest]).any(axis=1)
    return chosen
