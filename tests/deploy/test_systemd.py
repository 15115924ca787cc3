"""deploy/systemd: the role units pass `systemd-analyze verify` and carry the hardening and
stop settings the service needs."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dispatcher.runtime.settings import ROLES, Settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
INSTALL_PREFIX = "/opt/dispatch-optimizer/venv"


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def test_one_unit_per_separate_role() -> None:
    """dispatcher-api.service and dispatcher-solver.service run those roles."""
    roles = {}
    for path in UNITS:
        exec_start = _unit(path)["Service"]["ExecStart"].split()
        assert exec_start[0] == f"{INSTALL_PREFIX}/bin/dispatcher"
        assert exec_start[1:3] == ["serve", "--role"]
        roles[path.name] = exec_start[3]
    assert roles == {
        "dispatcher-api.service": "api",
        "dispatcher-solver.service": "solver",
    }
    assert set(roles.values()) <= set(ROLES)


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_is_hardened_and_stops_after_the_drain(path: Path) -> None:
    """Unprivileged, read-only system, no new privileges, restarted on failure; SIGTERM to
    the main process and a stop timeout above the drain period."""
    service = _unit(path)["Service"]
    assert service["DynamicUser"] == "yes" or service.get("User")
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"
    assert float(service["TimeoutStopSec"]) > Settings().grace_period_s


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (apt-get install systemd)",
)
@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_passes_systemd_analyze_verify(path: Path, tmp_path: Path) -> None:
    """`systemd-analyze verify` prints nothing (it reports unknown keys and bad values as
    warnings with exit 0, so its output is checked); ExecStart points at this venv's
    dispatcher, since verify needs an executable there."""
    venv = Path(sys.executable).parent.parent
    unit = tmp_path / path.name
    unit.write_text(path.read_text().replace(INSTALL_PREFIX, str(venv)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    broken = tmp_path / "broken" / path.name
    broken.parent.mkdir()
    broken.write_text(
        unit.read_text().replace("KillSignal=SIGTERM", "KillSignal=SIGNOPE")
    )
    complaint = subprocess.run(
        ["systemd-analyze", "verify", str(broken)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert "SIGNOPE" in complaint.stdout + complaint.stderr
