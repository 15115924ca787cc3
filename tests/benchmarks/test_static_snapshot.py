"""benchmarks/static_snapshot --quick runs every policy and prints every column and ratio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.static_snapshot import COLUMNS, POLICIES

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip(
    "vroom",
    reason="pyvroom is not installed (it is in the dev extra: pip install -e '.[dev]')",
)


def test_quick_mode_prints_every_column_policy_and_the_vroom_ratios() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.static_snapshot", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    header = next(line for line in out.splitlines() if "policy" in line)
    assert [c for c in COLUMNS if c not in header] == []
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    table = {r[0]: r[1:] for r in rows if r[0] in POLICIES and r[1] != "vs"}
    assert sorted(table) == sorted(POLICIES)
    for cells in table.values():
        assert len(cells) == len(COLUMNS)
        assert all(float(c) >= 0 for c in cells)
    assert table["optimizer"][COLUMNS.index("overruns")] == "0.0"
    assert "optimizer vs vroom:" in out
    assert "x faster" in out
    assert "all breaches" in out.split("optimizer vs vroom:")[1]
    assert "VROOM targets over every size:" in out
    assert out.count("load average") == 2
    assert "optimizer: batch planning (SolveParams.batch=True)" in out


def test_weights_and_live_change_the_optimizer_and_a_bad_weight_is_a_one_line_error() -> (
    None
):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "benchmarks.static_snapshot", "--quick",
             "--policies", "optimizer", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    ok = run("--weights", "balance=60,breach=5000", "--live")
    assert ok.returncode == 0, ok.stderr
    assert "balance=60.0" in ok.stdout
    assert "breach=5000.0" in ok.stdout
    assert "optimizer: live (no batch planning) (SolveParams.batch=False)" in ok.stdout
    for bad, says in (
        ("balanse=60", "unknown weight 'balanse'"),
        ("balance=x", "balance"),
    ):
        out = run("--weights", bad)
        assert out.returncode != 0
        assert says in out.stderr
        assert "Traceback" not in out.stderr
