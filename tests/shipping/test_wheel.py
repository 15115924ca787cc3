"""The built wheel and sdist, installed into fresh venvs outside the repository.

Marked ``packaging`` (slow, pip installs): ``./dev test -m packaging``; ``.ci/run`` runs them
after the default suite.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from importlib.metadata import version
from typing import TYPE_CHECKING

import pytest

from tests.shipping.venvs import ROOT, Dists, Venv, make_venv, run

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1800)]

SIM_EXTRA = ("polars", "matplotlib", "optuna", "rich")
BENCH_ONLY = ("scipy", "lap", "vroom")
"""The references the benchmarks measure against (dev extra; vroom is pyvroom, the peer
engine): 143 MB the service never uses."""
CONTRACT = ROOT / "proto" / "dispatcher" / "pb" / "dispatch.proto"
LOWEST = ROOT / "constraints" / "lowest.txt"
LOWEST_SUITE_TOOLS = frozenset(
    {
        "pytest",
        "pytest-asyncio",
        "pytest-timeout",
        "hypothesis",
        "pyyaml",
        "standardwebhooks",
        "openapi-spec-validator",  # tests/service/test_openapi.py
        "selenium",  # tests/service/test_board.py (when chromium-driver is installed)
    }
)
"""What the service's test suites need beside the base install (versions from the dev extra)."""


def serve_answers_health(env: Venv, workdir: Path) -> None:
    """``dispatcher serve`` of ``env`` on its embedded valkey answers ``dispatcher health``
    with SERVING, then drains on SIGTERM and exits 0."""
    ready = workdir / "ready.json"
    log = workdir / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [env.dispatcher, "serve", "--grpc-port", "0", "--metrics-port", "0",
             "--state-dir", workdir / "state", "--ready-file", ready],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        port = json.loads(ready.read_text())["grpc_port"]
        health = run(env.dispatcher, "health", "--target", f"127.0.0.1:{port}")
        assert "SERVING" in health.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()


def test_wheel_and_sdist_carry_the_licence_the_data_notice_and_the_contract(
    dists: Dists,
) -> None:
    """LICENSE and the Boston 311 notice in both; dispatch.proto in both; sdist has proto/."""
    dist_info = f"dispatch_optimizer-{version('dispatch-optimizer')}.dist-info"
    with zipfile.ZipFile(dists.wheel) as wheel:
        names = set(wheel.namelist())
        assert wheel.read("dispatcher/pb/dispatch.proto") == CONTRACT.read_bytes()
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "simulations/data/SOURCE.md" in names
    assert "simulations/data/boston311_2015Q3.csv.gz" in names
    with tarfile.open(dists.sdist) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        members = {name.removeprefix(f"{top}/") for name in sdist.getnames()}
    for name in ("LICENSE", "CHANGELOG.md", "SECURITY.md", "proto/dispatcher/pb/dispatch.proto",
                 "simulations/data/SOURCE.md", "setup.py"):  # fmt: skip
        assert name in members, name


def test_service_install_lacks_the_sim_extras(service_venv: Venv) -> None:
    """`pip install dispatch-optimizer` brings no polars, matplotlib, optuna or rich, and
    no scipy (the solver's spatial index is pykdtree)."""
    present = [name for name in SIM_EXTRA + BENCH_ONLY if service_venv.has_module(name)]
    assert present == []
    assert service_venv.has_module("ortools")
    print(f"service venv: {service_venv.size_mb():.0f} MB")


def test_installed_service_serves_on_its_embedded_valkey(
    service_venv: Venv, tmp_path: Path
) -> None:
    """The wheel's `dispatcher serve` starts its embedded valkey-server and answers health."""
    serve_answers_health(service_venv, tmp_path)


