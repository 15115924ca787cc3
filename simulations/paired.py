"""Paired per-seed ratios: the optimizer against every baseline on the same seeds.

Policies run on the same seed see the same ticket stream and roster, so the ratio
``optimizer / baseline`` per seed removes the stream's own variation; the mean of those
ratios gets a 95% Student-t interval over seeds. A seed where the baseline's value is 0 has
no ratio and is left out (``n`` says how many seeds count).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from simulations.runner import t95

PAIRED_METRICS = (
    ("sla_breaches", "breaches"),
    ("breaches_avoidable", "avoidable breaches"),
    ("travel_km_per_ticket", "travel/ticket"),
    ("churn_per_ticket", "reassignments/ticket"),
)


def paired_ratios(
    kpis: pl.DataFrame,
    metric: str,
    reference: str = "optimizer",
    over: str | None = None,
) -> list[dict[str, Any]]:
    """Per baseline: seeds, per-seed ratios ``reference / baseline``, their mean and CI95.

    Baselines are every policy whose name does not start with ``optimizer``, in order of
    first appearance; ``ci95`` is a half-width (None with fewer than two ratios). ``over``:
    the baselines' metric divided by (default ``metric``).
    """
    ref = dict(kpis.filter(pl.col("policy") == reference).select("seed", metric).rows())
    out = []
    for policy in dict.fromkeys(kpis["policy"].to_list()):
        if policy.startswith("optimizer"):
            continue
        rows = (
            kpis.filter(pl.col("policy") == policy)
            .select("seed", over or metric)
            .rows()
        )
        per_seed = {
            s: ref[s] / v
            for s, v in sorted(rows)
            if s in ref and ref[s] is not None and v  # v None or 0: no ratio
        }
        r = np.array(list(per_seed.values()), float)
        n = r.size
        out.append(
            {
                "baseline": policy,
                "n": n,
                "per_seed": per_seed,
                "mean": float(r.mean()) if n else None,
                "ci95": float(t95(n - 1) * r.std(ddof=1) / math.sqrt(n))
                if n > 1
                else None,
            }
        )
    return out


def paired_lines(kpis: pl.DataFrame) -> list[str]:
    """One line per metric and baseline: ``x<mean> ± <ci> (n seeds: r1 r2 ...)``."""
    if "optimizer" not in kpis["policy"].to_list():
        return []
    lines = ["optimizer / baseline, paired per seed (mean ± 95% CI; per-seed ratios):"]
    for metric, label in PAIRED_METRICS:
        if metric not in kpis.columns:
            continue
        for row in paired_ratios(kpis, metric):
            if row["mean"] is None:
                lines.append(f"  {label:21s} vs {row['baseline']}: undefined")
                continue
            ci = "" if row["ci95"] is None else f" ± {row['ci95']:.2f}"
            seeds = " ".join(f"{v:.2f}" for v in row["per_seed"].values())
            lines.append(
                f"  {label:21s} vs {row['baseline']:13s} x{row['mean']:.2f}{ci} "
                f"({row['n']} seeds: {seeds})"
            )
    return lines


FLOOR_METRICS = (
    ("breaches_unavoidable", "any policy"),
    ("breaches_unavoidable_in_shift", "no overtime"),
)


def floor_lines(kpis: pl.DataFrame, best: str) -> list[str]:
    """How low the breach ratio against the best baseline can go at all: per seed, the
    unavoidable breaches (``simulations.reach``; the same for every policy) over ``best``'s
    breaches. No policy's ratio on a seed is below that seed's floor."""
    lines = []
    for metric, label in FLOOR_METRICS:
        if metric not in kpis.columns:
            continue
        rows = [
            r
            for r in paired_ratios(kpis, metric, over="sla_breaches")
            if r["baseline"] == best and r["mean"] is not None
        ]
        for row in rows:
            ci = "" if row["ci95"] is None else f" ± {row['ci95']:.2f}"
            seeds = " ".join(f"{v:.2f}" for v in row["per_seed"].values())
            lines.append(
                f"  floor ({label}): unavoidable / {best} breaches x{row['mean']:.2f}{ci} "
                f"({row['n']} seeds: {seeds})"
            )
    if lines:
        lines.insert(0, "lowest breach ratio any policy could reach, paired per seed:")
    return lines
