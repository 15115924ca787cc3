"""``dispatcher demo``, the README's first command, end to end in its own process: its own
embedded Redis and service, the Boston 311 replay over gRPC, a summary; bad arguments refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


@pytest.mark.slow  # ~11 s: a whole demo run; CI runs it in the slow step
def test_demo_replays_the_stream_and_assigns_it(tmp_path: Path) -> None:
    """A short run submits real tickets over gRPC, the solve loop assigns them, the
    technicians resolve some, and the summary's counts are consistent."""
    out = tmp_path / "summary.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatcher",
            "demo",
            "--duration",
            "8",
            "--no-live",
            "--json",
            str(out),
            "--board-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert summary["submitted"] >= 20
    assert 0 < summary["assigned"] <= summary["submitted"]
    assert summary["resolved"] <= summary["assigned"]
    assert summary["solves"] > 0
    assert summary["assignment_latency_p99_ms"] > 0
    # the demo's one escalation rule notifies: a notice follows each escalation
    escalations, notices = summary["escalations"], summary["supervisor_notices"]
    assert escalations - 1 <= notices <= escalations
    assert "submitted" in run.stdout  # the printed summary table
    assert "dispatch board: http://127.0.0.1:" in run.stdout


@pytest.mark.slow  # ~11 s: waits for a --no-live progress line; CI runs it in the slow step
def test_no_live_help_states_the_interval_it_prints_at() -> None:
    """`demo --help` names the --no-live progress interval, and a --no-live run prints its
    first progress line after that interval (not after 1 s, as the help once said)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "dispatcher", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    stated = re.search(
        r"--no-live\s+print a progress line every ([0-9.]+) s", help_text
    )
    assert stated is not None, help_text
    interval_s = float(stated.group(1))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatcher",
            "demo",
            "--no-live",
            "--duration",
            str(interval_s + 1),
            "--board-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    progress = [float(t) for t in re.findall(r"^t=\s*([0-9.]+)s ", run.stdout, re.M)]
    assert progress, run.stdout
    assert interval_s <= progress[0] < interval_s + 1, progress


@pytest.mark.parametrize("flag", ["--duration", "--speed", "--technicians"])
def test_demo_refuses_non_positive_settings(flag: str) -> None:
    """A zero setting is a clear one-line error (exit 2) before anything starts."""
    run = subprocess.run(
        [sys.executable, "-m", "dispatcher", "demo", flag, "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "must be > 0" in run.stderr
