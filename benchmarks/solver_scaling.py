"""Solver scaling benchmark: sparse exact core vs dense reference solvers, same instances.

Usage::

    ./dev bench solver_scaling [--sizes 1k,10k,50k] [--dense-timeout-s 60] [--dense-max-gb 8]

For each geo-clustered instance (``solver.synthetic.random_problem``, capacity 3):

- ``ours (model)``: ``solve`` with default parameters but ``allow_overtime=True``,
  ``position_rounds=0`` and ``polish=False``, i.e. the pure capacitated assignment model (no
  shift repair, no position re-pricing, no polish) that the dense references also solve;
- ``ours (full)``: default parameters (shift ends are hard: sequencing + repair, then the
  position rounds and the polish of :mod:`solver.polish`);
- ``all-pairs``: ``solve`` with ``all_pairs=True`` on the model: the sparse-vs-all-pairs gap;
- ``scipy LSA`` / ``lap.lapjv``: the equivalent dense slot matrix (rows = technician queue
  places, columns = tickets + one "leave the place empty" column per place), built with the
  same cost code (construction timed separately) and solved in a child process with a
  time limit; skipped when the matrix would exceed ``--dense-max-gb``;
- incremental: ``IncrementalSolver`` on the 10k x 1k instance after one new ticket.

Prints a table and writes JSON to ``benchmarks/results/solver_scaling-<utc>.json``. Our times
are the best of several repeats (every repeat is in the JSON); dense references run once.
Timing on a shared machine is noisy: read the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results import machine, write_results
from solver import Problem, SolveParams, solve
from solver.cost import drop_penalty, evaluate_pairs
from solver.incremental import IncrementalSolver
from solver.solve import tech_state
from solver.synthetic import random_problem

SIZES = {"1k": (1_000, 100), "10k": (10_000, 1_000), "50k": (50_000, 5_000)}
BIG = 1e9  # dense "forbidden" cost; the empty-place column (0) always beats it


TIMES: dict[str, list[float]] = {}  # every repeat (wall s), kept for the JSON
CPU: dict[
    str, float
] = {}  # best process CPU seconds per key: less sensitive to other load


def _timed(fn: Any, repeat: int, key: str = "") -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls (least disturbed by other load) and the last result."""
    times, cpus, out = [], [], None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    if key:
        TIMES[key], CPU[key] = times, min(cpus)
    return min(times), out


