"""Weight tuning with Optuna: multi-objective (SLA breach rate, travel per ticket, workload CV).

Parallel on one machine (``--jobs`` worker processes) and across machines: every process
talks to one shared study storage --

- ``redis://host:port/db`` (or ``rediss://``): ``optuna.storages.JournalStorage`` over
  ``JournalRedisBackend`` -- run the same ``dispatcher sim tune ... --storage redis://...
  --study NAME`` on as many machines as you like; they share the trials.
- a file path: ``JournalStorage`` over ``JournalFileBackend`` (one machine, or a shared
  file system with working locks).
- any other ``scheme://`` URL: handed to Optuna as an RDB URL (e.g. ``sqlite:///t.db``).
- default: the journal file ``OUT/study.journal``.

``--trials`` counts the trials *this command* runs (split over its jobs). Each trial runs
the optimizer on ``--seeds`` seeds (common random numbers: the same seeds for every trial)
and reports the mean KPIs. At the end the Pareto front is ranked by breach rate, then
travel, then workload CV, and the first is written as a policy file (the scenario's SLA
targets and solver settings with the tuned weights) that the service loads unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from solver.policy import write_policy_file

if TYPE_CHECKING:
    from pathlib import Path

    import optuna

    from simulations.scenario import Scenario
    from solver.model import CostWeights

OBJECTIVES = ("breach_rate", "travel_km_per_ticket", "workload_cv")

# name -> (low, high, log scale)
SEARCH_SPACE: dict[str, tuple[float, float, bool]] = {
    "travel": (0.1, 10.0, True),
    "lateness": (0.5, 200.0, True),
    "waiting": (0.005, 2.0, True),
    "skill_surplus": (1.0, 600.0, True),
    "balance": (1.0, 5000.0, True),
    "stability": (10.0, 10000.0, True),
    "unassigned": (500.0, 100000.0, True),
}


def make_storage(url: str) -> Any:
    """Build the Optuna storage for ``url`` (see the module docstring)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalRedisBackend

    if url.startswith(("redis://", "rediss://", "unix://")):
        return JournalStorage(JournalRedisBackend(url))
    if "://" in url:
        return url
    return JournalStorage(JournalFileBackend(url))


def suggest_weights(trial: optuna.Trial, base: CostWeights) -> CostWeights:
    """Weights for one trial: the search space over the scenario's weights."""
    values = {
        name: trial.suggest_float(name, lo, hi, log=log)
        for name, (lo, hi, log) in SEARCH_SPACE.items()
    }
    return dataclasses.replace(base, **values)


def evaluate(sc: Scenario, weights: CostWeights, seeds: list[int]) -> dict[str, float]:
    """Mean KPIs of the optimizer with ``weights`` over ``seeds``."""
    from simulations.runner import run_once

    params = dataclasses.replace(sc.policy.solve_params(), weights=weights)
    sums: dict[str, float] = {}
    for seed in seeds:
        k = run_once(sc, "optimizer", seed, params=params).kpis
        for key, v in k.items():
            if isinstance(v, int | float) and v is not None and math.isfinite(v):
                sums[key] = sums.get(key, 0.0) + float(v)
    return {k: v / len(seeds) for k, v in sums.items()}


def _worker(job: tuple[Scenario, str, str, int, list[int], int]) -> int:
    import optuna

    sc, storage_url, study_name, n_trials, seeds, worker = job
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=study_name,
        storage=make_storage(storage_url),
        sampler=optuna.samplers.TPESampler(
            seed=sc.seed * 1000 + worker, n_startup_trials=8
        ),
    )
    base = sc.policy.weights

    def objective(trial: optuna.Trial) -> tuple[float, float, float]:
        if trial.params:  # an enqueued trial (the scenario's own weights)
            weights = dataclasses.replace(
                base,
                **{k: float(v) for k, v in trial.params.items() if k in SEARCH_SPACE},
            )
            for name, (lo, hi, log) in SEARCH_SPACE.items():
                trial.suggest_float(name, lo, hi, log=log)
        else:
            weights = suggest_weights(trial, base)
        kpis = evaluate(sc, weights, seeds)
        for key in (
            "sla_attainment",
            "sla_breaches",
            "travel_km",
            "utilization_mean",
            "churn_per_ticket",
            "wall_s",
        ):
            if key in kpis:
                trial.set_user_attr(key, kpis[key])
        return tuple(float(kpis.get(o, math.inf)) for o in OBJECTIVES)  # type: ignore[return-value]

    study.optimize(objective, n_trials=n_trials)
    return n_trials


