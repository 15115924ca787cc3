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


def plot_sla_and_backlog(backlog: pl.DataFrame, path: Path) -> Path:
    """Running SLA attainment and open backlog over time, one line per policy (mean over seeds)."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for policy in list(dict.fromkeys(backlog["policy"].to_list())):
        sub = (
            backlog.filter(pl.col("policy") == policy)
            .group_by("t_s")
            .agg(
                pl.col("sla_attainment_so_far").mean(),
                pl.col("open").mean(),
                pl.col("queued").mean(),
            )
            .sort("t_s")
        )
        hours = sub["t_s"].to_numpy() / 3600.0
        ax1.plot(
            hours,
            sub["sla_attainment_so_far"].to_numpy().astype(float) * 100.0,
            label=policy,
        )
        ax2.plot(hours, sub["open"].to_numpy(), label=policy)
    ax1.set_ylabel("SLA attainment so far (%)")
    ax1.set_title("SLA attainment and backlog over time (mean over seeds)")
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
    ax.set_title("Response-time distribution (ECDF)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_utilization(technicians: pl.DataFrame, path: Path) -> Path:
    """Utilization per technician (sorted), one line per policy, first seed of each."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5))
    for policy in list(dict.fromkeys(technicians["policy"].to_list())):
        sub = technicians.filter(pl.col("policy") == policy)
        sub = sub.filter(pl.col("seed") == sub["seed"].min()).filter(
            pl.col("on_shift_s") > 0
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
    ax.set_title("Utilization per technician")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(
    out_dir: Path,
    tickets: pl.DataFrame,
    technicians: pl.DataFrame,
    backlog: pl.DataFrame,
) -> list[Path]:
    """All three PNGs into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        plot_sla_and_backlog(backlog, out_dir / "sla_backlog.png"),
        plot_response_times(tickets, out_dir / "response_times.png"),
        plot_utilization(technicians, out_dir / "utilization.png"),
    ]
