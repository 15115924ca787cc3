"""benchmarks/plan_identity: a dump compares identical with itself, and a changed plan is
reported (exit status 1, the field named)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.plan_identity", "--only", "200x20", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_dump_is_identical_to_itself_and_a_changed_plan_differs(
    tmp_path: Path,
) -> None:
    dump = tmp_path / "plans.npz"
    first = _run("--dump", str(dump))
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("static-200x20-s") == 5
    same = _run("--against", str(dump))
    assert same.returncode == 0, same.stderr
    assert same.stdout.count("identical") == 5
    assert "plans that differ: 0" in same.stdout
    plans = dict(np.load(dump))
    tech = plans["static-200x20-s3/technician"].copy()
    tech[0] = -1 if tech[0] >= 0 else 0
    plans["static-200x20-s3/technician"] = tech
    changed = tmp_path / "changed.npz"
    np.savez_compressed(changed, **plans)
    other = _run("--against", str(changed))
    assert other.returncode == 1
    assert "static-200x20-s3: " in other.stdout
    line = next(
        s for s in other.stdout.splitlines() if s.startswith("static-200x20-s3")
    )
    assert "DIFFERS: technician" in line
    assert "plans that differ: 1" in other.stdout
