"""Release hygiene in the source tree: the version, the contract path, the health command."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from dispatcher.backend.serve_process import start_serve
from dispatcher.cli.proto import contract_path
from dispatcher.pb import dispatch_pb2


def _dispatcher(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dispatcher", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_is_the_package_metadata() -> None:
    """`dispatcher --version` prints the installed distribution's version."""
    result = _dispatcher("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["dispatcher", version("dispatch-optimizer")]


def test_proto_prints_the_contract_the_stubs_were_generated_from() -> None:
    """`dispatcher proto --path` names the file the stubs come from; `proto` prints it."""
    path_result = _dispatcher("proto", "--path")
    assert path_result.returncode == 0, path_result.stderr
    path = contract_path()
    assert path_result.stdout.strip() == str(path)
    # the stubs' descriptor records the proto's import path (dispatcher/pb/dispatch.proto)
    assert path.as_posix().endswith(dispatch_pb2.DESCRIPTOR.name)
    text_result = _dispatcher("proto")
    assert text_result.stdout == path.read_text(encoding="utf-8")
    assert "package dispatch.v1;" in text_result.stdout


def test_health_command_exit_code_follows_the_service(
    redis_server: str, tmp_path: Path
) -> None:
    """`dispatcher health`: 0 on SERVING; 1 for an unknown service name or no server."""
    proc = start_serve(redis_server, tmp_path, "health-cli", role="api")
    try:
        serving = _dispatcher("health", "--target", proc.target)
        assert serving.returncode == 0, serving.stderr
        assert "SERVING" in serving.stdout
        unknown = _dispatcher(
            "health", "--target", proc.target, "--service", "no.such.Service"
        )
        assert unknown.returncode == 1
        assert "NOT_FOUND" in unknown.stderr
    finally:
        proc.stop()
    assert proc.proc.returncode == 0
    gone = _dispatcher("health", "--target", proc.target, "--timeout", "1")
    assert gone.returncode == 1
    assert "UNAVAILABLE" in gone.stderr or "DEADLINE_EXCEEDED" in gone.stderr


def _printed_by(probe: str) -> str:
    """What ``probe`` prints, run in a fresh interpreter (its imports are its own)."""
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_service_imports_none_of_the_sim_extra() -> None:
    """The CLI, `serve`'s modules and every service module load without touching polars,
    rich, matplotlib or optuna (the [sim] extra; a service install lacks them)."""
    probe = """
import importlib, pkgutil, sys
import dispatcher
from dispatcher.__main__ import SIM_EXTRA_MODULES, build_parser
build_parser()
for module in pkgutil.walk_packages(dispatcher.__path__, "dispatcher."):
    if not module.name.startswith(("dispatcher.demo", "dispatcher.cli.codegen")):
        importlib.import_module(module.name)
print(sorted({m.partition(".")[0] for m in sys.modules} & SIM_EXTRA_MODULES))
"""
    assert _printed_by(probe) == "[]"


def test_cli_parser_loads_no_solver() -> None:
    """Building the CLI's parser (what every command, `dispatcher health` among them, pays
    before it runs: the container health check runs it every 10 s) loads neither the
    solver nor its numeric stack: each subcommand's `register` stays cheap."""
    probe = """
import sys
from dispatcher.__main__ import build_parser
build_parser().parse_args(["health"])
heavy = {"solver", "numba", "numpy", "scipy", "ortools", "polars"}
print(sorted({m.partition(".")[0] for m in sys.modules} & heavy))
"""
    assert _printed_by(probe) == "[]"


def test_lowest_constraints_are_the_declared_lower_bounds() -> None:
    """constraints/lowest.txt pins every base dependency at its `>=` bound in pyproject.toml
    (the packaging suite installs exactly these and runs the service's tests on them)."""
    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = {}
    for text in project["dependencies"]:
        requirement = Requirement(text)
        (lower,) = [s.version for s in requirement.specifier if s.operator == ">="]
        declared[canonicalize_name(requirement.name)] = lower
    pinned = {}
    for line in (root / "constraints" / "lowest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, pin = line.partition("==")
            pinned[canonicalize_name(name)] = pin.strip()
    assert {n: Version(p) for n, p in pinned.items()} == {
        n: Version(p) for n, p in declared.items()
    }


def test_gitignore_matches_no_tracked_file() -> None:
    """`git ls-files -ci --exclude-standard` is empty: no tracked file is also ignored (an
    ignore pattern that matches one would hide a new file next to it from `git add`)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout (an sdist or an installed copy)")
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-ci", "--exclude-standard"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert listed.stdout == ""
