"""benchmarks/commit_script commits the same decisions to two copies of a region with two
revisions' commit scripts and prints the Redis time and CPU of both; with ``--chaos`` the
rare outcomes occur, and both copies end alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_chaos_run_compares_both_scripts_and_prints_their_cost() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.commit_script", "--baseline", "HEAD",
         "--cycles", "6", "--warm-up", "1", "--technicians", "8", "--per-cycle", "12",
         "--chaos", "--check-every", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    result = json.loads(out[out.index("\n{") + 1 : out.rindex("\n}") + 2])
    assert result["mismatches"] == []
    for name in ("baseline", "current"):
        assert result[name]["calls"] == 6
        assert result[name]["usec_per_call"] > 0
        assert result[name]["redis_cpu_usec_per_call"] > 0
    for code in ("ASSIGNED", "CAPACITY", "DUPLICATE", "GONE", "GONE_TECHNICIAN"):
        assert result["outcomes"].get(code, 0) > 0, (code, result["outcomes"])
