"""The end of ``dispatcher sim tune``: the best trial against the default weights, on the
tuning seeds and on held-out seeds, and the policy file only if it generalises.

Four columns, each the optimizer over seeds (mean ± 95% CI): the tuned weights and the
default weights (the scenario's, or ``--policy-file``'s), each on the tuning seeds and on
the held-out seeds. The tuned weights are written only if they are no worse than the
default on the held-out seeds by the tuner's own order of merit (``tune.rank_key``: breach
rate, then travel per ticket, then workload CV, on the means) and their churn is bounded
there (``churn_ok``: at most ``--max-churn`` reassignments per ticket, default 0.15, or no
more than the default's); otherwise the command says which and writes no policy. ``OUT/report.json`` holds the verdict, the seeds and the means,
``OUT/evaluation.csv`` the per-seed KPIs, ``OUT/trials.csv`` every trial of the study.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from simulations import stopping
from simulations.tune import (
    CHURN,
    OBJECTIVES,
    churn_text,
    make_storage,
    objectives_text,
    pick_best,
    rank_key,
    run_optimizer,
    seen_seeds,
    split_seeds,
    trials_table,
    weights_of,
    within_churn,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import optuna
    import polars as pl

    from simulations.scenario import Scenario
    from simulations.tune import TuneConfig
    from solver.model import CostWeights

# The rows of the printed table (keys of simulations.cli.COMPARE_METRICS).
REPORT_METRICS = (
    "breach_rate",
    "sla_breaches",
    "sla_attainment",
    "travel_km_per_ticket",
    "workload_cv",
    "utilization_mean",
    "churn_per_ticket",
)
TUNED_TUNING, TUNED_HELD_OUT = "tuned, tuning seeds", "tuned, held-out"
DEFAULT_TUNING, DEFAULT_HELD_OUT = "default, tuning seeds", "default, held-out"


def no_worse(tuned: Sequence[float | None], default: Sequence[float | None]) -> bool:
    """Whether the tuned means (``OBJECTIVES`` order) rank no worse than the default's."""
    return rank_key(tuned) <= rank_key(default)


def churn_ok(tuned: float | None, default: float | None, max_churn: float) -> bool:
    """Whether the tuned weights' held-out reassignments per ticket are within
    ``max_churn``, or no more than the default weights' (which the tuning did not cause)."""
    if within_churn(tuned, max_churn):
        return True
    return tuned is not None and default is not None and tuned <= default


def _run(item: tuple[Scenario, str, CostWeights, int]) -> dict[str, Any]:
    sc, label, weights, seed = item
    kpis = run_optimizer(sc, weights, seed)
    stopping.emit(("run", label, seed, tuple(kpis.get(o) for o in OBJECTIVES)))
    return {"policy": label, "seed": seed, **kpis}


def evaluate_split(
    sc: Scenario,
    tuned: CostWeights,
    tune_seeds: list[int],
    holdout: list[int],
    jobs: int,
) -> pl.DataFrame:
    """Per-seed KPIs of the four columns (``policy`` = the column's label, ``seed``)."""
    import polars as pl

    default = sc.policy.weights
    items = [
        (sc, label, weights, seed)
        for label, weights, seeds in (
            (TUNED_TUNING, tuned, tune_seeds),
            (TUNED_HELD_OUT, tuned, holdout),
            (DEFAULT_TUNING, default, tune_seeds),
            (DEFAULT_HELD_OUT, default, holdout),
        )
        for seed in seeds
    ]
    done = [0]

    def line(event: tuple[Any, ...]) -> None:
        _, label, seed, values = event
        done[0] += 1
        print(
            f"[check {done[0]}/{len(items)}] {label}, seed {seed}: {objectives_text(values)}",
            flush=True,
        )

    rows = stopping.run_all(_run, items, jobs, line)
    return pl.DataFrame(rows, infer_schema_length=None)


def _means(summary: pl.DataFrame, label: str) -> list[float | None]:
    row = summary.row(summary["policy"].to_list().index(label), named=True)
    return [row[f"{o}_mean"] for o in OBJECTIVES]


def _mean(summary: pl.DataFrame, label: str, metric: str) -> float | None:
    row = summary.row(summary["policy"].to_list().index(label), named=True)
    value = row.get(f"{metric}_mean")
    return None if value is None else float(value)


