"""What a replay load did to the rows of a CSV: each row skipped or adjusted, with its reason.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first ticket row 2
(a quoted value spanning lines is still one row). Every row created inside the replay window
(and every row without a usable creation time) is either loaded or listed here as skipped;
rows loaded with a value changed (a due time clamped, a priority clipped, a location
sampled) are listed as adjusted. :meth:`ReplayReport.summary` says it in one line: counts per
reason with the first few row numbers as examples.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

SKIPPED = "row skipped"
EXAMPLES_PER_REASON = 5

log = logging.getLogger("simulations.replay")
_reported: set[tuple[str, str]] = set()


@dataclass(frozen=True, slots=True)
class RowIssue:
    """One row skipped or adjusted."""

    row: int  # spreadsheet numbering: header = row 1
    role: str  # e.g. "created", "resolution_due", "location"
    value: str | None  # the source value (None = empty)
    problem: str  # e.g. "is not a date-time"
    action: str  # SKIPPED, or what was done instead, e.g. "clamped to created"

    @property
    def skipped(self) -> bool:
        return self.action == SKIPPED

    @property
    def reason(self) -> str:
        return f"{self.role} {self.problem}: {self.action}"


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """The issues of one load, sorted by row."""

    file: str
    loaded: int
    issues: tuple[RowIssue, ...]

    @property
    def rows_considered(self) -> int:
        """Rows loaded or skipped (rows outside the window or past a limit are neither)."""
        return self.loaded + len(self.skipped_rows)

    @property
    def skipped_rows(self) -> list[int]:
        return [i.row for i in self.issues if i.skipped]

    @property
    def adjusted_rows(self) -> list[int]:
        return sorted({i.row for i in self.issues if not i.skipped})

    def summary(self) -> str | None:
        """One line, or None when every row loaded unchanged."""
        if not self.issues:
            return None
        counts = Counter(i.reason for i in self.issues)
        examples: dict[str, list[str]] = {}
        for issue in self.issues:
            shown = examples.setdefault(issue.reason, [])
            if len(shown) < EXAMPLES_PER_REASON:
                value = "" if issue.value is None else f" {issue.value!r}"
                shown.append(f"{issue.row}{value}")
        parts = [
            f"{counts[reason]:,} x {reason} (row{'s' if counts[reason] > 1 else ''} "
            f"{', '.join(rows)}{', ...' if counts[reason] > len(rows) else ''})"
            for reason, rows in examples.items()
        ]
        return (
            f"replay {self.file}: {len(self.skipped_rows):,} row(s) skipped, "
            f"{len(self.adjusted_rows):,} adjusted, {self.loaded:,} loaded of "
            f"{self.rows_considered:,}: {'; '.join(parts)}"
        )


def first_said(text: str | None, source: str) -> str | None:
    """``text`` unless this process has had it for ``source`` already (every seed of a run
    loads the same file); from now on it has."""
    if text is None or (source, text) in _reported:
        return None
    _reported.add((source, text))
    return text


def first_report(report: ReplayReport, source: str) -> str | None:
    """The report's summary, the first time (:func:`first_said`)."""
    return first_said(report.summary(), source)


def log_once(text: str | None, source: str) -> None:
    """Log ``text`` (a report's summary, a note on the load) as a warning, once per
    process for the same file and text."""
    text = first_said(text, source)
    if text is not None:
        log.warning("%s", text)
