"""Design measurement for incremental solving in the live loop (issue 14 item 6, not built):
re-price the previous cycle's arcs at the new clock instead of building candidates again.

    ./dev bench warm_reprice [--tickets 600] [--technicians 100] [--turnover 20] [--cycles 11]

The live loop's problem changes between two cycles of a region in ways
``solver.incremental.IncrementalSolver`` refuses: the clock moves (every cost depends on
``now``), rows leave (closed tickets) and join (new ones). This simulates cycles of one
region (``solver.synthetic.random_problem`` rows, a sliding window: ``--turnover`` rows
leave and as many join per cycle, the clock ``--dt-s`` later) and solves each cycle twice:

- ``cold``: ``solver.solve``;
- ``warm``: the previous cycle's arcs of the rows still present (matched by identity),
  re-priced at the new clock and technician state with ``solver.cost.evaluate_pairs``
  (vectorised; infeasible ones dropped), plus fresh candidates for the new rows only; then
  the same certified flow and repair (``solver.core.run_core``) as a cold solve.

The certificate prices every pair left out against the flow's potentials, so both flows
are optimal over all pairs: the bound must be equal (checked every cycle, up to the
integer scaling of the arc costs: ``COST_SCALE`` per row). The plans may
differ where the shift repair starts from another flow optimum (printed: warm objective
minus cold, %). Reports the median process CPU per solve of both and their ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import TYPE_CHECKING

import numpy as np

from solver import SolveParams, solve
from solver.candidates import Candidates, build_candidates
from solver.constants import COST_SCALE
from solver.core import Core, run_core
from solver.cost import drop_penalty, evaluate_pairs, pair_keys
from solver.finalize import finalize
from solver.model import Problem, Tickets
from solver.solve import tech_state
from solver.synthetic import random_problem

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.model import Solution

    IntArray = npt.NDArray[np.int64]


def window(pool: Problem, rows: IntArray, now_s: float) -> Problem:
    """The rows ``rows`` of ``pool`` at clock ``now_s`` (no exclusions or preferences)."""
    t = pool.tickets
    per_row = {
        f.name: getattr(t, f.name)[rows]
        for f in dataclasses.fields(t)
        if f.name not in ("excluded", "preferred")
    }
    none = np.empty((0, 2), np.int64)
    return Problem(
        Tickets(**per_row, excluded=none, preferred=none), pool.technicians, now_s
    )


def warm(
    prev: Core, prev_ids: IntArray, problem: Problem, ids: IntArray, params: SolveParams
) -> tuple[Solution, Core]:
    """Solve ``problem`` from ``prev``'s arcs re-priced (rows matched by ``ids``)."""
    t0 = time.perf_counter()
    state = tech_state(problem, params.weights)
    n, m = problem.tickets.count, problem.technicians.count
    row_of = np.full(int(max(prev_ids.max(), ids.max())) + 1, -1, np.int64)
    row_of[ids] = np.arange(n)
    c = prev.cands
    rows = row_of[prev_ids[c.tix]]
    keep = rows >= 0
    tix, tech = rows[keep], c.tech[keep]
    ok = ~problem.tickets.pinned[tix] & (state.free_slots[tech] > 0)
    tix, tech = tix[ok], tech[ok]
    ev, _ = evaluate_pairs(
        problem, params.weights, state, tix, tech, params.allow_overtime
    )
    tix, tech, cost = tix[ev.feasible], tech[ev.feasible], ev.total[ev.feasible]
    new_rows = np.flatnonzero(~np.isin(ids, prev_ids))
    fresh = build_candidates(problem, params, state, new_rows)
    tix = np.concatenate([tix, fresh.tix])
    tech = np.concatenate([tech, fresh.tech])
    cost = np.concatenate([cost, fresh.cost])
    _, first = np.unique(pair_keys(tix, tech, m), return_index=True)
    tix, tech, cost = tix[first], tech[first], cost[first]
    cheap = cost < drop_penalty(problem, params.weights)[tix]
    any_feasible = np.zeros(n, np.bool_)
    any_feasible[tix] = True
    any_feasible[new_rows] |= fresh.any_feasible[new_rows]
    cands = Candidates(tix[cheap], tech[cheap], cost[cheap], any_feasible)
    core = Core.build(problem, params, state, cands)
    tech_of, status = run_core(core)
    solution = finalize(
        problem, params, core.state, core.cands, tech_of, status, {}, t0,
        core.certificate, core.bound_gap,
    )  # fmt: skip
    return solution, core


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=600)
    parser.add_argument("--technicians", type=int, default=100)
    parser.add_argument("--turnover", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=11)
    parser.add_argument("--dt-s", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    n, step, params = args.tickets, args.turnover, SolveParams()
    pool = random_problem(n + (args.cycles + 1) * step, args.technicians, args.seed)
    ids = np.arange(n)
    first = window(pool, ids, 0.0)
    state = tech_state(first, params.weights)
    cands = build_candidates(
        first, params, state, np.flatnonzero(~first.tickets.pinned)
    )
    prev = Core.build(first, params, state, cands)
    run_core(prev)
    cold_cpu, warm_cpu, diff, same_bound = [], [], [], 0
    for k in range(1, args.cycles + 1):
        now_ids = np.arange(k * step, k * step + n)
        problem = window(pool, now_ids, k * args.dt_s)
        c0 = time.process_time()
        cold = solve(problem, params)
        c1 = time.process_time()
        hot, prev = warm(prev, ids, problem, now_ids, params)
        c2 = time.process_time()
        ids = now_ids
        cold_cpu.append(c1 - c0)
        warm_cpu.append(c2 - c1)
        diff.append(100 * (hot.objective - cold.objective) / abs(cold.objective))
        a, b = cold.stats.model_bound, hot.stats.model_bound
        # equal up to the integer scaling of each row's arc cost (COST_SCALE)
        same_bound += int(
            a is not None and b is not None and abs(a - b) <= n / COST_SCALE
        )
    cold_ms = 1000 * statistics.median(cold_cpu)
    warm_ms = 1000 * statistics.median(warm_cpu)
    print(
        f"{n} tickets x {args.technicians} technicians, {step} rows leave and {step} join "
        f"per cycle, clock +{args.dt_s:g} s, {args.cycles} cycles"
    )
    print(
        f"solver CPU per solve (median): cold {cold_ms:.1f} ms, warm {warm_ms:.1f} ms"
    )
    print(f"cold / warm: {cold_ms / warm_ms:.2f}")
    print(f"same certified bound: {same_bound}/{args.cycles}")
    print("warm objective - cold objective, %:", [round(d, 3) for d in diff])
    print("load (1/5/15 min):", [round(x, 2) for x in __import__("os").getloadavg()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