def _objective_cells(summary: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {
        row["policy"]: {
            o: {"mean": row[f"{o}_mean"], "ci95": row[f"{o}_ci95"]} for o in OBJECTIVES
        }
        for row in summary.iter_rows(named=True)
    }


def paired_differences(runs: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Per objective: tuned - default on each held-out seed (the same stream and roster for
    both), the mean and its 95% Student-t half-width (None with one seed)."""
    import numpy as np

    from simulations.runner import t95

    def by_seed(label: str) -> dict[int, dict[str, Any]]:
        rows = runs.filter(runs["policy"] == label).iter_rows(named=True)
        return {row["seed"]: row for row in rows}

    tuned, default = by_seed(TUNED_HELD_OUT), by_seed(DEFAULT_HELD_OUT)
    out: dict[str, dict[str, Any]] = {}
    for o in OBJECTIVES:
        per_seed = {
            s: tuned[s][o] - default[s][o]
            for s in sorted(tuned)
            if s in default
            and tuned[s].get(o) is not None
            and default[s].get(o) is not None
        }
        d = np.array(list(per_seed.values()), float)
        n = d.size
        out[o] = {
            "per_seed": per_seed,
            "mean": float(d.mean()) if n else None,
            "ci95": float(t95(n - 1) * d.std(ddof=1) / np.sqrt(n)) if n > 1 else None,
        }
    return out


def paired_line(paired: dict[str, dict[str, Any]]) -> str:
    """``held-out, paired per seed (tuned - default): breach_rate -0.01 ± 0.02, ...``."""
    cells = []
    for o, cell in paired.items():
        mean, ci = cell["mean"], cell["ci95"]
        text = "-" if mean is None else f"{mean:+.4g}"
        cells.append(f"{o} {text}" + ("" if ci is None else f" ± {ci:.2g}"))
    return "held-out, paired per seed (tuned - default, mean ± 95% CI): " + ", ".join(
        cells
    )


def finish(
    sc: Scenario,
    cfg: TuneConfig,
    storage_url: str,
    study_name: str,
    tune_seeds: list[int],
) -> None:
    """Assess the study's best trial on held-out seeds, write the outputs, print the verdict."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=make_storage(storage_url))
    trials_table(study).write_csv(cfg.out / "trials.csv")
    report: dict[str, Any] = {
        "scenario": sc.name,
        "study": study_name,
        "trials": len(study.trials),
        "interrupted": stopping.signal_name() if stopping.received() else None,
        "tuning_seeds": tune_seeds,
        "best_trial": None,
        "holdout_seeds": [],
        "holdout_checked": False,
        "no_worse": None,
        "policy_written": None,
    }
    if report["interrupted"]:
        print(
            f"tuning interrupted by {report['interrupted']}: assessing the best trial so far "
            "(a second signal skips the held-out runs)",
            flush=True,
        )
    try:
        _assess(sc, cfg, study, report)
    finally:
        (cfg.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {cfg.out / 'trials.csv'} and {cfg.out / 'report.json'}")


def _assess(
    sc: Scenario, cfg: TuneConfig, study: optuna.Study, report: dict[str, Any]
) -> None:
    from simulations.cli import print_summary
    from simulations.runner import summarize

    try:
        best = pick_best(study, report["tuning_seeds"], cfg.max_churn)
    except ValueError:
        print("no completed trial: no policy written")
        return
    report["best_trial"] = best.number
    tune_seeds = report["tuning_seeds"]
    _, holdout = split_seeds(
        tune_seeds[0], len(tune_seeds), cfg.holdout_seeds, seen_seeds(study)
    )
    report["holdout_seeds"] = holdout
    tuned = weights_of(sc.policy.weights, best.params)
    try:
        runs = evaluate_split(sc, tuned, report["tuning_seeds"], holdout, cfg.jobs)
    except stopping.Interrupted:
        report["interrupted"] = report["interrupted"] or stopping.signal_name()
        print(
            "held-out runs stopped by a signal: the best trial is not checked on "
            "held-out seeds, so no policy is written"
        )
        return
    runs.write_csv(cfg.out / "evaluation.csv")
    summary = summarize(runs, list(REPORT_METRICS))
    print_summary(
        summary,
        f"{sc.name}: trial {best.number} (tuned) vs default weights, mean ± 95% CI; "
        f"tuning seeds {report['tuning_seeds']}, held-out seeds {holdout}",
    )
    report["holdout_checked"] = True
    report["objectives"] = _objective_cells(summary)
    report["paired_held_out"] = paired_differences(runs)
    print(paired_line(report["paired_held_out"]))
    tuned_means = _means(summary, TUNED_HELD_OUT)
    default_means = _means(summary, DEFAULT_HELD_OUT)
    report["no_worse"] = no_worse(tuned_means, default_means)
    churn = {"tuned": _mean(summary, TUNED_HELD_OUT, CHURN)}
    churn["default"] = _mean(summary, DEFAULT_HELD_OUT, CHURN)
    report["max_churn"] = cfg.max_churn
    report["churn_held_out"] = churn
    report["churn_ok"] = churn_ok(churn["tuned"], churn["default"], cfg.max_churn)
    compared = (
        f"held-out: tuned {objectives_text(tuned_means)}, {churn_text(churn['tuned'])} "
        f"vs default {objectives_text(default_means)}, {churn_text(churn['default'])}"
    )
    path = cfg.policy_out or cfg.out / "best_policy.toml"
    kept = f" ({path} is from an earlier run, left as it was)" if path.exists() else ""
    if not report["no_worse"]:
        print(
            f"{compared}: tuned is WORSE on the held-out seeds, no policy written{kept}"
        )
        return
    if not report["churn_ok"]:
        print(
            f"{compared}: tuned CHURNS MORE than the limit {cfg.max_churn:g} "
            "reassignments per ticket and the default on the held-out seeds, no policy "
            f"written{kept}"
        )
        return
    _write_policy(sc, study, best, tuned, report, path)
    report["policy_written"] = str(path)
    print(f"{compared}: no worse, churn within bounds, wrote {path}")


def _write_policy(
    sc: Scenario,
    study: optuna.Study,
    best: optuna.trial.FrozenTrial,
    tuned: CostWeights,
    report: dict[str, Any],
    path: Any,
) -> None:
    from solver.policy import write_policy_file

    stopped = (
        f"; interrupted by {report['interrupted']}" if report["interrupted"] else ""
    )
    policy = dataclasses.replace(
        sc.policy,
        weights=tuned,
        name=f"tuned-{sc.name}-trial{best.number}",
        description=(
            f"dispatcher sim tune {sc.name}: study {study.study_name}, trial {best.number} "
            f"of {len(study.trials)}{stopped}; tuning seeds {report['tuning_seeds']}: "
            f"{objectives_text(best.values)}; no worse than the default on held-out "
            f"seeds {report['holdout_seeds']}"
        ),
    )
    write_policy_file(path, policy)
