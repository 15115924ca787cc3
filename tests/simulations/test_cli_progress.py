"""``sim compare`` off a terminal: a plain line per finished run, results written as they finish."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from dispatcher.__main__ import main

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_compare_prints_a_line_per_run_and_writes_each_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Captured stdout is not a TTY: one ``[k/n] policy seed s done`` line per run."""
    out = tmp_path / "o"
    argv = [
        "sim",
        "compare",
        "smoke",
        "--policies",
        "nearest,round_robin",
        "--seeds",
        "2",
    ]
    argv += ["--horizon-s", "3600", "--out", str(out), "--no-plots"]
    assert main(argv) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if " done: " in ln]
    assert len(lines) == 4
    assert lines[0].startswith("[1/4] nearest seed ")
    assert lines[-1].startswith("[4/4] round_robin seed ")
    assert "SLA breaches" in lines[0]
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 4
    assert runs[0].startswith("nearest-seed")
    kpis = pl.read_csv(out / "runs" / runs[0] / "kpis.csv")
    assert kpis.height == 1
    assert kpis["policy"][0] == "nearest"
