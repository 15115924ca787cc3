"""How much cheaper a second solve from a cold solve's own committed plan drives.

Usage::

    ./dev bench repair_loss [--sizes 1000x100,3000x300,10000x1000] [--seeds 5]
        [--assigned 0.0]

Issue 14 Must 2's "repair loss": solve a region cold, commit the plan, solve again at the
same clock, and the second plan can drive cheaper than the first (10k x 1k seed 1: 1.61%).
Per instance (``solver.synthetic.random_problem(n, m, seed, capacity=3,
assigned_frac=--assigned)``): a cold solve (time limit 1000 s, so that a loaded machine's
deadline cuts no work), then a solve of the same problem with that plan as ``previous``
(:func:`solver.solve`: its technicians become the incumbents of the tickets nobody holds,
as a committed plan's would). Both plans are priced on the first problem as driven, in
two parts (:func:`solver.polish.driven_parts`: the sequenced queues and the unassigned
penalties), and judged by the static snapshots' evaluator
(:func:`simulations.plan_eval.plan_kpis`: breaches, missed, travel per assigned ticket).

Prints per instance the first solve's CPU seconds, both costs, the loss (how much cheaper
the second plan drives, % of the first; never negative: the second solve keeps the
committed plan unless it finds one cheaper with moves priced, :func:`solver.core.
keep_incumbent`, and moves cost nothing on the first problem), the rows it moved, the
change of each part and both plans' KPIs; then the means per size. A loss is not a
quality loss by itself: compare the KPIs. The machine's load is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from simulations.plan_eval import PlanKpis, plan_kpis
from solver import Problem, Solution, SolveParams, solve
from solver.cost import late_pricing
from solver.polish import driven_parts
from solver.solve import tech_state
from solver.synthetic import random_problem


def priced(problem: Problem, params: SolveParams, sol: Solution) -> tuple[float, float]:
    """A plan's cost as driven on ``problem`` (weight units) and its unassigned penalties'
    part."""
    w = params.weights
    plan = np.where(problem.tickets.pinned, -1, sol.technician)
    queues, unassigned = driven_parts(
        problem, w, late_pricing(problem, w), tech_state(problem, w), plan,
        params.allow_overtime,
    )  # fmt: skip
    return queues + unassigned, unassigned


def _kpis(k: PlanKpis) -> tuple[float, float, float]:
    return k.breaches, k.missed, k.travel_per_ticket_s / 60.0


def main() -> int:
    """Solve every instance twice; print the loss and both plans' KPIs."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000x100,3000x300,10000x1000")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--assigned", type=float, default=0.0, help="assigned_frac")
    args = ap.parse_args()
    params = SolveParams(time_limit_s=1000.0)
    print(f"repair loss: load {os.getloadavg()[0]:.1f},"
          f" OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")  # fmt: skip
    for size in args.sizes.split(","):
        n, m = (int(x) for x in size.split("x"))
        rows = []
        for seed in range(args.seeds):
            problem = random_problem(
                n, m, seed=seed, capacity=3, assigned_frac=args.assigned
            )
            c0 = time.process_time()
            first = solve(problem, params)
            cpu = time.process_time() - c0
            second = solve(problem, params, previous=first)
            (d0, u0), (d1, u1) = (
                priced(problem, params, first),
                priced(problem, params, second),
            )
            loss = 100.0 * (d0 - d1) / d0
            moved = int(np.count_nonzero(first.technician != second.technician))
            k0 = _kpis(plan_kpis(problem, first.technician, first.position))
            k1 = _kpis(plan_kpis(problem, second.technician, second.position))
            rows.append((cpu, loss, *k0, *k1))
            print(f"{size}-s{seed}: CPU {cpu:.3f} s, driven {d0:.0f}, second {d1:.0f}"
                  f" (loss {loss:.3f}%, moved {moved}; queues {(d1 - u1) - (d0 - u0):+.0f},"
                  f" unassigned {u1 - u0:+.0f}); breaches {k0[0]:.0f}/{k1[0]:.0f},"
                  f" missed {k0[1]:.0f}/{k1[1]:.0f},"
                  f" travel {k0[2]:.2f}/{k1[2]:.2f} min", flush=True)  # fmt: skip
        a = np.array(rows)
        mean = a.mean(axis=0)
        print(f"{size} mean of {len(rows)}: CPU {mean[0]:.3f} s, loss {mean[1]:.3f}%"
              f" (max {a[:, 1].max():.3f}%, above 0 in {int((a[:, 1] > 0).sum())});"
              f" first/second breaches {mean[2]:.1f}/{mean[5]:.1f},"
              f" missed {mean[3]:.1f}/{mean[6]:.1f},"
              f" travel {mean[4]:.2f}/{mean[7]:.2f} min", flush=True)  # fmt: skip
    print(f"after: load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
