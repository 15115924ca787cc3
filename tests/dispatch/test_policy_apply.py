"""`dispatcher policy apply FILE` / `policy show` against a real server (dev mode: admin)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import grpc.aio
import pytest

from dispatcher.__main__ import build_parser
from dispatcher.cli.policy import run_async
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
from solver.model import CostWeights
from solver.policy import Policy, SlaTarget, SolverSettings, write_policy_file

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import RunningServer

pytestmark = pytest.mark.integration


def _tuned(**solver: object) -> Policy:
    return Policy(
        weights=CostWeights(travel=2.5, lateness=7.0, unassigned=5000.0),
        solver=SolverSettings(
            candidates_k=12,
            time_limit_s=3.0,
            cadence_s=30.0,
            **solver,  # type: ignore[arg-type]
        ),
        sla={
            1: SlaTarget(1800.0, 7200.0),
            2: SlaTarget(3600.0, 14400.0),
            3: SlaTarget(7200.0, 86400.0),
            4: SlaTarget(86400.0, 259200.0),
        },
        name="tuned-smoke-trial3",
    )


async def _cli(*argv: str) -> int:
    return await run_async(build_parser().parse_args(["policy", *argv]))


async def _get(server: RunningServer, region: str = "") -> pb.Policy:
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.PolicyServiceStub(channel)
        return await stub.GetPolicy(pb.GetPolicyRequest(region=region))


async def test_apply_stores_the_file_and_show_prints_it(
    grpc_server: RunningServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "best_policy.toml"
    write_policy_file(path, _tuned())
    before = (await _get(grpc_server)).version

    assert await _cli("apply", str(path), "--target", grpc_server.target) == 0
    out = capsys.readouterr().out
    got = await _get(grpc_server)
    assert got.version > before
    assert f"policy version {got.version}" in out
    assert got.weights.travel == 2.5
    assert got.weights.lateness == 7.0
    assert got.weights.unassigned == 5000.0
    assert got.solver.candidates_k == 12
    assert got.solver.time_limit_s == 3.0
    assert got.solver.cadence_s == 30.0
    sla = {t.priority: (t.response_s, t.resolution_s) for t in got.sla_targets}
    assert sla[pb.PRIORITY_P1] == (1800.0, 7200.0)
    assert "best_policy.toml" in got.comment

    # a region override, then `show` prints a file `apply` takes back unchanged
    assert (
        await _cli(
            "apply", str(path), "--target", grpc_server.target, "--region", "north"
        )
        == 0
    )
    capsys.readouterr()
    assert await _cli("show", "--target", grpc_server.target, "--region", "north") == 0
    shown = tmp_path / "shown.toml"
    shown.write_text(capsys.readouterr().out, encoding="utf-8")
    north = await _get(grpc_server, "north")
    assert (
        await _cli(
            "apply", str(shown), "--target", grpc_server.target, "--region", "north"
        )
        == 0
    )
    again = await _get(grpc_server, "north")
    assert again.version == north.version + 1
    assert again.weights == north.weights
    assert list(again.sla_targets) == list(north.sla_targets)
    assert again.solver == north.solver


@pytest.mark.parametrize(
    ("solver", "field"),
    [
        ({"all_pairs": True}, "solver.all_pairs"),
        ({"seed": 7}, "solver.seed"),
        ({"batch": True}, "solver.batch"),
    ],
)
async def test_simulator_only_keys_are_refused(
    grpc_server: RunningServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    solver: dict[str, object],
    field: str,
) -> None:
    path = tmp_path / "p.toml"
    write_policy_file(path, _tuned(**solver))
    before = await _get(grpc_server)
    assert await _cli("apply", str(path), "--target", grpc_server.target) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert field in err
    assert (await _get(grpc_server)).version == before.version


async def test_errors_are_one_line(
    grpc_server: RunningServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = ("--target", grpc_server.target)
    assert await _cli("apply", str(tmp_path / "missing.toml"), *target) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot read" in err

    bad = tmp_path / "bad.toml"
    bad.write_text("schema_version = 1\n[weights]\ntravel = -1.0\n", encoding="utf-8")
    assert await _cli("apply", str(bad), *target) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "weights.travel" in err

    good = tmp_path / "good.toml"
    write_policy_file(good, dataclasses.replace(_tuned(), name="x"))
    # the server refuses: an invalid region name -> INVALID_ARGUMENT, exit 1
    assert await _cli("apply", str(good), *target, "--region", "no such region!") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "INVALID_ARGUMENT" in err
    # a stale expected version -> ABORTED
    current = (await _get(grpc_server)).version
    assert (
        await _cli("apply", str(good), *target, "--expected-version", str(current + 5))
        == 1
    )
    assert "ABORTED" in capsys.readouterr().err