def test_installed_proto_path_is_the_contract(service_venv: Venv) -> None:
    """`dispatcher proto --path` names the copy inside the installed package."""
    path_text = run(service_venv.dispatcher, "proto", "--path").stdout.strip()
    assert path_text.startswith(str(service_venv.root))
    with open(path_text, "rb") as installed:
        assert installed.read() == CONTRACT.read_bytes()
    assert run(service_venv.dispatcher, "--version").stdout.split() == [
        "dispatcher",
        version("dispatch-optimizer"),
    ]


@pytest.mark.parametrize(
    "command",
    [("demo", "--duration", "1", "--no-live"), ("sim", "run", "smoke", "--out", "out")],
)
def test_sim_and_demo_without_the_extra_name_it(
    service_venv: Venv, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Without [sim], `dispatcher demo` / `sim` exit 1 with the install command."""
    result = subprocess.run(
        [service_venv.dispatcher, *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "pip install 'dispatch-optimizer[sim]'" in result.stderr


def test_sim_and_demo_run_with_the_sim_extra(
    dists: Dists, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`pip install dispatch-optimizer[sim]`: a smoke simulation and a short demo run."""
    root = tmp_path_factory.mktemp("venv-sim")
    env = make_venv(root / "venv", f"{dists.wheel}[sim]")
    run(
        env.dispatcher,
        "sim",
        "run",
        "smoke",
        "--no-plots",
        "--out",
        root / "out",
        cwd=root,
    )
    assert (root / "out").is_dir()
    assert any((root / "out").iterdir())
    summary = root / "demo.json"
    run(
        env.dispatcher,
        "demo",
        "--duration",
        "8",
        "--no-live",
        "--json",
        summary,
        cwd=root,
    )
    assert json.loads(summary.read_text())


def test_sdist_regenerates_the_stubs(dists: Dists, tmp_path: Path) -> None:
    """In the unpacked sdist, codegen from its proto/ reproduces its dispatcher/pb exactly."""
    with tarfile.open(dists.sdist) as sdist:
        sdist.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.iterdir()
    # `-m` puts the working directory first on sys.path: the sdist's codegen, proto/ and pb/
    result = run(
        sys.executable, "-m", "dispatcher.cli.codegen", "--check", cwd=unpacked
    )
    assert "up to date" in result.stdout


def test_lowest_allowed_versions_install_and_serve(
    dists: Dists, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The base dependencies at exactly their lower bounds: the wheel serves, and the
    service's own test suites (foundation, service, webhooks, dispatch, and the cluster
    client's close) pass on them."""
    root = tmp_path_factory.mktemp("venv-lowest")
    test_tools = [
        spec
        for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
            "optional-dependencies"
        ]["dev"]
        if re.split(r"[<>=\[ ]", spec, maxsplit=1)[0] in LOWEST_SUITE_TOOLS
    ]
    assert len(test_tools) == len(LOWEST_SUITE_TOOLS)
    env = make_venv(root / "venv", dists.wheel, *test_tools, constraints=LOWEST)
    pins = {
        name.lower(): pinned
        for name, _, pinned in (
            line.partition("==")
            for line in LOWEST.read_text().splitlines()
            if line and not line.startswith("#")
        )
    }
    freeze = run(env.python, "-m", "pip", "freeze").stdout.splitlines()
    installed = {
        name.lower().replace("_", "-"): got
        for name, _, got in (line.partition("==") for line in freeze)
    }
    assert {name: installed.get(name) for name in pins} == pins
    serve_answers_health(env, root)
    # The repository's tests on the lowest versions (its serve subprocesses run the wheel,
    # built from the same tree). Not the demo (it needs [sim]) nor codegen (grpcio-tools).
    # The ini's filterwarnings names optuna's warning class: plain "error" here.
    run(
        env.python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-o", "filterwarnings=error",
        "tests/foundation", "tests/service", "tests/webhooks", "tests/dispatch",
        "tests/cluster/test_cluster_close.py",
        "--ignore", "tests/dispatch/test_demo.py",
        "--deselect", "tests/service/test_codegen.py::test_generated_code_is_up_to_date",
        cwd=ROOT,
    )  # fmt: skip