def pick_best(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The Pareto-optimal trial with the fewest breaches, then least travel, then most even."""
    front = study.best_trials
    if not front:
        raise ValueError("no completed trial in the study")
    return min(front, key=lambda t: tuple(t.values))


def _trials_table(study: optuna.Study) -> Any:
    import polars as pl

    rows = []
    for t in study.trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state.name}
        for o, v in zip(OBJECTIVES, t.values or [None] * len(OBJECTIVES), strict=True):
            row[o] = v
        row.update({f"w_{k}": v for k, v in t.params.items()})
        row.update(
            {f"kpi_{k}": v for k, v in t.user_attrs.items() if not isinstance(v, str)}
        )
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


@dataclass(frozen=True)
class TuneConfig:
    """What ``dispatcher sim tune`` runs (the CLI builds it from its flags)."""

    scenario: str | Path
    out: Path
    trials: int
    seeds: int
    jobs: int = 1
    policy_file: str | Path | None = None
    horizon_s: float | None = None
    storage: str | None = None  # an Optuna storage URL (default: out/study.journal)
    study: str | None = None  # the study name (default: tune-<scenario>)
    policy_out: Path | None = (
        None  # the best policy file (default: out/best_policy.toml)
    )


def run_tune(args: TuneConfig) -> int:
    """``dispatcher sim tune``: run the trials, then write the best policy file."""
    import optuna
    from rich.console import Console
    from rich.progress import Progress

    from simulations.runner import seeds_for
    from simulations.scenario import load_run_scenario

    sc = load_run_scenario(
        args.scenario, policy_file=args.policy_file, horizon_s=args.horizon_s
    )
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    storage_url = args.storage or str(out / "study.journal")
    study_name = args.study or f"tune-{sc.name}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        storage=make_storage(storage_url),
        directions=["minimize"] * len(OBJECTIVES),
        load_if_exists=True,
    )
    if not study.trials:
        base = sc.policy.weights
        start = {
            k: min(max(float(getattr(base, k)), lo), hi)
            for k, (lo, hi, _) in SEARCH_SPACE.items()
        }
        study.enqueue_trial(start, user_attrs={"origin": "scenario weights"})
    seeds = seeds_for(sc, args.seeds)
    jobs = max(1, int(args.jobs))
    shares = [
        args.trials // jobs + (1 if w < args.trials % jobs else 0) for w in range(jobs)
    ]
    work = [
        (sc, storage_url, study_name, n, seeds, w)
        for w, n in enumerate(shares)
        if n > 0
    ]
    console = Console()
    with Progress(console=console) as bar:
        task = bar.add_task(
            f"{args.trials} trials x {len(seeds)} seeds in {jobs} process(es)",
            total=len(work),
        )
        if jobs == 1:
            for job in work:
                _worker(job)
                bar.advance(task)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn, not fork: polars and OR-Tools run thread pools that a fork can deadlock.
            with ProcessPoolExecutor(
                max_workers=jobs, mp_context=multiprocessing.get_context("spawn")
            ) as pool:
                for _ in pool.map(_worker, work):
                    bar.advance(task)

    study = optuna.load_study(study_name=study_name, storage=make_storage(storage_url))
    best = pick_best(study)
    weights = dataclasses.replace(
        sc.policy.weights,
        **{k: float(v) for k, v in best.params.items() if k in SEARCH_SPACE},
    )
    policy = dataclasses.replace(
        sc.policy,
        weights=weights,
        name=f"tuned-{sc.name}-trial{best.number}",
        description=(
            f"dispatcher sim tune {sc.name}: study {study_name}, trial {best.number} of {len(study.trials)}, "
            f"seeds {seeds}; "
            + ", ".join(
                f"{o}={v:.4g}" for o, v in zip(OBJECTIVES, best.values, strict=True)
            )
        ),
    )
    policy_path = args.policy_out or out / "best_policy.toml"
    write_policy_file(policy_path, policy)
    _trials_table(study).write_csv(out / "trials.csv")
    console.print(
        f"study {study_name}: {len(study.trials)} trials, Pareto front {len(study.best_trials)}; best trial {best.number}: "
        + ", ".join(
            f"{o}={v:.4g}" for o, v in zip(OBJECTIVES, best.values, strict=True)
        )
    )
    console.print(f"wrote {policy_path} and {out / 'trials.csv'}")
    return 0
