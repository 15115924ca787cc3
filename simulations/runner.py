"""Run a scenario for policies x seeds, tabulate KPIs with confidence intervals, write outputs."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from simulations.engine import Engine
from simulations.kpi import (
    backlog_with_breaches,
    run_kpis,
    technician_table,
    ticket_kpis_by,
)
from simulations.policies import make_policy
from simulations.streams import build_roster, build_stream

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from simulations.result import SimResult
    from simulations.scenario import Scenario
    from solver.model import SolveParams


@dataclass
class Run:
    """One (policy, seed) run and its KPIs."""

    policy: str
    seed: int
    result: SimResult
    kpis: dict[str, Any]


def run_once(
    scenario: Scenario,
    policy: str,
    seed: int,
    *,
    params: SolveParams | None = None,
    progress: Callable[[float], None] | None = None,
    check_decisions: bool = True,
) -> Run:
    """Simulate ``scenario`` once with the named policy.

    Parameters
    ----------
    scenario
        The loaded scenario.
    policy
        ``optimizer``, ``round_robin``, ``least_loaded`` or ``nearest``.
    seed
        Seeds the one ``numpy.random.Generator`` of the run (tickets, roster, behaviour) and
        the solver (``SolveParams.seed``).
    params
        Solver settings; default: the scenario's policy.
    progress
        Called with the virtual time as the run advances.

    Returns
    -------
    Run
        The result tables and the KPI dict.
    """
    rng = np.random.default_rng(seed)
    stream = build_stream(scenario, rng, seed)
    roster = build_roster(scenario, stream, rng)
    p = dataclasses.replace(params or scenario.policy.solve_params(), seed=seed)
    engine = Engine(
        scenario,
        stream,
        roster,
        make_policy(policy, p),
        progress=progress,
        check_decisions=check_decisions,
    )
    result = engine.run()
    result.meta.update({"policy": policy, "seed": seed, "scenario": scenario.name})
    return Run(policy=policy, seed=seed, result=result, kpis=run_kpis(result))


def seeds_for(scenario: Scenario, n: int, offset: int = 0) -> list[int]:
    """The seeds of ``--seeds n --seed-offset k``: the scenario's seed + k, + k + 1, ..."""
    return [scenario.seed + offset + k for k in range(n)]


def kpi_table(runs: Sequence[Run]) -> pl.DataFrame:
    """One row per run: policy, seed and every KPI."""
    rows = [{"policy": r.policy, "seed": r.seed, **r.kpis} for r in runs]
    return pl.DataFrame(rows, infer_schema_length=None)


# Two-sided 95% Student-t quantiles by degrees of freedom (1..30); beyond, the normal 1.96.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def t95(df: int) -> float:
    """Two-sided 95% Student-t quantile for ``df`` degrees of freedom."""
    return _T95[df - 1] if 1 <= df <= len(_T95) else 1.96


def summarize(kpis: pl.DataFrame, metrics: Sequence[str]) -> pl.DataFrame:
    """Mean and 95% confidence half-width over seeds, per policy (order of first appearance).

    Columns: ``policy, n_seeds`` and for each metric ``<m>_mean``, ``<m>_ci95`` (half-width;
    null with a single seed).
    """
    out = []
    for policy in list(dict.fromkeys(kpis["policy"].to_list())):
        sub = kpis.filter(pl.col("policy") == policy)
        row: dict[str, Any] = {"policy": policy, "n_seeds": sub.height}
        for m in metrics:
            vals = (
                np.array([v for v in sub[m].to_list() if v is not None], float)
                if m in sub.columns
                else np.array([])
            )
            n = vals.size
            row[f"{m}_mean"] = float(vals.mean()) if n else None
            row[f"{m}_ci95"] = (
                float(t95(n - 1) * vals.std(ddof=1) / math.sqrt(n)) if n > 1 else None
            )
        out.append(row)
    return pl.DataFrame(out, infer_schema_length=None)


def _tagged(runs: Sequence[Run], pick: Callable[[Run], pl.DataFrame]) -> pl.DataFrame:
    frames = [
        pick(r).with_columns(
            pl.lit(r.policy).alias("policy"), pl.lit(r.seed).alias("seed")
        )
        for r in runs
    ]
    frames = [
        f.select(
            ["policy", "seed", *[c for c in f.columns if c not in ("policy", "seed")]]
        )
        for f in frames
    ]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def write_outputs(
    out_dir: Path, runs: Sequence[Run], summary: pl.DataFrame | None = None
) -> dict[str, pl.DataFrame]:
    """Write the tables as Parquet and CSV into ``out_dir``.

    Files: ``tickets`` (per-ticket log), ``technicians`` (with utilization), ``backlog``
    (over time, with running SLA attainment), ``solves``, ``kpis`` (one row per run),
    ``kpis_by_source`` (the ticket KPIs per run and source, when a replay maps ``source``)
    and, when given, ``summary`` (per policy, mean and CI). Each as ``.parquet`` and ``.csv``.
    Returns the tables by name.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {
        "tickets": _tagged(runs, lambda r: r.result.tickets),
        "technicians": _tagged(runs, lambda r: technician_table(r.result.technicians)),
        "backlog": _tagged(runs, lambda r: backlog_with_breaches(r.result)),
        "solves": _tagged(runs, lambda r: r.result.solves),
        "kpis": kpi_table(runs),
    }
    # a replay mapping the source role: the ticket KPIs per source
    by_source = {id(r): ticket_kpis_by(r.result.tickets, "source") for r in runs}
    with_source = [r for r in runs if by_source[id(r)].height]
    if with_source:
        tables["kpis_by_source"] = _tagged(with_source, lambda r: by_source[id(r)])
    if summary is not None:
        tables["summary"] = summary
    for name, df in tables.items():
        df.write_parquet(out_dir / f"{name}.parquet")
        df.write_csv(out_dir / f"{name}.csv")
    return tables
