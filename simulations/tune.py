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
the optimizer on the *tuning seeds* (``--seeds K``: the scenario's seed and the next K - 1;
common random numbers: the same seeds for every trial) and reports the mean KPIs; each
trial records its seeds. The best trial is the completed one with the fewest breaches, then
least travel, then most even workload (``rank_key``; it lies on the Pareto front), among the
trials run on the same tuning seeds whose reassignments per ticket (``CHURN``, a constraint,
not an objective) are within ``--max-churn`` (``trial_key``, ``pick_best``).

Then the best trial and the default weights (the scenario's, or ``--policy-file``'s) run on
the tuning seeds and on ``--holdout-seeds H`` *held-out seeds* that no trial of the study
used (``split_seeds``), and ``simulations.tune_holdout`` prints them side by side with 95%
intervals. The best weights are written as a policy file (the scenario's SLA targets and
solver settings with the tuned weights, loaded by the service unchanged) only if they are
no worse than the default on the held-out seeds and their churn there is within
``--max-churn`` or no more than the default's; otherwise the command says which.

Progress: a bar on a terminal, else one line per finished trial (trial n/N, its objectives,
the best so far, elapsed time). SIGINT or SIGTERM stops the trials at a safe point
(``simulations.stopping``: the running trial ends FAIL, none is left RUNNING); the best so
far is then assessed and written as at a normal end, marked as interrupted, and the exit
code is 130 (SIGINT) or 143 (SIGTERM). A second signal skips the held-out runs (nothing is
written then but the trials table and the report).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulations import stopping

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from pathlib import Path

    import optuna

    from simulations.scenario import Scenario
    from solver.model import CostWeights

OBJECTIVES = ("breach_rate", "travel_km_per_ticket", "workload_cv")

CHURN = "churn_per_ticket"
"""Reassignments per ticket (``simulations.kpi``): a constraint of tuning, not an objective."""
CHURN_LIMIT = 0.15
"""Default ``--max-churn``: issue 13's target of at most 0.15 reassignments per ticket."""

# name -> (low, high, log scale)
SEARCH_SPACE: dict[str, tuple[float, float, bool]] = {
    "travel": (0.1, 10.0, True),
    "lateness": (0.5, 200.0, True),
    "breach": (10.0, 30000.0, True),
    "waiting": (0.005, 2.0, True),
    "skill_surplus": (1.0, 600.0, True),
    "balance": (1.0, 5000.0, True),
    "stability": (10.0, 10000.0, True),
    "unassigned": (500.0, 100000.0, True),
}

TRIAL_KPIS = (
    "sla_attainment",
    "sla_breaches",
    "travel_km",
    "utilization_mean",
    "churn_per_ticket",
    "wall_s",
)


class TuneConfigError(ValueError):
    """A ``TuneConfig`` field out of range (the message names it)."""


@dataclass(frozen=True)
class TuneConfig:
    """What ``dispatcher sim tune`` runs (the CLI builds it from its flags)."""

    scenario: str | Path
    out: Path
    trials: int
    seeds: int  # tuning seeds: the scenario's seed + seed_offset and the next seeds - 1
    seed_offset: int = 0
    replay_file: Path | None = None  # replaces the scenario's stream (``--replay``)
    holdout_seeds: int = 3  # held-out seeds, after every seed a trial of the study used
    jobs: int = 1
    policy_file: str | Path | None = None
    horizon_s: float | None = None
    storage: str | None = None  # an Optuna storage URL (default: out/study.journal)
    study: str | None = None  # the study name (default: tune-<scenario>)
    # the best policy file (default: out/best_policy.toml)
    policy_out: Path | None = None
    # reassignments per ticket a written policy may have on the held-out seeds (unless no
    # more than the default's there); the best trial is picked among trials within it
    max_churn: float = CHURN_LIMIT

    def __post_init__(self) -> None:
        for name in ("trials", "seeds", "holdout_seeds", "jobs"):
            value = getattr(self, name)
            if value < 1:
                raise TuneConfigError(f"{name}: must be at least 1, got {value}")
        if not self.max_churn >= 0:
            raise TuneConfigError(f"max_churn: must be 0 or more, got {self.max_churn}")
        if self.seed_offset < 0:
            raise TuneConfigError(
                f"seed_offset: must be 0 or more, got {self.seed_offset}"
            )


