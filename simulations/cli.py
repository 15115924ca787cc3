"""``dispatcher sim run | compare | tune``: simulate scenarios, compare policies, tune weights.

Examples::

    dispatcher sim run smoke --policy optimizer --seeds 2 --out out/smoke
    dispatcher sim compare city --policies optimizer,nearest,least_loaded,round_robin --seeds 3 --out out/city
    dispatcher sim compare boston311 --replay my_tickets.toml --seeds 5 --seed-offset 10   # your CSV
    dispatcher sim tune smoke --trials 40 --jobs 2 --out out/tune            # local journal file
    dispatcher sim tune city --trials 40 --seeds 3 --holdout-seeds 5 --out out/tune-city   # 5 held-out seeds
    dispatcher sim tune city --trials 200 --storage redis://host:6379/0 --study city-1   # many machines
    dispatcher sim tune boston311 --replay my_tickets.toml --trials 40 --seed-offset 10   # your CSV

``SCENARIO`` is a scenario file path or the name of a shipped one (``simulations/scenarios/``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from collections.abc import Callable

    from simulations.runner import Run
    from simulations.scenario import Scenario

COMPARE_METRICS = (
    ("sla_attainment", "SLA attainment (open at horizon = miss)", "pct"),
    ("sla_attainment_p1", "  P1", "pct"),
    ("sla_attainment_p2", "  P2", "pct"),
    ("sla_attainment_p3", "  P3", "pct"),
    ("sla_attainment_p4", "  P4", "pct"),
    ("sla_breaches", "SLA breaches (tickets)", "int"),
    ("breaches_unavoidable", "  unavoidable (lower bound)", "num"),
    ("breaches_unavoidable_in_shift", "  unavoidable without overtime", "num"),
    ("breaches_avoidable", "  avoidable", "num"),
    ("breaches_avoidable_open", "    open at horizon, not due", "num"),
    ("breaches_avoidable_late", "    late", "num"),
    ("breach_rate", "breach rate", "pct"),
    ("response_p50_min", "response p50 (min)", "num"),
    ("response_p90_min", "response p90 (min)", "num"),
    ("resolution_p50_min", "resolution p50 (min)", "num"),
    ("resolution_p90_min", "resolution p90 (min)", "num"),
    ("travel_km_per_ticket", "travel per ticket (km)", "num"),
    ("travel_min_per_ticket", "travel per ticket (min)", "num"),
    ("travel_km", "travel total (km)", "int"),
    ("utilization_mean", "utilization mean", "pct"),
    ("utilization_work_mean", "  of which work", "pct"),
    ("utilization_travel_mean", "  of which travel", "pct"),
    ("workload_cv", "workload CV (fairness, lower=even)", "num"),
    ("jain_index", "Jain index (1=even)", "num"),
    ("churn_per_ticket", "reassignments per ticket", "num"),
    ("moves_per_technician", "moves per technician", "num"),
    ("resolved", "resolved", "int"),
    ("open_at_end", "open at horizon", "int"),
    ("cancelled", "cancelled", "int"),
    ("solve_p50_ms", "solve p50 (ms)", "num"),
    ("wall_s", "run wall time (s)", "num"),
)


def stream_and_seed_args(p: argparse.ArgumentParser) -> None:
    """``--seed-offset`` and ``--replay``: the same flags on run, compare and tune."""
    p.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="start at the scenario seed + this (e.g. fresh seeds for a second look; default 0)",
    )
    p.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="a TOML file with one [replay] table (your CSV, its column roles, window) "
        "replacing the scenario's stream; see simulations/README.md",
    )


class _OneLineErrors(argparse.ArgumentParser):
    """A parser whose usage errors (``--seeds x``, a missing ``--out``) are one line on
    stderr with exit 2, like every other refused value, not the usage block first."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def register(subparsers: Any) -> None:
    """Add ``sim`` with ``run``, ``compare`` and ``tune`` (cheap: no heavy imports)."""
    from simulations.tune import CHURN_LIMIT  # a constant: no heavy import

    sim = subparsers.add_parser(
        "sim",
        help="discrete-event simulator: run, compare, tune",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = sim.add_subparsers(
        dest="sim_command",
        required=True,
        metavar="SIM_COMMAND",
        parser_class=_OneLineErrors,
    )

    from simulations.scenario_files import shipped_scenarios

    shipped = ", ".join(shipped_scenarios())

    def scenario_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "scenario",
            metavar="SCENARIO",
            help=f"scenario TOML path or shipped name ({shipped})",
        )

    def common(p: argparse.ArgumentParser, seeds: int) -> None:
        scenario_arg(p)
        p.add_argument(
            "--seeds",
            type=int,
            default=seeds,
            help=f"number of seeds (scenario seed, +1, ...; default {seeds})",
        )
        stream_and_seed_args(p)
        p.add_argument(
            "--policy-file",
            type=Path,
            help="policy TOML (weights/solver) overriding the scenario's",
        )
        p.add_argument(
            "--horizon-s", type=float, help="override the scenario's horizon (seconds)"
        )
        p.add_argument(
            "--jobs", type=int, default=1, help="parallel processes (default 1)"
        )
        p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")

    run = sub.add_parser(
        "run", help="simulate one policy over N seeds and write logs, KPIs, plots"
    )
    common(run, 1)
    run.add_argument(
        "--policy",
        default="optimizer",
        help="optimizer | round_robin | least_loaded | nearest",
    )
    run.add_argument("--out", type=Path, required=True, help="output directory")
    run.set_defaults(func=_run)

    cmp_ = sub.add_parser(
        "compare", help="compare policies side by side with 95%% confidence intervals"
    )
    common(cmp_, 3)
    cmp_.add_argument(
        "--policies",
        default="optimizer,priority_edd,regret,nearest,least_loaded,round_robin",
        help="comma-separated policy names",
    )
    cmp_.add_argument(
        "--out",
        type=Path,
        help="output directory (tables + plots); default: print only",
    )
    cmp_.set_defaults(func=_compare)

    tune = sub.add_parser(
        "tune", help="tune the optimizer's weights with Optuna (multi-objective)"
    )
    scenario_arg(tune)
    stream_and_seed_args(tune)
    tune.add_argument(
        "--trials",
        type=int,
        required=True,
        help="trials in total (shared by all jobs of this command)",
    )
    tune.add_argument(
        "--seeds",
        type=int,
        default=2,
        help="tuning seeds: every trial runs on them (default 2)",
    )
    tune.add_argument(
        "--holdout-seeds",
        type=int,
        default=3,
        help="held-out seeds, never used by a trial: the best trial and the default weights "
        "run on them, the policy is written only if no worse there (default 3)",
    )
    tune.add_argument(
        "--max-churn",
        type=float,
        default=CHURN_LIMIT,
        help="reassignments per ticket the written policy may have on the held-out seeds "
        "unless no more than the default's; the best trial is picked among trials within "
        f"it (default {CHURN_LIMIT:g}, issue 13's target)",
    )
    tune.add_argument(
        "--storage",
        help="study storage: redis://... (JournalRedisBackend, for many machines), a journal file path, or an optuna RDB URL; default: a journal file in --out",
    )
    tune.add_argument(
        "--study", default=None, help="study name (default: tune-<scenario>)"
    )
    tune.add_argument(
        "--jobs", type=int, default=1, help="worker processes on this machine"
    )
    tune.add_argument(
        "--horizon-s", type=float, help="override the scenario's horizon (seconds)"
    )
    tune.add_argument(
        "--out",
        type=Path,
        default=Path("tune-out"),
        help="directory for best_policy.toml and trials.csv",
    )
    tune.add_argument(
        "--policy-out",
        type=Path,
        help="where to write the best policy (default OUT/best_policy.toml)",
    )
    tune.set_defaults(func=_tune)