def dense_matrix(p: Problem, params: SolveParams) -> tuple[np.ndarray, float]:
    """The equivalent dense slot matrix and the constant (sum of penalties) to add back."""
    n, m = p.tickets.count, p.technicians.count
    st = tech_state(p, params.weights)
    slot_tech = np.repeat(np.arange(m), st.free_slots)
    place = np.arange(slot_tech.size) - np.repeat(
        np.cumsum(st.free_slots) - st.free_slots, st.free_slots
    )
    place_cost = params.weights.balance * (place + st.load[slot_tech])
    pen = drop_penalty(p, params.weights)
    cost = np.empty((n, m))
    step = max(1, 2_000_000 // max(m, 1))
    for a in range(0, n, step):
        rows = np.repeat(np.arange(a, min(n, a + step)), m)
        cols = np.tile(np.arange(m), rows.size // m)
        ev, _ = evaluate_pairs(p, params.weights, st, rows, cols, params.allow_overtime)
        cost[a : a + step] = np.where(ev.feasible, ev.total, np.inf).reshape(-1, m)
    s = slot_tech.size
    d = np.full((s, n + s), BIG)
    cost_t = cost.T
    for a in range(0, s, 512):  # by blocks of places: no second full-size temporary
        b = min(s, a + 512)
        block = cost_t[slot_tech[a:b]] + place_cost[a:b, None] - pen[None, :]
        d[a:b, :n] = np.where(np.isfinite(block), block, BIG)
    d[np.arange(s), n + np.arange(s)] = 0.0
    return d, float(pen.sum())


def _child(which: str, d: np.ndarray, conn: Any) -> None:
    import lap
    from scipy.optimize import linear_sum_assignment

    t0, c0 = time.perf_counter(), time.process_time()
    if which == "lsa":
        r, c = linear_sum_assignment(d)
        total = float(d[r, c].sum())
    else:
        total = float(lap.lapjv(d, extend_cost=True)[0])
    conn.send((time.perf_counter() - t0, total, time.process_time() - c0))


def run_dense(
    which: str, d: np.ndarray, timeout_s: float
) -> tuple[float | None, float | None, float | None]:
    """Solve the dense matrix in a forked child: (wall s, optimum, CPU s), Nones on timeout."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(which, d, child))
    proc.start()
    got = parent.poll(timeout_s)
    out = parent.recv() if got else (None, None, None)
    if proc.is_alive():
        proc.kill()
    proc.join()
    return out[0], out[1], out[2]


def bench_size(label: str, n: int, m: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement for one size."""
    p = random_problem(n, m, seed=1, capacity=3, assigned_frac=0.1)
    model = SolveParams(allow_overtime=True, position_rounds=0, polish=False)
    full = SolveParams()
    rep = 5 if n <= 10_000 else 3
    row: dict[str, Any] = {"size": label, "tickets": n, "technicians": m, "capacity": 3}
    t, sol = _timed(lambda: solve(p, model), rep, f"{label} ours_model")
    # the model's objective (first-in-queue prices: what all-pairs and the dense references solve)
    row |= {"ours_model_s": t, "ours_model_obj": sol.stats.model_objective, "arcs": sol.stats.candidate_arcs,
            "ours_model_phases_s": sol.stats.phases_s, "status_model": sol.stats.status.value,
            "certificate_model": None if sol.stats.certificate is None
            else dataclasses.asdict(sol.stats.certificate)}  # fmt: skip
    t, sol = _timed(lambda: solve(p, full), rep, f"{label} ours_full")
    row |= {"ours_full_s": t, "ours_full_obj": sol.objective, "status_full": sol.stats.status.value,
            "assigned_full": int((sol.technician >= 0).sum()),
            "ours_full_model_obj": sol.stats.model_objective, "ours_full_model_bound": sol.stats.model_bound,
            "ours_full_model_gap_pct": sol.stats.model_gap_pct}  # fmt: skip
    slots = int(p.technicians.capacity[p.technicians.available].sum())
    dense_gb = slots * (n + slots) * 8 / 1e9
    # Peak memory: the slot matrix plus the ticket x technician cost matrix.
    peak_gb = dense_gb + n * m * 8 / 1e9
    row["dense_matrix_gb"], row["dense_peak_gb"] = dense_gb, peak_gb
    if n * m <= 20_000_000:
        t, ap = _timed(lambda: solve(p, dataclasses.replace(model, all_pairs=True)), 1)
        ap_obj = ap.stats.model_objective
        row |= {"all_pairs_s": t, "all_pairs_obj": ap_obj,
                "gap_pct": 100 * (row["ours_model_obj"] - ap_obj) / abs(ap_obj)}  # fmt: skip
    else:
        row["all_pairs_note"] = f"skipped: {n * m / 1e6:.0f}M pairs"
    if peak_gb <= args.dense_max_gb:
        t0, c0 = time.perf_counter(), time.process_time()
        d, const = dense_matrix(p, model)
        row["dense_build_s"] = time.perf_counter() - t0
        row["dense_build_cpu_s"] = time.process_time() - c0
        for which in ("lsa", "lapjv"):
            secs, total, cpu = run_dense(which, d, args.dense_timeout_s)
            row[f"{which}_s"], row[f"{which}_cpu_s"] = secs, cpu
            row[f"{which}_obj"] = None if total is None else total + const
        del d
    else:
        row["dense_note"] = (
            f"dense references skipped: slot matrix {dense_gb:.1f} GB + cost matrix"
            f" {n * m * 8 / 1e9:.1f} GB > {args.dense_max_gb} GB"
        )
    refs = [
        row["dense_build_s"] + row[f"{w}_s"]
        for w in ("lsa", "lapjv")
        if row.get(f"{w}_s")
    ]
    if refs:
        row["fastest_dense_total_s"] = min(refs)
        row["speedup_vs_fastest_dense"] = min(refs) / row["ours_model_s"]
    cpu_refs = [
        row["dense_build_cpu_s"] + row[f"{w}_cpu_s"]
        for w in ("lsa", "lapjv")
        if row.get(f"{w}_cpu_s")
    ]
    row["ours_model_cpu_s"] = CPU[f"{label} ours_model"]
    row["ours_full_cpu_s"] = CPU[f"{label} ours_full"]
    if cpu_refs:
        row["speedup_vs_fastest_dense_cpu"] = min(cpu_refs) / row["ours_model_cpu_s"]
    return row


def bench_incremental(args: argparse.Namespace) -> dict[str, Any]:
    """10k x 1k, default parameters: cold, commit, then one new ticket at a time."""
    n, m = SIZES["10k"]
    base = random_problem(n, m, seed=1, capacity=3, assigned_frac=0.1)
    extra = random_problem(args.incremental_steps, m, seed=2, capacity=3)
    params = SolveParams()
    inc = IncrementalSolver(params)
    t0 = time.perf_counter()
    sol = inc.solve(base)
    cold_s = time.perf_counter() - t0
    p = _commit(base, sol.technician)
    times, cpus, gaps, moved = [], [], [], []
    for i in range(args.incremental_steps):
        p = _append(p, extra, i)
        t0, c0 = time.perf_counter(), time.process_time()
        new = inc.solve(p)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        assert inc.last_mode == "incremental"
        cold = solve(p, params)
        gaps.append(100 * (new.objective - cold.objective) / abs(cold.objective))
        moved.append(
            int((new.technician[:-1] != p.tickets.current_technician[:-1]).sum())
        )
        p = _commit(p, new.technician)
    return {"cold_s": cold_s, "incremental_s": times, "incremental_median_s": statistics.median(times),
            "incremental_cpu_s": cpus, "incremental_median_cpu_s": statistics.median(cpus),
            "gap_vs_cold_pct": gaps, "tickets_moved": moved}  # fmt: skip


def _commit(p: Problem, tech: np.ndarray) -> Problem:
    cur = np.where(p.tickets.pinned, p.tickets.current_technician, tech)
    return dataclasses.replace(
        p, tickets=dataclasses.replace(p.tickets, current_technician=cur)
    )


def _append(p: Problem, src: Problem, i: int) -> Problem:
    t, s = p.tickets, src.tickets
    cols = {f.name: np.concatenate([getattr(t, f.name), getattr(s, f.name)[i : i + 1]])
            for f in dataclasses.fields(t) if f.name not in ("excluded", "preferred")}  # fmt: skip
    cols["current_technician"][-1], cols["pinned"][-1] = -1, False
    return dataclasses.replace(p, tickets=dataclasses.replace(t, **cols))


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "timeout"
    if isinstance(v, float):
        return f"{v:.3f}{unit}" if abs(v) < 100 else f"{v:.1f}{unit}"
    return str(v)


def main() -> int:
    """Run the benchmark, print the table, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1k,10k,50k")
    ap.add_argument("--dense-timeout-s", type=float, default=60.0)
    ap.add_argument("--dense-max-gb", type=float, default=8.0)
    ap.add_argument("--incremental-steps", type=int, default=5)
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON file (default: benchmarks/results/)",
    )
    args = ap.parse_args()
    started = time.time()
    rows = [bench_size(s, *SIZES[s], args) for s in args.sizes.split(",")]
    inc = bench_incremental(args) if "10k" in args.sizes.split(",") else None
    head = ("size", "ours model s", "ours full s", "all-pairs s", "gap %", "dense build s",
            "LSA s", "lapjv s", "speedup")  # fmt: skip
    print(" | ".join(f"{h:>13}" for h in head))
    for r in rows:
        cells = (r["size"], r["ours_model_s"], r["ours_full_s"], r.get("all_pairs_s", "-"),
                 r.get("gap_pct", "-"), r.get("dense_build_s", "-"), r.get("lsa_s", "-") if "dense_build_s" in r else "-",
                 r.get("lapjv_s", "-") if "dense_build_s" in r else "-", r.get("speedup_vs_fastest_dense", "-"))  # fmt: skip
        print(" | ".join(f"{_fmt(c):>13}" for c in cells))
        for note in ("all_pairs_note", "dense_note"):
            if note in r:
                print(f"  {r['size']}: {r[note]}")
        if "lsa_obj" in r:
            print(f"  {r['size']}: objectives ours {r['ours_model_obj']:.2f}, all-pairs {r.get('all_pairs_obj', float('nan')):.2f},"
                  f" LSA {_fmt(r['lsa_obj'])}, lapjv {_fmt(r['lapjv_obj'])}")  # fmt: skip
    for r in rows:
        print(f"  {r['size']} status: model {r['status_model']}, full {r['status_full']};"
              f" model certificate {r['certificate_model']}")  # fmt: skip
        bound, gap = r["ours_full_model_bound"], r["ours_full_model_gap_pct"]
        print(f"  {r['size']} full plan: cost as driven {r['ours_full_obj']:.0f}, first-in-queue"
              f" {r['ours_full_model_obj']:.0f}, model bound "
              + ("unproven" if bound is None else f"{bound:.0f}, model gap {gap:.2f}%"))  # fmt: skip
        print(f"  {r['size']} CPU s (best): ours model {r['ours_model_cpu_s']:.3f}, full {r['ours_full_cpu_s']:.3f}"
              + (f"; speedup vs fastest dense (CPU) {r['speedup_vs_fastest_dense_cpu']:.1f}x"
                 if "speedup_vs_fastest_dense_cpu" in r else ""))  # fmt: skip
    if inc:
        print(f"incremental 10k x 1k, one new ticket: median {inc['incremental_median_s'] * 1000:.1f} ms "
              f"(CPU {inc['incremental_median_cpu_s'] * 1000:.1f} ms; cold {inc['cold_s'] * 1000:.0f} ms); gap vs cold solve {max(inc['gap_vs_cold_pct']):.3f}% max; "
              f"old tickets moved {inc['tickets_moved']}")  # fmt: skip
    meta = {
        "started_unix": started,
        "wall_s": time.time() - started,
        "machine": machine(),
    }
    out = {"meta": meta, "sizes": rows, "incremental": inc, "repeat_times_s": TIMES}
    write_results("solver_scaling", out, args.out)
    print(f"({meta['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
