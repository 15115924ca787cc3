"""Helpers of the packaging tests: commands with a clean environment, fresh venvs outside the repo."""

from __future__ import annotations

import os
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIP_TIMEOUT_S = 900


def run(
    *args: str | Path, cwd: Path | None = None, timeout: float = PIP_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run a command with a clean environment (no DISPATCH_*/REDIS_URL/PYTHONPATH); check it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "PYTHONPATH", "VIRTUAL_ENV")
        and not k.startswith("DISPATCH_")
    }
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@dataclass(frozen=True)
class Dists:
    """The wheel and the sdist ``python -m build`` made (the wheel built from the sdist)."""

    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Venv:
    """A fresh virtual environment outside the repository."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def dispatcher(self) -> Path:
        return self.root / "bin" / "dispatcher"

    def has_module(self, name: str) -> bool:
        probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is None)"
        return (
            subprocess.run(
                [self.python, "-c", probe], check=False, timeout=60
            ).returncode
            == 0
        )

    def size_mb(self) -> float:
        total = sum(
            p.lstat().st_size for p in self.root.rglob("*") if not p.is_symlink()
        )
        return total / 1e6


def make_venv(
    root: Path, *requirements: str | Path, constraints: Path | None = None
) -> Venv:
    """A fresh venv at ``root`` (no system site-packages) with ``requirements`` installed."""
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    env = Venv(root)
    pip = [env.python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    if constraints is not None:
        pip += ["--constraint", constraints]
    run(*pip, *requirements, cwd=root)
    return env
