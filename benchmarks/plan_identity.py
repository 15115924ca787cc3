"""Whether a solver change keeps every plan: dump the plans of a fixed instance set, compare.

Usage::

    ./dev bench plan_identity --dump before.npz [--big]
    (change the solver)
    ./dev bench plan_identity --against before.npz [--big] [--only 10k]

Instances: the ``static_snapshot`` snapshots (``solver.synthetic.random_problem``) 200x20,
500x50, 1000x100 and 3000x300, seeds 0-4; the ``solver_phases`` instances 10k x 1k (capacity
3, 10% assigned) seeds 0-4; with ``--big`` also 50k x 5k seed 1. Each is solved with default
parameters and a time limit of 1000 s (so that a loaded machine's deadline cuts no work).
Per instance it prints the CPU seconds, objective, status and SLA breaches, and with
``--against`` whether the plan is identical to the dumped one: same technician, queue
position, start time, SLA outcome and unassigned reason per ticket, same objective and
status. Exit status 1 when any plan differs. The dump is an ``.npz`` file (write it where
you like; nothing is kept in the repository).
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

import numpy as np

from solver import SolveParams, solve
from solver.synthetic import random_problem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from solver import Problem, Solution

STATIC = ((200, 20), (500, 50), (1000, 100), (3000, 300))
SEEDS = range(5)
PER_TICKET = ("technician", "position", "start_s", "sla_met", "reason")


def instances(big: bool) -> Iterator[tuple[str, Callable[[], Problem]]]:
    """(name, builder) of every compared instance."""
    for n, m in STATIC:
        for s in SEEDS:
            yield f"static-{n}x{m}-s{s}", lambda n=n, m=m, s=s: random_problem(n, m, s)
    sizes = [(10_000, 1_000, SEEDS)] + ([(50_000, 5_000, range(1, 2))] if big else [])
    for n, m, seeds in sizes:
        for s in seeds:
            yield (
                f"{n // 1000}k-s{s}",
                lambda n=n, m=m, s=s: random_problem(
                    n, m, seed=s, capacity=3, assigned_frac=0.1
                ),
            )


def record(sol: Solution) -> dict[str, np.ndarray]:
    """The arrays that must not change, by name."""
    out = {name: np.asarray(getattr(sol, name)) for name in PER_TICKET}
    out["objective"] = np.asarray(sol.objective)
    out["status"] = np.asarray(sol.stats.status.name)
    return out


def differences(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> list[str]:
    """Names of the recorded arrays that differ (NaN equal to NaN)."""
    return [
        name
        for name, value in new.items()
        if not np.array_equal(old[name], value, equal_nan=value.dtype.kind == "f")
    ]


def main() -> int:
    """Solve every instance; dump the plans or compare them with a dump."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dump", help="write the plans to this .npz file")
    ap.add_argument("--against", help="compare with the plans of this .npz file")
    ap.add_argument("--big", action="store_true", help="also 50k x 5k seed 1")
    ap.add_argument(
        "--only", default="", help="only instances whose name contains this"
    )
    args = ap.parse_args()
    old = dict(np.load(args.against)) if args.against else {}
    params = SolveParams(time_limit_s=1000.0)
    dumped: dict[str, np.ndarray] = {}
    differ = 0
    for name, build in instances(args.big):
        if args.only not in name:
            continue
        problem = build()
        c0 = time.process_time()
        sol = solve(problem, params)
        cpu = time.process_time() - c0
        rec = record(sol)
        dumped.update({f"{name}/{key}": value for key, value in rec.items()})
        breaches = int(np.count_nonzero((sol.technician >= 0) & ~sol.sla_met))
        line = (
            f"{name}: CPU {cpu:.3f} s, objective {sol.objective:.2f},"
            f" {sol.stats.status.name}, breaches {breaches}"
        )
        if old:
            mine = {key: old.get(f"{name}/{key}") for key in rec}
            if any(value is None for value in mine.values()):
                line += "  (not in the dump)"
            else:
                diff = differences(mine, rec)  # type: ignore[arg-type]
                differ += bool(diff)
                line += f"  DIFFERS: {', '.join(diff)}" if diff else "  identical"
        print(line, flush=True)
    if args.dump:
        np.savez_compressed(args.dump, **dumped)  # type: ignore[arg-type]
    if old:
        print(f"plans that differ: {differ}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
