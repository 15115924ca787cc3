"""``sim tune`` generalises: held-out seeds apart from tuning seeds, tuned vs default on them,
the policy written only if no worse there, progress off a terminal, SIGINT/SIGTERM."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.__main__ import main
from simulations.tune import (
    OBJECTIVES,
    TuneConfig,
    TuneConfigError,
    make_storage,
    pick_best,
    split_seeds,
)
from simulations.tune_holdout import (
    DEFAULT_HELD_OUT,
    DEFAULT_TUNING,
    TUNED_HELD_OUT,
    TUNED_TUNING,
    no_worse,
)
from solver.policy import load_policy_file

TINY = ["--seeds", "1", "--horizon-s", "3600"]  # a trial takes well under a second
LABELS = (TUNED_TUNING, TUNED_HELD_OUT, DEFAULT_TUNING, DEFAULT_HELD_OUT)


@given(
    first=st.integers(-1000, 10**6),
    n_tune=st.integers(1, 40),
    n_holdout=st.integers(1, 40),
    seen=st.sets(st.integers(-1000, 10**6 + 100), max_size=20),
)
def test_held_out_seeds_are_apart_from_every_seed_a_trial_saw(
    first: int, n_tune: int, n_holdout: int, seen: set[int]
) -> None:
    """Tuning seeds first..first+n-1; held-out seeds distinct, none a tuning or seen seed."""
    tune, holdout = split_seeds(first, n_tune, n_holdout, seen)
    assert tune == list(range(first, first + n_tune))
    assert len(set(holdout)) == n_holdout
    assert not set(holdout) & (set(tune) | seen)


objective_values = st.lists(
    st.one_of(st.none(), st.floats(0.0, 10.0)),
    min_size=len(OBJECTIVES),
    max_size=len(OBJECTIVES),
)


@given(default=objective_values, tuned=objective_values)
def test_no_worse_is_fewer_breaches_first_then_travel_then_evenness(
    default: list[float | None], tuned: list[float | None]
) -> None:
    """The gate: equal is no worse; more breaches is worse whatever the travel; a missing
    value counts as the worst."""

    def key(v: float | None) -> float:
        return math.inf if v is None else v

    assert no_worse(default, default)
    if key(tuned[0]) != key(default[0]):
        assert no_worse(tuned, default) == (key(tuned[0]) < key(default[0]))
    elif key(tuned[1]) != key(default[1]):
        assert no_worse(tuned, default) == (key(tuned[1]) < key(default[1]))


def test_tune_config_names_a_bad_field(tmp_path: Path) -> None:
    with pytest.raises(TuneConfigError, match=r"^holdout_seeds: must be at least 1"):
        TuneConfig(scenario="smoke", out=tmp_path, trials=1, seeds=1, holdout_seeds=0)


def test_report_shows_tuning_and_held_out_seeds_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two commands on one study, the first with 3 tuning seeds, the second with 2: the
    second's held-out seeds still follow every seed a trial used. The report prints the four
    columns (tuned/default x tuning/held-out), the paired held-out differences and the
    verdict; the best trial is one run on this command's seeds; report.json and
    evaluation.csv hold them; the policy file is replaced exactly when the tuned weights are
    no worse on the held-out seeds."""
    out = tmp_path / "t"
    base = ["sim", "tune", "smoke", "--horizon-s", "3600", "--out", str(out)]
    assert main([*base, "--trials", "1", "--seeds", "3", "--holdout-seeds", "1"]) == 0
    capsys.readouterr()
    first = (out / "best_policy.toml").read_text()  # the scenario's weights, trial 0
    assert main([*base, "--trials", "4", "--seeds", "2", "--holdout-seeds", "2"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["tuning_seeds"] == [1, 2]
    assert report["holdout_seeds"] == [4, 5]  # after seeds 1..3 of the first command
    assert report["interrupted"] is None
    assert set(report["objectives"]) == set(LABELS)
    for label in LABELS:
        assert label.split(",")[0] in printed
    assert "held-out seeds [4, 5]" in printed
    runs = pl.read_csv(out / "evaluation.csv")
    seeds = {
        label: sorted(runs.filter(pl.col("policy") == label)["seed"].to_list())
        for label in LABELS
    }
    assert seeds == {
        TUNED_TUNING: [1, 2],
        DEFAULT_TUNING: [1, 2],
        TUNED_HELD_OUT: [4, 5],
        DEFAULT_HELD_OUT: [4, 5],
    }
    tuned = runs.filter(pl.col("policy") == TUNED_HELD_OUT).sort("seed")
    default = runs.filter(pl.col("policy") == DEFAULT_HELD_OUT).sort("seed")
    for o in OBJECTIVES:
        differences = (tuned[o] - default[o]).to_list()
        assert report["paired_held_out"][o]["mean"] == pytest.approx(
            sum(differences) / 2
        )
    assert "paired per seed (tuned - default" in printed
    # the best trial is picked among the trials on this command's tuning seeds
    study = optuna.load_study(
        study_name="tune-smoke", storage=make_storage(str(out / "study.journal"))
    )
    assert study.trials[report["best_trial"]].user_attrs["seeds"] == "1,2"
    held = report["objectives"]
    verdict = no_worse(
        [held[TUNED_HELD_OUT][o]["mean"] for o in OBJECTIVES],
        [held[DEFAULT_HELD_OUT][o]["mean"] for o in OBJECTIVES],
    )
    assert report["no_worse"] == verdict
    assert ("no worse, wrote" in printed) == verdict
    assert ("WORSE on the held-out seeds, no policy written" in printed) != verdict
    written = load_policy_file(out / "best_policy.toml").name
    if verdict:
        assert written == f"tuned-smoke-trial{report['best_trial']}"
    else:  # the earlier file stays, and the command says so
        assert (out / "best_policy.toml").read_text() == first
        assert "is from an earlier run, left as it was" in printed


@pytest.mark.parametrize(
    ("signum", "code", "jobs"),
    [(signal.SIGINT, 130, "2"), (signal.SIGTERM, 143, "1")],
    ids=["SIGINT-2-jobs", "SIGTERM-1-job"],
)
def test_a_signal_stops_tuning_and_reports_the_best_so_far(
    tmp_path: Path, signum: signal.Signals, code: int, jobs: str
) -> None:
    """A real ``dispatcher sim tune`` process, signalled once its first trial ended: it
    exits 128 + signal without a traceback, leaves no trial RUNNING, and writes the same
    outputs as a normal end, marked as interrupted."""
    out = tmp_path / "t"
    argv = ["sim", "tune", "smoke", "--trials", "500", *TINY, "--holdout-seeds", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher", *argv, "--jobs", jobs, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # off a terminal: one line per finished trial
        lines.append(line)
        if line.startswith("[1/500] trial "):
            break
    assert "best so far: trial " in lines[-1]
    assert " s elapsed" in lines[-1]
    proc.send_signal(signum)
    rest, err = proc.communicate(timeout=120)
    printed = "".join(lines) + rest
    assert proc.returncode == code, err
    assert "Traceback" not in printed + err
    assert f"tuning interrupted by {signum.name}" in printed
    trials = pl.read_csv(out / "trials.csv")
    assert "RUNNING" not in trials["state"].to_list()
    assert 1 <= (trials["state"] == "COMPLETE").sum() < 500
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] == signum.name
    assert report["holdout_checked"]
    assert (out / "best_policy.toml").exists() == report["no_worse"]
    if report["no_worse"]:
        policy = load_policy_file(out / "best_policy.toml")
        assert policy.name == f"tuned-smoke-trial{report['best_trial']}"
        assert f"interrupted by {signum.name}" in policy.description


def test_best_trial_is_picked_among_trials_on_the_same_seeds() -> None:
    """Means over other seeds do not compare: a better trial on seeds 1-3 does not beat the
    trials on seed 1 alone; a study whose trials recorded no such seeds falls back to all."""
    study = optuna.create_study(directions=["minimize"] * len(OBJECTIVES))
    dist = {"travel": optuna.distributions.FloatDistribution(0.1, 10.0, log=True)}
    for seeds, breach_rate in (("1,2,3", 0.1), ("1", 0.5), ("1", 0.4), (None, 0.05)):
        study.add_trial(
            optuna.trial.create_trial(
                values=[breach_rate, 1.0, 1.0],
                params={"travel": 1.0},
                distributions=dist,
                user_attrs={} if seeds is None else {"seeds": seeds},
            )
        )
    assert pick_best(study, [1]).number == 2
    assert pick_best(study, [1, 2, 3]).number == 0
    assert pick_best(study, [7]).number == 3  # none on seed 7: all compete
    assert pick_best(study).number == 3


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_ctrl_c_while_the_workers_start_is_clean(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group, workers included, perhaps while
    they are still importing: still exit 130, no traceback, no trial RUNNING."""
    out = tmp_path / "t"
    argv = ["sim", "tune", "smoke", "--trials", "50", *TINY, "--holdout-seeds", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher", *argv, "--jobs", "2", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a shell gives a foreground job
    )
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    try:
        deadline = time.monotonic() + 60
        while (
            len(children.read_text().split()) < 2
        ):  # the pool is starting its processes
            assert time.monotonic() < deadline, "no worker process started"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGINT)
        printed, err = proc.communicate(timeout=120)
    finally:  # a hung run must not outlive the test (it did once, before the spawn fix)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in printed + err
    assert json.loads((out / "report.json").read_text())["interrupted"] == "SIGINT"
    assert "RUNNING" not in pl.read_csv(out / "trials.csv")["state"].to_list()
