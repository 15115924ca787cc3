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
position rounds split into re-pricing (``place_costs``), flow (the round's first flow, with
its arcs: those worth placing of the live ones, and its certification's warm re-solves,
``_warm_flow``), shift repair and the rest (sequencing, pricing the plans). The
phases are timed by wrapping those functions of ``solver.core`` / ``solver.solve`` in this
process (nothing is changed in the solver). CPU, not wall: on a shared machine it is the
figure that load disturbs least; compare two checkouts by alternating runs (``python -m
benchmarks.solver_phases`` from the other checkout's directory: the current directory
comes first on ``sys.path``, before the editable install). ``--time-limit-s`` large (e.g.
1000) keeps the solve's deadline from cutting work on a loaded machine.
``OMP_NUM_THREADS=1`` matches the service's solver workers (``dispatcher.loop.pool``).

The last line counts the min-cost flows of the solve (every ``solver.flow.assign_slots``
call: whole networks, warm sub-networks, the repair's local ones), their CPU and the
largest network. ``--size 5x10k`` solves five disjoint 10k x 1k regions (seeds 1-5, 3
degrees of longitude apart) as one problem: 50k x 5k at the 10k instance's density, where
every phase but the flows takes 5-6x the 10k time and the flows 12-14x (7 Dec 2026: one
whole-network flow 0.82 s against 0.37 s for the five regions' flows apart; the rounds of a
certification are those of its slowest region, each over the whole network).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from solver import Problem, SolveParams, solve
from solver.synthetic import random_problem

if TYPE_CHECKING:
    from collections.abc import Callable

SIZES = {"1k": (1_000, 100), "10k": (10_000, 1_000), "50k": (50_000, 5_000)}
TILES = 5  # ``--size 5x10k``: regions of the 10k size
FLOW_USERS = ("solver.core", "solver.warm", "solver.local")  # call assign_slots
CORE = ("certified_flow", "repair_shifts", "refill", "position_rounds", "polish")
IN_POSITION_ROUNDS = (
    "place_costs",
    "_flow",
    "_warm_flow",
)  # timed (also) in the rounds
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


def _flows_timed(spent: dict[str, float]) -> None:
    """Wrap ``assign_slots`` where the solve calls it: ``spent["flows"]`` its CPU seconds,
    ``spent["flow_solves"]`` the calls, ``spent["flow_arcs"]`` / ``["flow_tickets"]`` /
    ``["flow_largest"]`` the largest network's candidate arcs, tickets and CPU."""
    inner: Callable[..., Any] = sys.modules["solver.flow"].assign_slots

    def wrapper(n_tickets: int, arc_ticket: Any, *args: Any, **kwargs: Any) -> Any:
        c0 = time.process_time()
        try:
            return inner(n_tickets, arc_ticket, *args, **kwargs)
        finally:
            used = time.process_time() - c0
            spent["flows"] += used
            spent["flow_solves"] += 1
            if arc_ticket.size >= spent["flow_arcs"]:
                spent["flow_arcs"], spent["flow_tickets"] = arc_ticket.size, n_tickets
                spent["flow_largest"] = used

    for name in FLOW_USERS:
        sys.modules[name].assign_slots = wrapper


def tiled(parts: list[Problem], apart_deg: float = 3.0) -> Problem:
    """The problems ``parts`` as one, the i-th moved ``i * apart_deg`` degrees east (so
    no pair across two parts is near): their rows in order, each part's technician
    references (holders, excluded and preferred pairs) moved to its rows."""
    t_off = np.cumsum([0] + [p.tickets.count for p in parts])[:-1]
    k_off = np.cumsum([0] + [p.technicians.count for p in parts])[:-1]

    def joined(objs: list[Any], shift: Callable[[str, Any, int], Any]) -> Any:
        fields = dataclasses.fields(objs[0])
        return type(objs[0])(**{
            f.name: np.concatenate(
                [shift(f.name, getattr(o, f.name), i) for i, o in enumerate(objs)]
            )
            for f in fields
            if f.init
        })  # fmt: skip

    def on_rows(name: str, v: Any, i: int) -> Any:
        if name == "lon_deg":
            return v + apart_deg * i
        if name == "current_technician":
            return np.where(v >= 0, v + k_off[i], v)
        if name in ("excluded", "preferred"):
            return v + np.array([t_off[i], k_off[i]])
        return v

    tickets = joined([p.tickets for p in parts], on_rows)
    technicians = joined([p.technicians for p in parts], on_rows)
    return Problem(tickets, technicians, parts[0].now_s)


def _problem(size: str) -> Problem:
    """The instance of ``--size``."""
    if size == f"{TILES}x10k":
        n, m = SIZES["10k"]
        return tiled([
            random_problem(n, m, seed=s, capacity=3, assigned_frac=0.1)
            for s in range(1, TILES + 1)
        ])  # fmt: skip
    n, m = SIZES[size]
    return random_problem(n, m, seed=1, capacity=3, assigned_frac=0.1)


def main() -> int:
    """Run the solves and print the fastest one's phases."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=[*sorted(SIZES), f"{TILES}x10k"], default="10k")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--time-limit-s", type=float, default=10.0)
    args = ap.parse_args()
    spent: dict[str, float] = collections.defaultdict(float)
    open_: list[str] = []
    for name in CORE + IN_POSITION_ROUNDS:
        _timed(sys.modules["solver.core"], name, spent, open_)
    for name in SOLVE:
        _timed(sys.modules["solver.solve"], name, spent, open_)
    _flows_timed(spent)
    problem = _problem(args.size)
    n, m = problem.tickets.count, problem.technicians.count
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
        flow = pr["_flow"] + pr.get("_warm_flow", 0.0)
        other = t["position_rounds"] - pr["place_costs"] - flow - pr["repair_shifts"]
        print(f"  position rounds: re-pricing {pr['place_costs']:.3f}  flow {flow:.3f}"
              f" ({pr['arcs']:.0f} arcs worth placing of {pr['live']:.0f} live)"
              f"  shift repair {pr['repair_shifts']:.3f}  sequencing and rest {other:.3f}")  # fmt: skip
    f = collections.defaultdict(float, t)  # no flow at all: zeros
    print(f"  min-cost flows: {f['flow_solves']:.0f} solves, CPU {f['flows']:.3f} s"
          f" ({100 * f['flows'] / cpu:.0f}% of the solve), the largest"
          f" {f['flow_arcs']:.0f} arcs x {f['flow_tickets']:.0f} tickets"
          f" in {f['flow_largest']:.3f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