# ---------------------------------------------------------------------------- helpers


def _load(args: argparse.Namespace) -> Scenario:
    """The run's scenario; a replay is read once here, so a bad file or an empty window
    stops the command before any run and its skipped/adjusted rows are reported once."""
    from simulations.replay_report import first_said
    from simulations.scenario import load_run_scenario
    from simulations.streams import read_replay, replay_notes

    horizon_s = getattr(args, "horizon_s", None)
    if horizon_s is not None and (not horizon_s > 0 or horizon_s == float("inf")):
        raise UsageError(
            f"--horizon-s: must be a positive number of seconds, got {horizon_s:g}"
        )
    sc = load_run_scenario(
        args.scenario,
        policy_file=getattr(args, "policy_file", None),
        horizon_s=horizon_s,
        replay_file=getattr(args, "replay", None),
    )
    if sc.replay is not None:
        replayed = read_replay(sc, sc.seed)
        for line in (replayed.report.summary(), *replay_notes(sc, replayed)):
            text = first_said(line, str(sc.replay.path))
            if text is not None:
                print(f"dispatcher sim: warning: {text}", file=sys.stderr, flush=True)
        _warn_of_skills_nobody_holds(sc)
    return sc


def _warn_of_skills_nobody_holds(sc: Scenario) -> None:
    """One line when replayed tickets need a skill none of the run's technicians holds
    (a replay on a scenario's own crews): they can never be assigned."""
    import numpy as np

    from simulations.streams import build_roster, build_stream, skills_nobody_holds

    rng = np.random.default_rng(sc.seed)
    stream = build_stream(sc, rng, sc.seed)
    missing = skills_nobody_holds(stream, build_roster(sc, stream, rng))
    if not missing:
        return
    assert sc.replay is not None
    total = sum(n for _, n in missing)
    shown = ", ".join(f"{n} x {name!r}" for name, n in missing[:5])
    more = ", ..." if len(missing) > 5 else ""
    print(
        f"dispatcher sim: warning: replay {Path(sc.replay.path).name}: {total} ticket(s) "
        "need a skill no technician holds at the level asked, so nobody can take them "
        f"(each a miss): {shown}{more}",
        file=sys.stderr,
        flush=True,
    )


