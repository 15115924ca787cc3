"""The sequencing's drive of every order of a queue: each order's legs vs each row's legs once.

``solver.sequence.sequence_queues`` and ``queues_overrun`` drive every permutation of each
queue of up to ``EXACT_SEQUENCE_MAX`` tickets. This times, on the queues of a solved
plan (``solver.synthetic.random_problem``, seed 1, 10% assigned) and in the same
process, the plain drive of the permutations (:func:`solver.sequence.simulate`, a
haversine per stop of each order: q! x q per queue) against the drive from each queue's
legs computed once (:func:`solver.sequence.simulate_local` over
:func:`solver.sequence.row_legs`: q(q+1)/2 per queue), alternating, best of
``--repeats``, per queue length and in all; it checks that both give the same arrays
bit for bit. CPU seconds (``time.process_time``). Usage::

    OMP_NUM_THREADS=1 ./dev bench row_legs [--size 10k] [--capacity 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from solver import SolveParams, solve
from solver.constants import EXACT_SEQUENCE_MAX
from solver.cost import late_pricing
from solver.sequence import _perms, simulate, simulate_local
from solver.solve import tech_state
from solver.synthetic import random_problem

if TYPE_CHECKING:
    from collections.abc import Callable

SIZES = {"1k": (1_000, 100), "10k": (10_000, 1_000), "50k": (50_000, 5_000)}


def every_order(*inputs: Any) -> tuple[np.ndarray, ...]:
    """The plain drive: every permutation of each queue materialised and driven."""
    problem, pricing, base, perms, *at = inputs
    return simulate(problem, pricing, base[:, perms], *at)


def each_queue(*inputs: Any) -> tuple[np.ndarray, ...]:
    """The drive from each queue's legs computed once."""
    problem, pricing, base, perms, *at = inputs
    return simulate_local(problem, pricing, base, perms, *at)


def _cpu(run: Callable[..., object], inputs: tuple[Any, ...], repeats: int) -> float:
    """Least CPU seconds of ``repeats`` calls ``run(*inputs)``."""
    best = np.inf
    for _ in range(repeats):
        c0 = time.process_time()
        run(*inputs)
        best = min(best, time.process_time() - c0)
    return float(best)


def main() -> int:
    """Solve, then time both drives of the plan's queues per queue length."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="10k")
    ap.add_argument("--capacity", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n, m = SIZES[args.size]
    problem = random_problem(n, m, seed=1, capacity=args.capacity, assigned_frac=0.1)
    params = SolveParams(time_limit_s=1000.0)
    plan = solve(problem, params).technician
    state = tech_state(problem, params.weights)
    pricing = late_pricing(problem, params.weights)
    start = (state.lat_deg, state.lon_deg, state.ready_s)
    rows = np.flatnonzero((plan >= 0) & ~problem.tickets.pinned)
    rows = rows[np.argsort(plan[rows], kind="stable")]
    techs, first, count = np.unique(plan[rows], return_index=True, return_counts=True)
    print(f"{args.size} ({n} x {m}), capacity {args.capacity}: queues of the solved"
          f" plan; load {os.getloadavg()[0]:.1f},"
          f" OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")  # fmt: skip
    total = [0.0, 0.0]
    for q in range(1, EXACT_SEQUENCE_MAX + 1):
        sel = count == q
        if not sel.any():
            continue
        tc = techs[sel]
        base = rows[first[sel][:, None] + np.arange(q)]
        perms = _perms(q)
        inputs = (problem, pricing, base, perms, tc, *(x[tc] for x in start))
        pairs = zip(every_order(*inputs), each_queue(*inputs), strict=True)
        same = all(np.array_equal(a, b) for a, b in pairs)
        spent = [0.0, 0.0]
        for _ in range(3):  # alternating rounds
            spent[0] += _cpu(every_order, inputs, args.repeats)
            spent[1] += _cpu(each_queue, inputs, args.repeats)
        total[0] += spent[0]
        total[1] += spent[1]
        print(f"  q={q}: {tc.size} queues x {perms.shape[0]} orders: every order's legs"
              f" {spent[0] / 3 * 1e3:.2f} ms, each queue's legs once"
              f" {spent[1] / 3 * 1e3:.2f} ms, ratio {spent[1] / spent[0]:.2f},"
              f" identical {same}")  # fmt: skip
    print(f"  all queues: ratio {total[1] / max(total[0], 1e-12):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
