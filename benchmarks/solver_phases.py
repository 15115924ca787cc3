"""Where a full default solve spends its CPU: per phase of ``solver.solve``.

Usage::

    ./dev bench solver_phases [--size 10k] [--repeat 5] [--time-limit-s 10]

Solves the ``solver_scaling`` instance of ``--size`` (``solver.synthetic.random_problem``,
seed 1, capacity 3, 10% assigned) ``--repeat`` times with default parameters and prints
the process CPU seconds of the fastest solve, per phase: candidates (``cold_core``), the
certified flow, every shift repair (the first one, after the certified flow, and the
refill in them shown apart), the position rounds (their own repair included), polish, the
rest of the exact core (what no other column counts: mostly ``bound_churn``) and
finalize; then the
position rounds split into re-pricing (``place_costs``), flow (with its arcs: those worth
placing of the live ones), shift repair and the rest (sequencing, pricing the plans). The
phases are timed by wrapping those functions of ``solver.core`` / ``solver.solve`` in this
process (nothing is changed in the solver). CPU, not wall: on a shared machine it is the
figure that load disturbs least; compare two checkouts by alternating runs (``python -m
benchmarks.solver_phases`` from the other checkout's directory: the current directory
comes first on ``sys.path``, before the editable install). ``--time-limit-s`` large (e.g.
1000) keeps the solve's deadline from cutting work on a loaded machine.
``OMP_NUM_THREADS=1`` matches the service's solver workers (``dispatcher.loop.pool``).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from solver import SolveParams, solve
from solver.synthetic import random_problem

if TYPE_CHECKING:
    from collections.abc import Callable

SIZES = {"1k": (1_000, 100), "10k": (10_000, 1_000), "50k": (50_000, 5_000)}
CORE = ("certified_flow", "repair_shifts", "refill", "position_rounds", "polish")
IN_POSITION_ROUNDS = ("place_costs", "_flow")  # timed (also) inside the position rounds
SOLVE = ("cold_core", "run_core", "finalize")


def _timed(module: Any, name: str, spent: dict[str, float], open_: list[str]) -> None:
    """Replace ``module.name`` by a wrapper adding its CPU seconds to ``spent[name]``, and
    to ``spent["position_rounds/" + name]`` when the position rounds called it (``open_``:
    the timed calls under way). The position rounds' flow also adds its arcs to
    ``spent["position_rounds/arcs"]`` and the live candidate arcs to ``.../live"``."""
    inner: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        within = "position_rounds" in open_
        if within and name == "_flow":
            spent["position_rounds/arcs"] += float(args[1].sum())
            spent["position_rounds/live"] += float(args[0].alive.sum())
        open_.append(name)
        c0 = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            used = time.process_time() - c0
            open_.pop()
            spent[name] += used
            if within:
                spent[f"position_rounds/{name}"] += used

    setattr(module, name, wrapper)


def main() -> int:
    """Run the solves and print the fastest one's phases."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="10k")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--time-limit-s", type=float, default=10.0)
    args = ap.parse_args()
    spent: dict[str, float] = collections.defaultdict(float)
    open_: list[str] = []
    for name in CORE + IN_POSITION_ROUNDS:
        _timed(sys.modules["solver.core"], name, spent, open_)
    for name in SOLVE:
        _timed(sys.modules["solver.solve"], name, spent, open_)
    n, m = SIZES[args.size]
    problem = random_problem(n, m, seed=1, capacity=3, assigned_frac=0.1)
    params = SolveParams(time_limit_s=args.time_limit_s)
    best: tuple[float, float, dict[str, float]] | None = None
    objective = 0.0
    for _ in range(args.repeat):
        spent.clear()
        c0, w0 = time.process_time(), time.perf_counter()
        sol = solve(problem, params)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        objective = sol.objective
        if best is None or cpu < best[0]:
            best = (cpu, wall, dict(spent))
    assert best is not None
    cpu, wall, t = best
    first = t["repair_shifts"] - t.get("position_rounds/repair_shifts", 0.0)
    rest = (
        t["run_core"] - t["certified_flow"] - t["position_rounds"] - t["polish"] - first
    )
    print(f"{args.size} ({n} x {m}), best of {args.repeat}: CPU {cpu:.3f} s, wall {wall:.3f} s,"
          f" cost as driven {objective:.0f}; load {os.getloadavg()[0]:.1f},"
          f" OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")  # fmt: skip
    print(f"  candidates {t['cold_core']:.3f}  certified flow {t['certified_flow']:.3f}"
          f"  shift repairs {t['repair_shifts']:.3f} (first {first:.3f},"
          f" refill {t['refill']:.3f})"
          f"  position rounds {t['position_rounds']:.3f}  polish {t['polish']:.3f}"
          f"  rest of core {rest:.3f}  finalize {t['finalize']:.3f}")  # fmt: skip
    pr = {key.split("/")[1]: value for key, value in t.items() if "/" in key}
    if pr:
        other = (
            t["position_rounds"] - pr["place_costs"] - pr["_flow"] - pr["repair_shifts"]
        )
        print(f"  position rounds: re-pricing {pr['place_costs']:.3f}  flow {pr['_flow']:.3f}"
              f" ({pr['arcs']:.0f} arcs worth placing of {pr['live']:.0f} live)"
              f"  shift repair {pr['repair_shifts']:.3f}  sequencing and rest {other:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
