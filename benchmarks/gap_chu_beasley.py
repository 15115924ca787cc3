"""GAP (``solver.gap``) on Chu & Beasley's type C and D instances: gap to CP-SAT's bound.

Usage::

    ./dev bench gap_chu_beasley [--time-limit-s 30] [--workers N] [--seed 1]

Solves one seeded instance (``solver.gap.chu_beasley``, minimised) per type (C, D) and size
(10x100, 20x100, 10x200, 20x200 agents x jobs) with CP-SAT under a wall-time limit, using
the machine's cores unless ``--workers`` says otherwise. Prints objective, CP-SAT's best
bound, the gap in % (``solver.model.relative_gap_pct``), wall time, status and the load
average after each solve; ``uptime`` before and after. The issue 14 target is a gap <= 0.5%
within 30 s. Writes ``benchmarks/results/gap_chu_beasley.json``. The machine is shared:
the load average says how much of it the solver had.

Baseline in the same run (skip with ``--no-baseline``): the same instance as a 0-1 MIP in
HiGHS (``scipy.optimize.milp``, one thread: scipy exposes no thread option) under the same
limit, its primal value, dual bound, time and status (optimal: within HiGHS's default
relative MIP gap 1e-4), and the ratio of the gaps (CP-SAT / HiGHS; '-' when either shows
0.000).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from solver.gap import (
    CHU_BEASLEY_TYPES,
    GapInstance,
    available_cores,
    chu_beasley,
    solve_gap,
)
from solver.model import relative_gap_pct

SIZES = ((10, 100), (20, 100), (10, 200), (20, 200))  # agents x jobs
TARGET_GAP_PCT = 0.5


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def highs(inst: GapInstance, time_limit_s: float) -> dict[str, Any]:
    """The instance as a 0-1 MIP (x_ij, i * n + j) in HiGHS: value, dual bound, gap %."""
    m, n = inst.cost.shape
    pairs = np.arange(m * n)
    one_agent = coo_matrix(
        (np.ones(m * n), (np.tile(np.arange(n), m), pairs)), (n, m * n)
    )
    load = coo_matrix(
        (inst.weight.ravel().astype(float), (np.repeat(np.arange(m), n), pairs)),
        (m, m * n),
    )
    t0 = time.perf_counter()
    res = milp(
        inst.cost.ravel().astype(float),
        constraints=[
            LinearConstraint(one_agent, 1, 1),
            LinearConstraint(load, -np.inf, inst.capacity.astype(float)),
        ],
        integrality=np.ones(m * n),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit_s},
    )
    wall = time.perf_counter() - t0
    objective = None if res.x is None else round(float(res.fun))
    bound = getattr(res, "mip_dual_bound", None)
    gap = None
    if objective is not None and bound is not None:
        gap = relative_gap_pct(objective, float(bound))
    return {
        "objective": objective,
        "bound": bound,
        "gap_pct": gap,
        "wall_s": wall,
        "status": "optimal"
        if res.status == 0
        else "limit",  # optimal: mip_rel_gap 1e-4
        "message": res.message,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit-s", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the HiGHS MIP baseline"
    )
    args = parser.parse_args()
    workers = args.workers or available_cores()
    print(f"uptime before: {_uptime()}")
    print(f"limit {args.time_limit_s:g} s, {workers} CP-SAT workers, seed {args.seed}")
    print(
        f"{'type':<4} {'m x n':>8} {'objective':>9} {'bound':>9} {'gap %':>7}"
        f" {'time s':>7} {'status':<9} {'load 1m':>7}"
        + (
            ""
            if args.no_baseline
            else " | HiGHS objective   bound  gap % time s status  ratio"
        )
    )
    rows: list[dict[str, Any]] = []
    for kind in CHU_BEASLEY_TYPES:
        for m, n in SIZES:
            inst = chu_beasley(kind, m, n, np.random.default_rng(args.seed))
            res = solve_gap(
                inst,
                time_limit_s=args.time_limit_s,
                seed=args.seed,
                num_workers=workers,
            )
            load = os.getloadavg()[0]
            gap = "-" if res.gap_pct is None else f"{res.gap_pct:.3f}"
            bound = "-" if res.bound is None else f"{res.bound:.0f}"
            line = (
                f"{kind:<4} {f'{m}x{n}':>8} {res.objective:>9} {bound:>9} {gap:>7}"
                f" {res.wall_time_s:>7.2f} {res.status.value:<9} {load:>7.2f}"
            )
            base = None if args.no_baseline else highs(inst, args.time_limit_s)
            if base is not None:
                both = res.gap_pct is not None and base["gap_pct"] is not None
                ratio = (  # CP-SAT's gap / HiGHS's, when both show at 3 decimals
                    f"{res.gap_pct / base['gap_pct']:.2f}"
                    if both and min(res.gap_pct, base["gap_pct"]) >= 1e-3
                    else "-"
                )
                line += (
                    f" | {base['objective'] or '-':>15} {base['bound'] or 0:>7.0f}"
                    f" {base['gap_pct'] or 0:>6.3f} {base['wall_s']:>6.2f}"
                    f" {base['status']:<7} {ratio:>5}"
                )
            print(line, flush=True)
            rows.append(
                {
                    "type": kind,
                    "m": m,
                    "n": n,
                    "seed": args.seed,
                    "objective": res.objective,
                    "bound": res.bound,
                    "gap_pct": res.gap_pct,
                    "wall_s": res.wall_time_s,
                    "status": res.status.value,
                    "workers": res.num_workers,
                    "load_1m": load,
                    "highs": base,
                }
            )
    met = sum(r["gap_pct"] is not None and r["gap_pct"] <= TARGET_GAP_PCT for r in rows)
    print(f"gap <= {TARGET_GAP_PCT}%: {met} of {len(rows)} instances")
    print(f"uptime after: {_uptime()}")
    out = Path(__file__).parent / "results" / "gap_chu_beasley.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
