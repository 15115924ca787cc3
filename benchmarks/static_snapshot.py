"""Every policy plans the same static snapshots; one evaluator judges every plan.

Usage::

    ./dev bench static_snapshot [--seeds 3] [--sizes 200x20,500x50,1000x100,3000x300]
        [--policies optimizer,regret,priority_edd,vroom] [--exploration 5]
        [--vroom-timeout S] [--weights balance=60,breach=5000] [--live] [--quick]

Snapshots: ``solver.synthetic.random_problem(n, m, seed)`` (n tickets x m technicians,
geo-clustered around Boston, 4 skills at levels 1-3, 3 places per technician, shifts ending
2.4-8 h from now, 5% off duty, P1-P4 with response due 0-24 h after creation, 2% with an
excluded technician). The optimizer and the baselines use the default ``SolveParams`` (the
optimizer with ``--weights`` changed, if given: other weights to try on the snapshots), the
optimizer in batch planning (``SolveParams.batch``: a plan made once and judged once, as
here; ``--live``: as the live loop and the simulator solve, without it); VROOM
(``simulations.vroom_policy``) runs at ``--exploration`` (its own default 5) on one thread,
each of its one or two solves per plan stopped after ``--vroom-timeout`` seconds if given
(its time is then a lower bound).

The evaluator (``simulations.plan_eval``) drives each technician's queue in the planned
order with the simulator's travel model and counts per plan: SLA breaches among the
assigned tickets, ``missed`` (breaches plus unassigned tickets due within the snapshot's
shifts: the one figure comparable between a policy that leaves late tickets out and one
that places them late), ``all breaches`` (the same over either due, response or resolution:
``simulations.plan_eval``), ``weighted`` (all breaches, each at its priority factor, P1 8 ..
P4 1: the issue's target counts breaches, the policies are told to weigh them), unassigned tickets, lateness and travel per assigned ticket, shift
overruns (should be 0), and the policy's solve wall time. Means over seeds per size, then
per size the optimizer against VROOM (speed ratio, breaches, missed, travel) and the
issue's targets. The machine is shared: ``uptime`` is printed before and after.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass

import numpy as np

from simulations.plan_eval import PlanKpis, plan_kpis
from simulations.policies import make_policy
from simulations.vroom_policy import (
    VROOM_POLICIES,
    VroomPolicy,
    VroomSettings,
    vroom_version,
)
from solver.model import CostWeights, SolveParams
from solver.synthetic import random_problem

SIZES = ((200, 20), (500, 50), (1000, 100), (3000, 300))
POLICIES = ("optimizer", "regret", "priority_edd", "vroom")
QUICK_SIZES = ((40, 4),)
COLUMNS = (
    "solve s",
    "assigned",
    "breaches",
    "missed",
    "all breaches",
    "weighted",
    "unassigned",
    "late min/tk",
    "travel min/tk",
    "overruns",
)


@dataclass(frozen=True, slots=True)
class Row:
    """One plan: its policy, seed, solve wall time and what the evaluator found."""

    policy: str
    seed: int
    solve_s: float
    kpis: PlanKpis


def _policy(
    name: str, settings: VroomSettings, weights: CostWeights, batch: bool
) -> object:
    if name in VROOM_POLICIES:
        return VroomPolicy(name, SolveParams(), settings)
    if name == "optimizer":
        return make_policy(name, SolveParams(weights=weights, batch=batch))
    return make_policy(name, SolveParams())


def run_size(
    n: int,
    m: int,
    seeds: list[int],
    policies: list[str],
    settings: VroomSettings,
    weights: CostWeights | None = None,
    batch: bool = True,
) -> list[Row]:
    """Every policy plans the ``n x m`` snapshot of each seed; evaluated by plan_kpis.
    ``weights``: the optimizer's (default ``CostWeights()``); ``batch``: the optimizer in
    batch planning (``SolveParams.batch``).

    Each policy first plans a tiny snapshot untimed (imports and first-call set-up)."""
    weights = CostWeights() if weights is None else weights
    warm = random_problem(10, 2, seed=99)
    for name in policies:
        _policy(name, settings, weights, batch).solve(warm, None)  # type: ignore[attr-defined]
    rows = []
    for seed in seeds:
        problem = random_problem(n, m, seed=seed)
        for name in policies:
            policy = _policy(name, settings, weights, batch)
            t0 = time.perf_counter()
            sol = policy.solve(problem, None)  # type: ignore[attr-defined]
            wall = time.perf_counter() - t0
            rows.append(
                Row(name, seed, wall, plan_kpis(problem, sol.technician, sol.position))
            )
    return rows


def _mean(rows: list[Row], policy: str, pick: object) -> float:
    vals = [pick(r) for r in rows if r.policy == policy]  # type: ignore[operator]
    return float(np.mean(vals)) if vals else float("nan")


def _cells(rows: list[Row], policy: str) -> list[str]:
    k = [r.kpis for r in rows if r.policy == policy]
    per = lambda f: float(np.mean([f(x) for x in k]))  # noqa: E731
    late = per(lambda x: x.late_s / x.assigned / 60 if x.assigned else 0.0)
    travel = per(lambda x: x.travel_per_ticket_s / 60)
    return [
        f"{_mean(rows, policy, lambda r: r.solve_s):.3f}",
        f"{per(lambda x: x.assigned):.1f}",
        f"{per(lambda x: x.breaches):.1f}",
        f"{per(lambda x: x.missed):.1f}",
        f"{per(lambda x: x.all_breaches):.1f}",
        f"{per(lambda x: x.weighted_all_breaches):.1f}",
        f"{per(lambda x: x.unassigned):.1f}",
        f"{late:.1f}",
        f"{travel:.1f}",
        f"{per(lambda x: x.overruns):.1f}",
    ]


def print_table(n: int, m: int, rows: list[Row], policies: list[str]) -> None:
    """One line per policy: the means over seeds of every column."""
    seeds = sorted({r.seed for r in rows})
    print(f"\n{n} tickets x {m} technicians, {len(seeds)} seed(s) {seeds}, means:")
    print(f"  {'policy':14s}" + "".join(f"{c:>14s}" for c in COLUMNS))
    for p in policies:
        print(f"  {p:14s}" + "".join(f"{c:>14s}" for c in _cells(rows, p)))


def vroom_line(n: int, rows: list[Row]) -> tuple[str, dict[str, bool]] | None:
    """The optimizer against vroom on this size, and which targets hold."""
    pol = {r.policy for r in rows}
    if not {"optimizer", "vroom"} <= pol:
        return None
    seeds = sorted({r.seed for r in rows})
    by = {(r.policy, r.seed): r for r in rows}
    speed = [by["vroom", s].solve_s / by["optimizer", s].solve_s for s in seeds]
    ob, vb = (
        sum(by[p, s].kpis.breaches for s in seeds) for p in ("optimizer", "vroom")
    )
    om, vm = (sum(by[p, s].kpis.missed for s in seeds) for p in ("optimizer", "vroom"))
    oa, va = (
        sum(by[p, s].kpis.all_breaches for s in seeds) for p in ("optimizer", "vroom")
    )
    ow, vw = (
        sum(by[p, s].kpis.weighted_all_breaches for s in seeds)
        for p in ("optimizer", "vroom")
    )
    ot, vt = (
        _mean(rows, p, lambda r: r.kpis.travel_per_ticket_s)
        for p in ("optimizer", "vroom")
    )
    need = 100.0 if n >= 1000 else 1.0
    met = {
        "breaches": ob <= vb,
        "missed": om <= vm,
        "all breaches": oa <= va,
        "travel": ot <= vt,
        "speed": min(speed) >= need and min(speed) > 1.0,
    }
    per_seed = " ".join(f"{x:.0f}" if x >= 10 else f"{x:.2f}" for x in speed)
    line = (
        f"  optimizer vs vroom: {float(np.mean(speed)):.1f}x faster (per seed: {per_seed}; "
        f"target >= {need:g}x: {'met' if met['speed'] else 'NOT met'}), "
        f"breaches {ob} vs {vb} ({'met' if met['breaches'] else 'NOT met'}), "
        f"missed {om} vs {vm} ({'met' if met['missed'] else 'NOT met'}), "
        f"all breaches {oa} vs {va} ({'met' if met['all breaches'] else 'NOT met'}), "
        f"weighted by priority {ow:g} vs {vw:g} (not a target), "
        f"travel per ticket x{ot / vt:.2f} ({'met' if met['travel'] else 'NOT met'}) "
        f"[sums over seeds]"
    )
    return line, met


def _sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        n, _, m = part.strip().partition("x")
        if not (n.isdigit() and m.isdigit()) or int(n) < 1 or int(m) < 1:
            raise SystemExit(f"static_snapshot: --sizes: expected NxM,... got {part!r}")
        out.append((int(n), int(m)))
    return out


def _weights(text: str) -> CostWeights:
    """``NAME=VALUE,...`` over the default ``CostWeights`` (the optimizer's)."""
    names = {f.name for f in dataclasses.fields(CostWeights)}
    changed: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in names:
            raise SystemExit(
                f"static_snapshot: --weights: unknown weight {name!r} "
                f"(one of {', '.join(sorted(names))})"
            )
        try:
            changed[name] = float(value)
        except ValueError:
            raise SystemExit(
                f"static_snapshot: --weights: {name}: expected a number, got {value!r}"
            ) from None
    try:
        return dataclasses.replace(CostWeights(), **changed)
    except ValueError as exc:
        raise SystemExit(f"static_snapshot: --weights: {exc}") from None


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds per size (0, 1, ...)")
    ap.add_argument("--sizes", type=_sizes, default=list(SIZES), help="NxM,...")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument(
        "--exploration", type=int, default=VroomSettings().exploration_level
    )
    ap.add_argument(
        "--vroom-timeout", type=float, default=None, help="seconds per VROOM solve"
    )
    ap.add_argument(
        "--weights",
        type=_weights,
        default=CostWeights(),
        help="the optimizer's weights changed from the defaults: NAME=VALUE,...",
    )
    ap.add_argument(
        "--live",
        action="store_true",
        help="the optimizer as the live loop solves (no batch planning)",
    )
    ap.add_argument(
        "--quick", action="store_true", help="one tiny size, 2 seeds (tests)"
    )
    args = ap.parse_args(argv)
    if args.seeds < 1:
        raise SystemExit("static_snapshot: --seeds: must be >= 1")
    sizes = list(QUICK_SIZES) if args.quick else args.sizes
    seeds = list(range(2 if args.quick else args.seeds))
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    settings = VroomSettings(args.exploration, 1, args.vroom_timeout)
    print(
        f"static snapshots: pyvroom {vroom_version()}, exploration {settings.exploration_level}, "
        f"{settings.threads} thread, timeout {settings.timeout_s or 'none'}; {_load()}"
    )
    if "optimizer" in policies:
        mode = "live (no batch planning)" if args.live else "batch planning"
        print(f"optimizer: {mode} (SolveParams.batch={not args.live})")
    if args.weights != CostWeights():
        print(f"optimizer weights: {args.weights}")
    verdicts = []
    for n, m in sizes:
        rows = run_size(n, m, seeds, policies, settings, args.weights, not args.live)
        print_table(n, m, rows, policies)
        out = vroom_line(n, rows)
        if out is not None:
            print(out[0])
            verdicts.append(out[1])
    if verdicts:
        keys = ("breaches", "missed", "all breaches", "travel", "speed")
        held = ", ".join(
            f"{k} {'met' if all(v[k] for v in verdicts) else 'NOT met'}" for k in keys
        )
        print(f"\nVROOM targets over every size: {held}")
    print(f"after: {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
