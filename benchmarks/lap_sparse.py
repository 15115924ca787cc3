"""Sparse linear assignment: ``solver.solve_lap_sparse`` vs scipy on OR-Library assignp800.

Both solve the same full minimum-cost assignment from the same arc arrays (800 x 800,
100,057 arcs, optimum 2239): ours through the min-cost-flow core (validation included),
scipy's ``min_weight_full_bipartite_matching`` (LAPJVsp) on a CSR matrix built from the arcs
(build included; the matching alone is printed too). Rounds alternate between the two so a
change in the machine's load hits both. Prints best and median wall and CPU seconds, the
ratio to scipy, how much of ours is input validation, and ``uptime`` before and after;
writes ``benchmarks/results/lap_sparse-<utc>.json``.
Usage: ``./dev bench lap_sparse [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from benchmarks.results import uptime, write_results
from solver import SolveStatus, solve_lap_sparse
from solver.lap import read_orlib_lap_sparse
from solver.validate import validate_lap_arcs

if TYPE_CHECKING:
    from collections.abc import Callable

INSTANCE = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "data"
    / "orlib"
    / "assignp800.txt.gz"
)
OPTIMUM = 2239  # OR-Library assigninfo (tests/data/orlib/assignopt.txt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    n, rows, cols, costs = read_orlib_lap_sparse(
        gzip.decompress(INSTANCE.read_bytes()).decode()
    )
    before = uptime()
    print(f"uptime before: {before}")
    print(
        f"assignp800: {n} x {n}, {rows.size:,} arcs; {args.repeats} alternating rounds"
    )

    def ours() -> int:
        res = solve_lap_sparse(rows, cols, costs, n_rows=n, n_cols=n)
        assert res.status is SolveStatus.OPTIMAL
        return res.objective

    graph = csr_matrix((costs, (rows, cols)), shape=(n, n))

    def scipy_with_build() -> int:
        g = csr_matrix((costs, (rows, cols)), shape=(n, n))
        r, c = min_weight_full_bipartite_matching(g)
        return int(np.asarray(g[r, c]).sum())

    def scipy_matching() -> int:
        r, c = min_weight_full_bipartite_matching(graph)
        return int(np.asarray(graph[r, c]).sum())

    def validation() -> None:
        validate_lap_arcs(rows, cols, costs, n, n)

    runs: dict[str, Callable[[], int | None]] = {
        "solve_lap_sparse": ours,
        "  of which validation": validation,
        "scipy (csr build + match)": scipy_with_build,
        "scipy (match only)": scipy_matching,
    }
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    objective: dict[str, int | None] = {}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            w0, c0 = time.perf_counter(), time.process_time()
            objective[name] = fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    after = uptime()
    base = "scipy (csr build + match)"
    print(
        f"{'solver':<26} {'objective':>9} {'wall best s':>11} {'wall med s':>10}"
        f" {'cpu best s':>10} {'cpu med s':>9} {'cpu/scipy':>9}"
    )
    table = []
    for name in runs:
        row = {
            "solver": name,
            "objective": objective[name],
            "wall_best_s": min(wall[name]),
            "wall_median_s": statistics.median(wall[name]),
            "cpu_best_s": min(cpu[name]),
            "cpu_median_s": statistics.median(cpu[name]),
            "cpu_median_ratio_to_scipy": statistics.median(cpu[name])
            / statistics.median(cpu[base]),
        }
        table.append(row)
        print(
            f"{name:<26} {row['objective'] or '-':>9} {row['wall_best_s']:>11.4f}"
            f" {row['wall_median_s']:>10.4f} {row['cpu_best_s']:>10.4f}"
            f" {row['cpu_median_s']:>9.4f} {row['cpu_median_ratio_to_scipy']:>9.2f}"
        )
    reached = {v for v in objective.values() if v is not None} == {OPTIMUM}
    print(f"optimum {OPTIMUM}: {'all reached' if reached else 'MISSED'}")
    print(f"uptime after:  {after}")
    write_results(
        "lap_sparse",
        {"instance": "assignp800", "arcs": int(rows.size), "rows": table,
         "uptime_before": before, "uptime_after": after},
    )  # fmt: skip


if __name__ == "__main__":
    main()
