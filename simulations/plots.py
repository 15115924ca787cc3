"""PNG plots of simulation results (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from pathlib import Path


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def seeds_label(frame: pl.DataFrame) -> str:
    """Which seeds a plot shows: ``seed 3``, ``seeds 1-5`` or ``seeds 1, 4, 9``."""
    seeds = sorted({int(s) for s in frame["seed"].to_list()})
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    if seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return "seeds " + ", ".join(str(s) for s in seeds)


def _band(
    frame: pl.DataFrame, col: str, lo: float = -np.inf, hi: float = np.inf
) -> tuple[Any, Any, Any, Any]:
    """Time (h), mean over seeds and its 95% interval (Student t, clipped to [lo, hi])."""
    from simulations.runner import t95

    g = (
        frame.group_by("t_s")
        .agg(
            pl.col(col).cast(pl.Float64).mean().alias("mean"),
            pl.col(col).cast(pl.Float64).std(ddof=1).alias("std"),
            pl.col(col).count().alias("n"),
        )
        .sort("t_s")
    )
    mean = g["mean"].to_numpy().astype(float)
    n = g["n"].to_numpy()
    std = np.nan_to_num(g["std"].to_numpy().astype(float))
    half = np.array([t95(int(k) - 1) if k > 1 else 0.0 for k in n]) * std
    half = half / np.sqrt(np.maximum(n, 1))
    hours = g["t_s"].to_numpy() / 3600.0
    return hours, mean, np.clip(mean - half, lo, hi), np.clip(mean + half, lo, hi)


def plot_sla_and_backlog(backlog: pl.DataFrame, path: Path) -> Path:
    """Running SLA attainment and open backlog over time per policy: mean over seeds, 95% band."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for policy in list(dict.fromkeys(backlog["policy"].to_list())):
        sub = backlog.filter(pl.col("policy") == policy)
        h, m, lo, hi = _band(sub, "sla_attainment_so_far", 0.0, 1.0)
        (line,) = ax1.plot(h, m * 100.0, label=policy)
        ax1.fill_between(h, lo * 100.0, hi * 100.0, color=line.get_color(), alpha=0.2)
        h, m, lo, hi = _band(sub, "open", 0.0)
        ax2.plot(h, m, label=policy, color=line.get_color())
        ax2.fill_between(h, lo, hi, color=line.get_color(), alpha=0.2)
    ax1.set_ylabel("SLA attainment so far, decided tickets (%)")
    ax1.set_title(
        "SLA attainment and backlog over time "
        f"(mean over {seeds_label(backlog)}; band: 95% interval)"
    )
    ax1.legend(loc="lower left")
    ax1.grid(alpha=0.3)
    ax2.set_ylabel("open tickets (not started)")
    ax2.set_xlabel("simulated time (h)")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_response_times(tickets: pl.DataFrame, path: Path) -> Path:
    """Distribution (empirical CDF) of response time per policy, all seeds pooled."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5))
    for policy in list(dict.fromkeys(tickets["policy"].to_list())):
        sub = tickets.filter(
            (pl.col("policy") == policy) & pl.col("arrived_s").is_not_null()
        )
        minutes = np.sort(((sub["arrived_s"] - sub["created_s"]) / 60.0).to_numpy())
        if minutes.size:
            ax.plot(
                minutes,
                np.arange(1, minutes.size + 1) / minutes.size * 100.0,
                label=f"{policy} (n={minutes.size})",
            )
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("response time: creation -> technician on site (min)")
    ax.set_ylabel("tickets (%)")
    ax.set_title(f"Response-time distribution (ECDF, {seeds_label(tickets)} pooled)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_utilization(technicians: pl.DataFrame, path: Path) -> Path:
    """Utilization per technician (sorted), one line per policy, first seed only."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5))
    first = int(technicians["seed"].min())  # type: ignore[arg-type]
    for policy in list(dict.fromkeys(technicians["policy"].to_list())):
        sub = technicians.filter(
            (pl.col("policy") == policy)
            & (pl.col("seed") == first)
            & (pl.col("on_shift_s") > 0)
        )
        u = np.sort(sub["utilization"].to_numpy().astype(float))[::-1] * 100.0
        if u.size <= 40:
            ax.bar(
                np.arange(u.size)
                + 0.8
                * list(dict.fromkeys(technicians["policy"].to_list())).index(policy)
                / 4,
                u,
                width=0.2,
                label=policy,
            )
        else:
            ax.plot(np.arange(u.size), u, label=policy)
    ax.set_xlabel("technician (sorted by utilization)")
    ax.set_ylabel("utilization: (travel + work) / time on shift (%)")
    ax.set_title(f"Utilization per technician (seed {first} only)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_churn(kpis: pl.DataFrame, path: Path) -> Path:
    """Reassignments per ticket and moves per technician per policy: mean, 95% error bars."""
    from simulations.runner import summarize

    plt = _plt()
    metrics = (
        ("churn_per_ticket", "reassignments per ticket"),
        ("moves_per_technician", "moves per technician"),
    )
    s = summarize(kpis, [m for m, _ in metrics])
    policies = s["policy"].to_list()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, (m, label) in zip(axes, metrics, strict=True):
        mean = np.array([v or 0.0 for v in s[f"{m}_mean"].to_list()], float)
        ci = np.array([v or 0.0 for v in s[f"{m}_ci95"].to_list()], float)
        lower = np.minimum(ci, mean)  # clipped at 0
        ax.bar(policies, mean, yerr=[lower, ci], capsize=4)
        ax.set_ylabel(label)
        ax.tick_params(axis="x", labelrotation=30)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"Churn (mean over {seeds_label(kpis)}; bars: 95% interval)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(
    out_dir: Path,
    tickets: pl.DataFrame,
    technicians: pl.DataFrame,
    backlog: pl.DataFrame,
    kpis: pl.DataFrame | None = None,
) -> list[Path]:
    """The PNGs into ``out_dir`` (the churn plot only with the per-run ``kpis`` table)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        plot_sla_and_backlog(backlog, out_dir / "sla_backlog.png"),
        plot_response_times(tickets, out_dir / "response_times.png"),
        plot_utilization(technicians, out_dir / "utilization.png"),
    ]
    if kpis is not None and "moves_per_technician" in kpis.columns:
        paths.append(plot_churn(kpis, out_dir / "churn.png"))
    return paths