def make_storage(url: str) -> Any:
    """Build the Optuna storage for ``url`` (see the module docstring)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalRedisBackend

    if url.startswith(("redis://", "rediss://", "unix://")):
        return JournalStorage(JournalRedisBackend(url))
    if "://" in url:
        return url
    return JournalStorage(JournalFileBackend(url))


def split_seeds(
    first: int, n_tune: int, n_holdout: int, seen: Iterable[int] = ()
) -> tuple[list[int], list[int]]:
    """Tuning seeds ``first .. first + n_tune - 1`` and ``n_holdout`` held-out seeds.

    The held-out seeds follow the largest seed among the tuning seeds and ``seen`` (the seeds
    any trial of the study used, perhaps with a larger ``--seeds``), so no trial saw them.
    """
    tune = [first + k for k in range(n_tune)]
    start = max([*tune, *seen]) + 1
    return tune, [start + k for k in range(n_holdout)]


def seeds_text(seeds: Sequence[int]) -> str:
    """How a trial records its seeds (user attribute ``seeds``): ``"1,2,3"``."""
    return ",".join(str(s) for s in seeds)


def seen_seeds(study: optuna.Study) -> set[int]:
    """Every seed a trial of ``study`` recorded (user attribute ``seeds``)."""
    seen: set[int] = set()
    for t in study.trials:
        text = t.user_attrs.get("seeds")
        if isinstance(text, str) and text:
            seen.update(int(s) for s in text.split(","))
    return seen


def rank_key(values: Sequence[float | None] | None) -> tuple[float, ...]:
    """Order of merit of objective values: fewest breaches, then travel, then workload CV."""
    if values is None:
        return (math.inf,) * len(OBJECTIVES)
    return tuple(
        float(v) if v is not None and math.isfinite(v) else math.inf for v in values
    )


def within_churn(churn: float | None, max_churn: float | None) -> bool:
    """A trial's (or run's) reassignments per ticket respect the limit (None: no limit; an
    unknown churn does not)."""
    if max_churn is None:
        return True
    return churn is not None and math.isfinite(churn) and churn <= max_churn


def trial_key(
    values: Sequence[float | None] | None,
    churn: float | None,
    max_churn: float | None,
) -> tuple[float, ...]:
    """Order of merit of trials: within the churn limit first, then ``rank_key``."""
    return (0.0 if within_churn(churn, max_churn) else 1.0, *rank_key(values))


def _churn_of(trial: optuna.trial.FrozenTrial) -> float | None:
    value = trial.user_attrs.get(CHURN)
    return float(value) if isinstance(value, int | float) else None


def suggest_weights(trial: optuna.Trial, base: CostWeights) -> CostWeights:
    """Weights for one trial: the search space over the scenario's weights."""
    values = {
        name: trial.suggest_float(name, lo, hi, log=log)
        for name, (lo, hi, log) in SEARCH_SPACE.items()
    }
    return dataclasses.replace(base, **values)


def weights_of(base: CostWeights, params: dict[str, Any]) -> CostWeights:
    """``base`` with the searched weights of a trial's ``params``."""
    return dataclasses.replace(
        base, **{k: float(v) for k, v in params.items() if k in SEARCH_SPACE}
    )


def _stop_check(_now_s: float) -> None:
    stopping.check()


def run_optimizer(sc: Scenario, weights: CostWeights, seed: int) -> dict[str, Any]:
    """KPIs of one optimizer run with ``weights``; stops at a safe point on SIGINT/SIGTERM."""
    from simulations.runner import run_once

    params = dataclasses.replace(sc.policy.solve_params(), weights=weights)
    return run_once(sc, "optimizer", seed, params=params, progress=_stop_check).kpis


def evaluate(sc: Scenario, weights: CostWeights, seeds: list[int]) -> dict[str, float]:
    """Mean KPIs of the optimizer with ``weights`` over ``seeds``."""
    sums: dict[str, float] = {}
    for seed in seeds:
        for key, v in run_optimizer(sc, weights, seed).items():
            if isinstance(v, int | float) and math.isfinite(v):
                sums[key] = sums.get(key, 0.0) + float(v)
    return {k: v / len(seeds) for k, v in sums.items()}


