"""Where a benchmark's figures go: one JSON file per run under ``benchmarks/results/``,
with the machine and commit they were measured on (the directory is not committed)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"


def uptime() -> str:
    """The machine's ``uptime`` line, to quote the load beside a figure."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def machine() -> dict[str, Any]:
    """What a figure depends on: Python, cores, platform, load averages and the commit."""
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg": os.getloadavg(),
        "commit": commit,
    }


def write_results(name: str, data: object, out: Path | None = None) -> Path:
    """Write ``data`` as JSON to ``out``, by default to ``benchmarks/results/<name>-<UTC
    time>.json`` so that no run overwrites another; print and return the path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out or RESULTS_DIR / f"{name}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"wrote {path}")
    return path