def _seeds(args: argparse.Namespace, sc: Scenario) -> list[int]:
    from simulations.runner import seeds_for

    return seeds_for(sc, args.seeds, offset=args.seed_offset)


class UsageError(ValueError):
    """A command-line value out of range (reported as one line, exit code 2)."""


def _check_counts(args: argparse.Namespace, *names: str) -> None:
    """Refuse ``--seeds 0``, ``--jobs 0``, ``--trials 0``, ``--seed-offset -1`` and the
    like before any work."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            flag = name.replace("_", "-")
            raise UsageError(f"--{flag}: must be at least 1, got {value}")
    offset = getattr(args, "seed_offset", 0)
    if offset < 0:
        raise UsageError(f"--seed-offset: must be 0 or more, got {offset}")


def _one(job: tuple[Scenario, str, int]) -> Run:
    import logging

    from simulations.runner import run_once

    # the parent process reported the replay's skipped rows already (``_load``)
    logging.getLogger("simulations.replay").setLevel(logging.ERROR)
    sc, policy, seed = job
    return run_once(sc, policy, seed)


def _done_line(run: Run, k: int, n: int) -> str:
    kp = run.kpis
    util = kp.get("utilization_mean")
    return (
        f"[{k}/{n}] {run.policy} seed {run.seed} done: {kp.get('arrived', 0):,} tickets, "
        f"{kp.get('sla_breaches', 0):,} SLA breaches, "
        f"travel {kp.get('travel_km_per_ticket') or 0.0:.2f} km/ticket, "
        f"utilization {'-' if util is None else f'{util * 100:.1f}%'}, "
        f"{kp.get('wall_s') or 0.0:.0f} s"
    )


def execute(
    sc: Scenario,
    policies: list[str],
    seeds: list[int],
    jobs: int,
    quiet: bool = False,
    on_done: Callable[[Run], None] | None = None,
) -> list[Run]:
    """Run every (policy, seed) with a rich progress bar; in ``jobs`` processes if > 1.

    When stdout is not a terminal the bar is replaced by one plain line per finished run.
    ``on_done(run)`` is called as each run finishes (e.g. to write its results at once).
    Returns the runs in (policy, seed) order.
    """
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from simulations.runner import run_once

    work = [(sc, p, s) for p in policies for s in seeds]
    plain = not quiet and not sys.stdout.isatty()
    finished: dict[int, Run] = {}

    def done(i: int, run: Run) -> None:
        finished[i] = run
        if on_done is not None:
            on_done(run)
        if plain:
            print(_done_line(run, len(finished), len(work)), flush=True)

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False, disable=quiet or plain) as bar:
        if jobs <= 1:
            for i, (_, policy, seed) in enumerate(work):
                task = bar.add_task(f"{policy} seed {seed}", total=sc.horizon_s)

                def tick(t: float, task: Any = task) -> None:
                    bar.update(task, completed=min(t, sc.horizon_s))

                done(i, run_once(sc, policy, seed, progress=tick))
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            # spawn, not fork: polars and OR-Tools run thread pools that a fork can deadlock.
            task = bar.add_task(
                f"{len(work)} runs in {jobs} processes", total=len(work)
            )
            with ProcessPoolExecutor(
                max_workers=jobs, mp_context=multiprocessing.get_context("spawn")
            ) as pool:
                futures = {pool.submit(_one, w): i for i, w in enumerate(work)}
                for fut in as_completed(futures):
                    done(futures[fut], fut.result())
                    bar.advance(task)
    return [finished[i] for i in range(len(work))]


def _writer(args: argparse.Namespace) -> Callable[[Run], None] | None:
    """With ``--out``: write each run's tables to ``OUT/runs/POLICY-seedN/`` as it finishes."""
    out: Path | None = args.out
    if out is None:
        return None

    def write(run: Run) -> None:
        from simulations.runner import write_outputs

        write_outputs(out / "runs" / f"{run.policy}-seed{run.seed}", [run])

    return write


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "int":
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"


