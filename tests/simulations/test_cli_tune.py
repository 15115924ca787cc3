"""`dispatcher sim run | compare | tune` end to end on short horizons."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import polars as pl
import pytest

from dispatcher.__main__ import main
from simulations.scenario import ScenarioError, load_run_scenario, load_scenario
from simulations.tune import TuneConfig, run_tune
from solver.policy import load_policy_file

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.slow
def test_sim_run_writes_tables_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run: per-ticket log + KPI tables as Parquet and CSV, three PNGs, a printed table."""
    out = tmp_path / "run"
    assert (
        main(
            [
                "sim",
                "run",
                "smoke",
                "--policy",
                "optimizer",
                "--seeds",
                "2",
                "--horizon-s",
                "7200",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for name in ("tickets", "technicians", "backlog", "solves", "kpis", "summary"):
        assert (out / f"{name}.parquet").exists()
        assert (out / f"{name}.csv").exists()
    for png in ("sla_backlog.png", "response_times.png", "utilization.png"):
        assert (out / png).stat().st_size > 5_000
    kpis = pl.read_parquet(out / "kpis.parquet")
    assert kpis["seed"].to_list() == [1, 2]
    tickets = pl.read_csv(out / "tickets.csv")
    assert tickets.height == int(kpis["arrived"].sum())
    assert "SLA attainment" in capsys.readouterr().out


def test_sim_compare_prints_confidence_intervals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """compare: one column per policy, cells are mean ± 95% CI over seeds."""
    assert (
        main(
            [
                "sim",
                "compare",
                "smoke",
                "--policies",
                "optimizer",
                "--seeds",
                "2",
                "--horizon-s",
                "5400",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "optimizer" in out
    assert "±" in out


@pytest.mark.slow
def test_sim_tune_writes_a_loadable_policy(tmp_path: Path) -> None:
    """tune (journal file storage): the best policy file loads and keeps the scenario's SLA
    targets. One trial is the scenario's own weights, no worse than themselves on the
    held-out seeds, so the file is written."""
    out = tmp_path / "tune"
    assert (
        main(
            [
                "sim",
                "tune",
                "smoke",
                "--trials",
                "1",
                "--seeds",
                "1",
                "--holdout-seeds",
                "1",
                "--horizon-s",
                "5400",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    policy = load_policy_file(out / "best_policy.toml")
    assert policy.sla == load_scenario("smoke").policy.sla
    trials = pl.read_csv(out / "trials.csv")
    assert trials.height == 1
    assert (out / "study.journal").exists()
    # a second invocation continues the same study
    assert (
        main(
            [
                "sim",
                "tune",
                "smoke",
                "--trials",
                "1",
                "--seeds",
                "1",
                "--holdout-seeds",
                "1",
                "--horizon-s",
                "5400",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert pl.read_csv(out / "trials.csv").height == 2


def test_run_tune_takes_a_typed_config(tmp_path: Path) -> None:
    """Without the CLI: a TuneConfig runs the trials and writes the policy where it says,
    with the scenario's horizon replaced; a bad horizon is a ScenarioError naming it."""
    out = tmp_path / "tune"
    config = TuneConfig(
        scenario="smoke",
        out=out,
        trials=1,
        seeds=1,
        holdout_seeds=1,
        horizon_s=3600.0,
        policy_out=tmp_path / "best.toml",
    )
    assert run_tune(config) == 0
    assert (
        load_policy_file(tmp_path / "best.toml").sla
        == load_scenario("smoke").policy.sla
    )
    assert pl.read_csv(out / "trials.csv").height == 1
    assert load_run_scenario("smoke", horizon_s=3600.0).horizon_s == 3600.0
    with pytest.raises(ScenarioError, match=r"^horizon_s: must be a positive"):
        load_run_scenario("smoke", horizon_s=-1.0)


@pytest.mark.slow
@pytest.mark.integration
def test_sim_tune_on_redis_with_two_processes(
    tmp_path: Path, redis_server: str
) -> None:
    """tune with a Redis journal storage and 2 worker processes shares one study."""
    import optuna

    from simulations.tune import make_storage

    out = tmp_path / "tune"
    url = redis_server
    args = [
        "sim",
        "tune",
        "smoke",
        "--trials",
        "4",
        "--seeds",
        "1",
        "--horizon-s",
        "3600",
        "--jobs",
        "2",
    ]
    assert main([*args, "--storage", url, "--study", "t-redis", "--out", str(out)]) == 0
    study = optuna.load_study(study_name="t-redis", storage=make_storage(url))
    assert len([t for t in study.trials if t.state.name == "COMPLETE"]) == 4
    report = json.loads((out / "report.json").read_text())
    assert report["best_trial"] in range(4)
    # written only if no worse and churn bounded on the held-out seeds (tune_holdout)
    passes = report["no_worse"] and report["churn_ok"]
    assert (out / "best_policy.toml").exists() == passes
    if passes:
        assert load_policy_file(out / "best_policy.toml").name == (
            f"tuned-smoke-trial{report['best_trial']}"
        )


def test_tuned_policy_loads_in_the_service(tmp_path: Path) -> None:
    """The file `sim tune` writes is one the service accepts (`dispatcher policy apply`)."""
    from dispatcher.cli.policy import require_service_settings

    out = tmp_path / "tune"
    assert (
        main(
            [
                "sim",
                "tune",
                "smoke",
                "--trials",
                "1",
                "--seeds",
                "1",
                "--holdout-seeds",
                "1",
                "--horizon-s",
                "3600",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    tuned = load_policy_file(out / "best_policy.toml")
    require_service_settings(tuned)  # raises PolicyError naming a field it would drop
