"""Expected work time per category from a replay's own data, and the line that says so.

The one owner of the rule. Per category of the replayed tickets (``simulations.replay``
frame), in this order:

1. ``work_time``: the mean of the category's recorded work times (the ``work_time``
   column wins whenever the category has any, also when ``closed`` is mapped too);
2. ``closed``: the ``quantile`` (default 0.25, ``replay_columns.CLOSED_QUANTILE``) of the
   category's ``closed - created``, linear interpolation between rows as numpy's default.
   ``closed - created`` includes the time a ticket queued and waited, so its mean or median
   overstates the work; the low end of the spread is nearer the work itself (still an
   upper bound of it when every ticket queued a little). Rows whose closed time is none,
   unparseable or not after the creation give none (reported as adjusted by the load);
3. else the scenario's ``duration_mean_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from simulations.replay_columns import CLOSED_QUANTILE

FROM_WORK_TIME = "work_time"
FROM_CLOSED = "closed"
FROM_DEFAULT = "duration_mean_s"
EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class CategoryWork:
    """One category's expected work time and where it came from."""

    category: str
    work_s: float
    basis: str  # FROM_WORK_TIME | FROM_CLOSED | FROM_DEFAULT
    rows: int  # the rows it came from (0 for the default)


def category_work(
    df: pl.DataFrame, fallback_s: float, quantile: float = CLOSED_QUANTILE
) -> list[CategoryWork]:
    """Per category of ``df`` (sorted by name): its expected work time by the rule above."""
    elapsed_s = (
        pl.col("closed_at") - pl.col("created_at")
    ).dt.total_microseconds() / 1e6
    work = pl.col("work_time_s").fill_nan(None)
    table = (
        df.lazy()
        .group_by("category")
        .agg(
            work.mean().alias("work_mean_s"),
            work.count().alias("work_rows"),
            elapsed_s.quantile(quantile, interpolation="linear").alias("closed_q_s"),
            elapsed_s.count().alias("closed_rows"),
        )
        .sort("category")
        .collect()
    )
    out = []
    for row in table.iter_rows(named=True):
        if row["work_rows"]:
            est = CategoryWork(
                row["category"], row["work_mean_s"], FROM_WORK_TIME, row["work_rows"]
            )
        elif row["closed_rows"]:
            est = CategoryWork(
                row["category"], row["closed_q_s"], FROM_CLOSED, row["closed_rows"]
            )
        else:
            est = CategoryWork(row["category"], fallback_s, FROM_DEFAULT, 0)
        out.append(est)
    return out


def expected_work_s(
    df: pl.DataFrame, fallback_s: float, quantile: float = CLOSED_QUANTILE
) -> npt.NDArray[np.float64]:
    """Per ticket of ``df``: its category's expected work time (:func:`category_work`)."""
    per_category = {
        c.category: c.work_s for c in category_work(df, fallback_s, quantile)
    }
    return np.array(
        [per_category[c] for c in df["category"].to_list()], dtype=np.float64
    )


def work_time_note(
    estimates: list[CategoryWork], file: str, quantile: float = CLOSED_QUANTILE
) -> str | None:
    """One line saying which estimate each category got and from how many rows (the
    first few categories by ticket rows as examples); None when no category's came from
    the data."""
    from_data = [c for c in estimates if c.basis != FROM_DEFAULT]
    if not from_data:
        return None
    parts = []
    for basis, how in (
        (FROM_WORK_TIME, "mean of work_time"),
        (FROM_CLOSED, f"{_percentile(quantile)} of closed - created"),
    ):
        group = sorted(
            (c for c in from_data if c.basis == basis),
            key=lambda c: (-c.rows, c.category),
        )
        if not group:
            continue
        shown = ", ".join(
            f"{c.category!r} {c.work_s:,.0f} s ({c.rows:,} row{'s' if c.rows > 1 else ''})"
            for c in group[:EXAMPLES]
        )
        more = ", ..." if len(group) > EXAMPLES else ""
        rows = sum(c.rows for c in group)
        parts.append(
            f"{len(group)} categor{'y' if len(group) == 1 else 'ies'} from the {how} "
            f"({rows:,} rows: {shown}{more})"
        )
    default = sorted(
        (c for c in estimates if c.basis == FROM_DEFAULT), key=lambda c: c.category
    )
    if default:
        shown = ", ".join(repr(c.category) for c in default[:EXAMPLES])
        more = ", ..." if len(default) > EXAMPLES else ""
        keep = "keeps" if len(default) == 1 else "keep"
        parts.append(
            f"{len(default)} without either {keep} duration_mean_s "
            f"{default[0].work_s:,.0f} s ({shown}{more})"
        )
    return f"replay {file}: expected work time per category: {'; '.join(parts)}"


def _percentile(quantile: float) -> str:
    """``25th percentile`` for 0.25 (``min`` and ``max`` at the ends)."""
    if quantile == 0:
        return "minimum"
    if quantile == 1:
        return "maximum"
    pct = f"{quantile * 100:g}"
    suffix = "th"
    if pct.endswith("1") and not pct.endswith("11"):
        suffix = "st"
    elif pct.endswith("2") and not pct.endswith("12"):
        suffix = "nd"
    elif pct.endswith("3") and not pct.endswith("13"):
        suffix = "rd"
    return f"{pct}{suffix} percentile"