def interval_cell(mean: float | None, ci: float | None, kind: str) -> str:
    """``mean ± ci``; a percentage's interval clipped to [0, 100]% is shown as ``[lo, hi]``."""
    cell = _fmt(mean, kind)
    if ci is None or mean is None:
        return cell
    if kind == "pct" and (mean - ci < 0.0 or mean + ci > 1.0):
        lo, hi = max(mean - ci, 0.0), min(mean + ci, 1.0)
        return f"{cell} [{_fmt(lo, kind)}, {_fmt(hi, kind)}]"
    return f"{cell} ± {_fmt(ci, kind)}"


def print_summary(summary: Any, title: str) -> None:
    """Rich table: metrics as rows, policies as columns, ``mean ± 95% CI``."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    policies = summary["policy"].to_list()
    for p in policies:
        table.add_column(f"{p}", justify="right")
    for key, label, kind in COMPARE_METRICS:
        if f"{key}_mean" not in summary.columns:
            continue
        cells = []
        for i in range(len(policies)):
            mean = summary[f"{key}_mean"][i]
            ci = summary[f"{key}_ci95"][i]
            cells.append(interval_cell(mean, ci, kind))
        table.add_row(label, *cells)
    Console().print(table)


def _is_peer(policy: str) -> bool:
    """A peer engine (VROOM), judged by its own target line, not a baseline."""
    return policy.startswith("vroom")


def quality_verdict(summary: Any) -> dict[str, Any] | None:
    """Optimizer vs the best baseline (fewest mean SLA breaches): breach and travel ratios."""
    pol = summary["policy"].to_list()
    if "optimizer" not in pol or len(pol) < 2:
        return None
    br = dict(zip(pol, summary["sla_breaches_mean"].to_list(), strict=True))
    tr = dict(zip(pol, summary["travel_km_per_ticket_mean"].to_list(), strict=True))
    baselines = [p for p in pol if not p.startswith("optimizer") and not _is_peer(p)]
    if not baselines:
        return None
    best = min(baselines, key=lambda p: br[p] if br[p] is not None else float("inf"))
    breach_ratio = br["optimizer"] / br[best] if br[best] else None
    travel_ratio = tr["optimizer"] / tr[best] if tr[best] else None
    target = breach_target(br["optimizer"], br[best], tr["optimizer"], tr[best])
    return {
        "best_baseline": best,
        "optimizer_breaches": br["optimizer"],
        "baseline_breaches": br[best],
        "breach_ratio": breach_ratio,
        "optimizer_travel": tr["optimizer"],
        "baseline_travel": tr[best],
        "travel_ratio": travel_ratio,
        "target": target,
        "target_met": target == TARGET_MET,
    }


TARGET_MET, TARGET_NOT_MET = "met", "NOT met"
TARGET_NO_BREACHES = (
    "n/a (no breaches in either: the run cannot show the breach target)"
)


def breach_target(
    optimizer_breaches: float | None,
    baseline_breaches: float | None,
    optimizer_travel: float | None,
    baseline_travel: float | None,
) -> str:
    """Issue 13's quality target (breaches <= x0.50 of the best baseline's, travel per
    ticket <= x1.00, i.e. no more than the baseline's: 0 vs 0 when nobody travels, a help
    desk, is no worse): met, NOT met, or, with no breaches in either, not applicable (0 / 0
    is no ratio; a run without breaches cannot tell the policies apart on them)."""
    ob, bb = optimizer_breaches, baseline_breaches
    ot, bt = optimizer_travel, baseline_travel
    if ob is None or bb is None or ot is None or bt is None:
        return TARGET_NOT_MET
    if bb == 0:
        return TARGET_NO_BREACHES if ob == 0 else TARGET_NOT_MET
    return TARGET_MET if ob / bb <= 0.5 and ot <= bt else TARGET_NOT_MET


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def peer_lines(summary: Any) -> list[str]:
    """Per VROOM policy: the optimizer against it (issue targets: no more breaches, no more
    travel per ticket, a faster solve, at most 0.15 reassignments per ticket)."""
    pol = summary["policy"].to_list()
    if "optimizer" not in pol:
        return []
    col = {
        key: dict(zip(pol, summary[f"{key}_mean"].to_list(), strict=True))
        for key in (
            "sla_breaches",
            "travel_km_per_ticket",
            "solve_p50_ms",
            "churn_per_ticket",
        )
    }
    o = "optimizer"
    lines = []
    for peer in [p for p in pol if _is_peer(p)]:
        ob, pb = col["sla_breaches"][o], col["sla_breaches"][peer]
        ot, pt = col["travel_km_per_ticket"][o], col["travel_km_per_ticket"][peer]
        speed = _ratio(col["solve_p50_ms"][peer], col["solve_p50_ms"][o])
        churn = col["churn_per_ticket"][o]
        met = (
            ob is not None and pb is not None and ob <= pb
            and ot is not None and pt is not None and ot <= pt
            and speed is not None and speed > 1.0
            and churn is not None and churn <= 0.15
        )  # fmt: skip
        lines.append(
            f"optimizer vs {peer}: SLA breaches {_fmt(ob, 'num')} vs {_fmt(pb, 'num')}, "
            f"travel per ticket x{_fmt(_ratio(ot, pt), 'num')}, "
            f"solve p50 {_fmt(speed, 'num')}x faster, "
            f"optimizer reassignments {_fmt(churn, 'num')}/ticket vs {_fmt(col['churn_per_ticket'][peer], 'num')} "
            f"(target: breaches and travel <= {peer}'s, faster, <= 0.15 -> {'met' if met else 'NOT met'})"
        )
    return lines


def verdict_line(verdict: dict[str, Any]) -> str:
    """One line: optimizer vs the best baseline; with zero baseline breaches, the counts."""
    br, tr = verdict["breach_ratio"], verdict["travel_ratio"]
    ob, bb = verdict.get("optimizer_breaches"), verdict.get("baseline_breaches")
    ot, bt = verdict.get("optimizer_travel"), verdict.get("baseline_travel")
    breaches = (
        f"SLA breaches x{br:.2f}"
        if br is not None
        else f"SLA breaches {_fmt(ob, 'num')} vs {_fmt(bb, 'num')} (no ratio)"
    )
    if tr is not None:
        travel = f"travel per ticket x{tr:.2f}"
    elif ot == 0 and bt == 0:
        travel = "travel per ticket 0 vs 0 (nobody travels)"
    else:
        travel = f"travel per ticket {_fmt(ot, 'num')} vs {_fmt(bt, 'num')} (no ratio)"
    target = breach_target(ob, bb, ot, bt)
    return (
        f"optimizer vs best baseline ({verdict['best_baseline']}): {breaches}, {travel} "
        f"(target: breaches <= x0.50 with travel <= x1.00 -> {target})"
    )


def _finish(args: argparse.Namespace, runs: list[Run], title: str) -> int:
    from simulations.paired import floor_lines, paired_lines
    from simulations.runner import kpi_table, summarize, write_outputs

    kpis = kpi_table(runs)
    summary = summarize(kpis, [m for m, _, _ in COMPARE_METRICS])
    print_summary(summary, title)
    verdict = quality_verdict(summary)
    if verdict is not None:
        print(verdict_line(verdict))
        print("\n".join(paired_lines(kpis)))
        print("\n".join(floor_lines(kpis, verdict["best_baseline"])))
    for line in peer_lines(summary):
        print(line)
    out: Path | None = args.out
    if out is not None:
        tables = write_outputs(out, runs, summary)
        if not args.no_plots:
            from simulations.plots import write_plots

            write_plots(
                out,
                tables["tickets"],
                tables["technicians"],
                tables["backlog"],
                tables["kpis"],
            )
        print(
            f"wrote {out}/: {', '.join(tables)} (.parquet + .csv)"
            + ("" if args.no_plots else ", *.png")
        )
    return 0


class UnknownPolicyError(ValueError):
    """A policy name on the command line that ``solver.policies`` does not know."""


def _policies(text: str) -> list[str]:
    from simulations.policies import POLICY_NAMES

    names = [p.strip() for p in text.split(",") if p.strip()]
    for name in names:
        if name not in POLICY_NAMES:
            raise UnknownPolicyError(
                f"unknown policy {name!r} (known: {', '.join(POLICY_NAMES)})"
            )
    if not names:
        raise UnknownPolicyError("no policy given")
    if any(_is_peer(name) for name in names):
        from simulations.vroom_policy import require_vroom

        require_vroom()  # a one-line error when pyvroom is missing
    return names


def _guard(fn: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        from simulations.replay import ReplayError
        from simulations.scenario import ScenarioError
        from simulations.tune import TuneConfigError
        from simulations.vroom_policy import VroomUnavailableError
        from solver.policy import PolicyError

        try:
            return int(fn(args))
        except (
            ScenarioError,
            PolicyError,
            FileNotFoundError,
            UnknownPolicyError,
            UsageError,
            ReplayError,
            TuneConfigError,
            VroomUnavailableError,
        ) as exc:
            print(f"dispatcher sim: error: {exc}", file=sys.stderr)
            return 2

    return wrapped


@_guard
def _run(args: argparse.Namespace) -> int:
    _check_counts(args, "seeds", "jobs")
    policies = _policies(args.policy)
    sc = _load(args)
    runs = execute(sc, policies, _seeds(args, sc), args.jobs, on_done=_writer(args))
    return _finish(
        args,
        runs,
        f"{sc.name}: {args.policy}, {args.seeds} seed(s), horizon {sc.horizon_s / 3600:g} h",
    )


@_guard
def _compare(args: argparse.Namespace) -> int:
    _check_counts(args, "seeds", "jobs")
    policies = _policies(args.policies)
    sc = _load(args)
    runs = execute(sc, policies, _seeds(args, sc), args.jobs, on_done=_writer(args))
    return _finish(
        args,
        runs,
        f"{sc.name}: {len(policies)} policies x {args.seeds} seed(s), mean ± 95% CI, horizon {sc.horizon_s / 3600:g} h",
    )


@_guard
def _tune(args: argparse.Namespace) -> int:
    from simulations.tune import TuneConfig, run_tune

    _check_counts(args, "trials", "seeds", "holdout_seeds", "jobs")
    if not args.max_churn >= 0:
        raise UsageError(f"--max-churn: must be 0 or more, got {args.max_churn:g}")
    if args.horizon_s is not None or args.replay is not None:
        # validates the scenario, --horizon-s and the replay (reported once) up front
        _load(args)
    return run_tune(
        TuneConfig(
            scenario=args.scenario,
            out=args.out,
            trials=args.trials,
            seeds=args.seeds,
            seed_offset=args.seed_offset,
            replay_file=args.replay,
            holdout_seeds=args.holdout_seeds,
            max_churn=args.max_churn,
            jobs=args.jobs,
            policy_file=getattr(args, "policy_file", None),
            horizon_s=args.horizon_s,
            storage=args.storage,
            study=args.study,
            policy_out=args.policy_out,
        )
    )
