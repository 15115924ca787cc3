"""Which spatial index for the solver? pykdtree vs scipy's cKDTree vs numpy (issue 17 item 4)

The solver's candidate step asks, per ticket, for the ``k`` nearest technicians of its skill
group (unit vectors on the sphere, :func:`solver.spatial.nearest`), at the sizes below. This
times the solver's index (pykdtree, a 1.5 MB wheel; build + query) against scipy's
``cKDTree`` (143 MB of install) and a chunked numpy brute force (dot products,
``argpartition``), on the same random points in the same run, and checks that all find the
same neighbours. Usage: ``./dev bench kdtree_choice [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy.spatial import cKDTree

from solver.spatial import nearest

SIZES = ((1_000, 100), (10_000, 1_000), (50_000, 5_000))
K = 12  # candidates_k 8 x CANDIDATE_OVERSAMPLE 1.5: the query size the solver uses
CHUNK = 2_048


def _points(n: int, rng: np.random.Generator) -> np.ndarray:
    lat = np.radians(rng.uniform(42.2, 42.5, n))
    lon = np.radians(rng.uniform(-71.3, -70.9, n))
    return np.column_stack(
        [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
    )


def scipy_knn(techs: np.ndarray, tickets: np.ndarray, k: int) -> np.ndarray:
    _, nn = cKDTree(techs).query(tickets, k=k)
    return np.asarray(nn, np.int64)


def numpy_knn(techs: np.ndarray, tickets: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((tickets.shape[0], k), np.int64)
    for lo in range(0, tickets.shape[0], CHUNK):
        sim = tickets[lo : lo + CHUNK] @ techs.T  # larger dot product = nearer
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sim, part, 1), axis=1)
        out[lo : lo + CHUNK] = np.take_along_axis(part, order, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; k={K}; best of {args.repeats}")
    print(
        f"{'tickets x techs':>16} {'pykdtree s':>10} {'cKDTree s':>10} {'numpy s':>10}"
        f" {'cKDTree/pyk':>11} {'numpy/pyk':>10} {'same sets':>9}"
    )
    rng = np.random.default_rng(7)
    methods = (("pykdtree", nearest), ("scipy", scipy_knn), ("numpy", numpy_knn))
    for n, m in SIZES:
        tickets, techs = _points(n, rng), _points(m, rng)
        best = {}
        for name, fn in methods:
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                got = fn(techs, tickets, K)
                times.append(time.perf_counter() - t0)
            best[name] = (min(times), got)
        ref = best["pykdtree"][1]
        same = np.mean(
            [
                set(a) == set(b) == set(c)
                for a, b, c in zip(ref, best["scipy"][1], best["numpy"][1], strict=True)
            ]
        )
        pyk = best["pykdtree"][0]
        print(
            f"{n:>8} x {m:<6} {pyk:>10.4f} {best['scipy'][0]:>10.4f} {best['numpy'][0]:>10.4f}"
            f" {best['scipy'][0] / pyk:>10.2f}x {best['numpy'][0] / pyk:>9.1f}x {same:>9.1%}"
        )


if __name__ == "__main__":
    main()