@dataclass(frozen=True)
class TrialJob:
    """One worker's share of the trials."""

    scenario: Scenario
    storage_url: str
    study_name: str
    trials: int
    seeds: list[int]
    worker: int


def _objective(job: TrialJob) -> Callable[[optuna.Trial], tuple[float, ...]]:
    base = job.scenario.policy.weights

    def objective(trial: optuna.Trial) -> tuple[float, ...]:
        stopping.check()
        started = time.monotonic()
        if trial.params:  # an enqueued trial (the scenario's own weights)
            weights = weights_of(base, trial.params)
            for name, (lo, hi, log) in SEARCH_SPACE.items():
                trial.suggest_float(name, lo, hi, log=log)
        else:
            weights = suggest_weights(trial, base)
        trial.set_user_attr("seeds", seeds_text(job.seeds))
        try:
            kpis = evaluate(job.scenario, weights, job.seeds)
        except stopping.Interrupted as exc:
            trial.set_user_attr("stopped", str(exc))
            stopping.emit(("trial", trial.number, "FAIL", None, str(exc), None))
            raise
        for key in TRIAL_KPIS:
            if key in kpis:
                trial.set_user_attr(key, kpis[key])
        values = tuple(float(kpis.get(o, math.inf)) for o in OBJECTIVES)
        took = f"{time.monotonic() - started:.1f} s"
        stopping.emit(
            ("trial", trial.number, "COMPLETE", values, took, kpis.get(CHURN))
        )
        return values

    return objective


def run_trials(job: TrialJob) -> int:
    """Run ``job.trials`` trials of the shared study (here or in a worker process)."""
    import logging

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # progress lines say it all
    # the parent process reported the replay's skipped rows already (``cli._load``)
    logging.getLogger("simulations.replay").setLevel(logging.ERROR)
    study = optuna.load_study(
        study_name=job.study_name,
        storage=make_storage(job.storage_url),
        sampler=optuna.samplers.TPESampler(
            seed=job.scenario.seed * 1000 + job.worker, n_startup_trials=8
        ),
    )

    def stop_between_trials(study: optuna.Study, _trial: Any) -> None:
        if stopping.requested():
            study.stop()

    # Interrupted: the trial it cut short is FAIL in the study; the rest never started.
    with contextlib.suppress(stopping.Interrupted):
        study.optimize(
            _objective(job), n_trials=job.trials, callbacks=[stop_between_trials]
        )
    return job.trials


def pick_best(
    study: optuna.Study,
    seeds: Sequence[int] | None = None,
    max_churn: float | None = None,
) -> optuna.trial.FrozenTrial:
    """The completed trial with the fewest breaches, then least travel, then most even.

    With ``seeds``: among the trials run on exactly those seeds (means over other seeds are
    not comparable), or among all if none was (a study from before trials recorded seeds).
    With ``max_churn``: a trial within it (reassignments per ticket on its seeds) beats
    every trial above it (``trial_key``); if none is within, the best above it is picked
    (and the held-out check reports its churn).
    """
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise ValueError("no completed trial in the study")
    if seeds is not None:
        same = [t for t in done if t.user_attrs.get("seeds") == seeds_text(seeds)]
        done = same or done
    return min(done, key=lambda t: trial_key(t.values, _churn_of(t), max_churn))


def objectives_text(values: Sequence[float | None] | None) -> str:
    """``breach_rate=0.031, travel_km_per_ticket=1.2, workload_cv=0.3``."""
    if values is None:
        return "-"
    return ", ".join(
        f"{o}={'-' if v is None else f'{v:.4g}'}"
        for o, v in zip(OBJECTIVES, values, strict=True)
    )


