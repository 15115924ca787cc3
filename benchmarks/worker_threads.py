"""Solver worker processes with one OpenMP thread each vs the OpenMP default.

    ./dev bench worker_threads [--sizes 150,300,600,2000] [--technicians 100] [--solves 8]

The solve loop runs ``--workers`` (default 2, as on a 2-core machine) solver worker
processes at once (``dispatcher.loop.pool``). This starts that many processes together,
each solving ``solver.synthetic`` regions of the loop's sizes (``--sizes`` tickets x
``--technicians``) ``--solves`` times, twice: with ``OMP_NUM_THREADS`` unset (OpenMP uses
every core in each process: pykdtree's queries in ``solver.spatial``) and with it set to 1
(``pool.WORKER_ENVIRONMENT``). Prints the median process CPU and wall time per solve of
each and the ratios, alternating the two settings by size so both see the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
from solver import SolveParams, solve
from solver.synthetic import random_problem
n, m, solves = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
problem = random_problem(n, m, seed=1, assigned_frac=0.3)
solve(problem, SolveParams())  # warm up (imports, first-call costs)
cpu, wall = [], []
for _ in range(solves):
    c0, w0 = time.process_time(), time.perf_counter()
    solve(problem, SolveParams())
    cpu.append(time.process_time() - c0)
    wall.append(time.perf_counter() - w0)
print(json.dumps({"cpu": cpu, "wall": wall}))
"""


def _run(threads: str | None, n: int, args: argparse.Namespace) -> tuple[float, float]:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(n),
                str(args.technicians),
                str(args.solves),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.workers)
    ]
    cpu: list[float] = []
    wall: list[float] = []
    for p in procs:
        out, _ = p.communicate()
        got = json.loads(out)
        cpu += got["cpu"]
        wall += got["wall"]
    return 1000 * statistics.median(cpu), 1000 * statistics.median(wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="150,300,600,2000")
    parser.add_argument("--technicians", type=int, default=100)
    parser.add_argument("--solves", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"load before (1/5/15 min): {[round(x, 2) for x in os.getloadavg()]}")
    print(
        f"{'tickets':>7}  {'CPU ms default':>14}  {'CPU ms 1 thread':>15}  {'CPU ratio':>9}  "
        f"{'wall ms default':>15}  {'wall ms 1 thread':>16}"
    )
    for i, n in enumerate(int(s) for s in args.sizes.split(",")):
        order = (None, "1") if i % 2 == 0 else ("1", None)
        got = {t: _run(t, n, args) for t in order}
        (c0, w0), (c1, w1) = got[None], got["1"]
        print(f"{n:>7}  {c0:14.1f}  {c1:15.1f}  {c0 / c1:9.2f}  {w0:15.1f}  {w1:16.1f}")
    print(f"load after (1/5/15 min): {[round(x, 2) for x in os.getloadavg()]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