class TrialProgress:
    """This command's trials: a bar on a terminal, else one line per finished trial."""

    def __init__(
        self,
        total: int,
        best: optuna.trial.FrozenTrial | None,
        bar: Any = None,
        max_churn: float | None = None,
    ) -> None:
        self.total, self.done, self.bar = total, 0, bar
        self.max_churn = max_churn
        self.best = (
            (best.number, tuple(best.values), _churn_of(best))
            if best is not None
            else None
        )
        self.started = time.monotonic()

    def __call__(self, event: tuple[Any, ...]) -> None:
        _, number, state, values, note, churn = event
        self.done += 1
        if values is not None and (
            self.best is None
            or trial_key(values, churn, self.max_churn)
            < trial_key(self.best[1], self.best[2], self.max_churn)
        ):
            self.best = (number, values, churn)
        if self.bar is not None:
            task = self.bar.task_ids[0]
            self.bar.update(task, advance=1, description=self._best_text(short=True))
            return
        result = objectives_text(values) if state == "COMPLETE" else state
        print(
            f"[{self.done}/{self.total}] trial {number} {result} ({note}) | "
            f"{self._best_text()} | {time.monotonic() - self.started:.0f} s elapsed",
            flush=True,
        )

    def _best_text(self, short: bool = False) -> str:
        if self.best is None:
            return "best so far: none"
        number, values, churn = self.best
        if short:  # the bar's line: the first objective only
            return f"best so far: trial {number}, {OBJECTIVES[0]}={values[0]:.4g}"
        return (
            f"best so far: trial {number} ({objectives_text(values)}, "
            f"{churn_text(churn)})"
        )


def churn_text(churn: float | None) -> str:
    """``churn_per_ticket=0.12``."""
    return f"{CHURN}={'-' if churn is None else f'{churn:.3g}'}"


@contextlib.contextmanager
def trial_progress(
    total: int, best: optuna.trial.FrozenTrial | None, max_churn: float | None = None
) -> Iterator[TrialProgress]:
    """A ``TrialProgress`` with a rich bar when stdout is a terminal."""
    if not sys.stdout.isatty():
        yield TrialProgress(total, best, max_churn=max_churn)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("trials"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns) as bar:
        bar.add_task("best so far: -", total=total)
        yield TrialProgress(total, best, bar, max_churn)


def trials_table(study: optuna.Study) -> Any:
    """One row per trial: number, state, objectives, weights (``w_``) and KPIs (``kpi_``)."""
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


def _open_study(sc: Scenario, storage_url: str, study_name: str) -> optuna.Study:
    """Create or load the study; a new one starts with the scenario's own weights."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
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
    return study


def default_study_name(scenario: str, replay_file: Path | None) -> str:
    """``tune-<scenario>``, plus ``-<replay file stem>`` with ``--replay``: trials on
    another stream do not share a study (their means do not compare)."""
    return f"tune-{scenario}" + (f"-{replay_file.stem}" if replay_file else "")


def _shares(trials: int, jobs: int) -> list[int]:
    return [n for w in range(jobs) if (n := trials // jobs + (w < trials % jobs)) > 0]


def run_tune(args: TuneConfig) -> int:
    """``dispatcher sim tune``: trials, then the held-out check and the best policy file.

    Returns 0, or 128 + the signal number when SIGINT/SIGTERM stopped it.
    """
    from simulations.runner import seeds_for
    from simulations.scenario import load_run_scenario
    from simulations.tune_holdout import finish

    sc = load_run_scenario(
        args.scenario,
        policy_file=args.policy_file,
        horizon_s=args.horizon_s,
        replay_file=args.replay_file,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    storage_url = args.storage or str(args.out / "study.journal")
    study_name = args.study or default_study_name(sc.name, args.replay_file)
    study = _open_study(sc, storage_url, study_name)
    tune_seeds = seeds_for(sc, args.seeds, args.seed_offset)
    work = [
        TrialJob(sc, storage_url, study_name, n, tune_seeds, w)
        for w, n in enumerate(_shares(args.trials, args.jobs))
    ]
    with stopping.stop_on_signals():
        print(
            f"study {study_name}: {args.trials} trials x {len(tune_seeds)} tuning seeds "
            f"{tune_seeds} in {len(work)} process(es)",
            flush=True,
        )
        best = (
            pick_best(study, tune_seeds, args.max_churn)
            if any(t.values for t in study.trials)
            else None
        )
        with trial_progress(args.trials, best, args.max_churn) as progress:
            stopping.run_all(run_trials, work, args.jobs, progress)
        stopping.next_phase()
        finish(sc, args, storage_url, study_name, tune_seeds)
        stopped = stopping.received()
    return 0 if stopped is None else 128 + stopped
