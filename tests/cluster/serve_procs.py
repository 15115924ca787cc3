"""`dispatcher serve` processes for the cluster tests and benchmarks: start, SIGKILL, stop by PID.

Also the small gRPC workload both use: technicians and tickets around Boston in a few
regions (tenant ``default``: dev-mode auth, every call is admin of that tenant).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TENANT = "default"
SKILLS = ("electrical", "plumbing", "hvac", "general")
CENTER = (42.35, -71.07)


@dataclass
class ServeProcess:
    """One running ``dispatcher serve`` child process."""

    name: str
    proc: subprocess.Popen[bytes]
    grpc_port: int
    metrics_port: int
    log: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL by PID (no drain, no lease release) and reap."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def metrics(self) -> dict[str, float]:
        """Unlabelled samples of its /metrics endpoint (e.g. dispatch_leases_held)."""
        import urllib.request

        out: dict[str, float] = {}
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as r:
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#") and "{" not in line:
                    name, _, value = line.partition(" ")
                    with contextlib.suppress(ValueError):
                        out[name] = float(value)
        return out

    def stop(self) -> None:
        """SIGTERM by PID (graceful drain), SIGKILL after 15 s."""
        if not self.alive:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


def start_serve(
    redis_url: str,
    workdir: Path,
    name: str,
    *,
    role: str = "both",
    lease_ttl_ms: int = 3000,
    solver_workers: int = 1,
    timeout_s: float = 90.0,
    extra_args: tuple[str, ...] = (),
) -> ServeProcess:
    """Start ``dispatcher serve`` on 127.0.0.1 (free ports) and wait for its ready file."""
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / f"{name}.ready.json"
    ready.unlink(missing_ok=True)
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher", "serve", "--redis-url", redis_url,
             "--role", role, "--grpc-port", "0", "--metrics-port", "0",
             "--solver-workers", str(solver_workers), "--lease-ttl-ms", str(lease_ttl_ms),
             "--log-level", "WARNING", "--state-dir", str(workdir / name),
             "--ready-file", str(ready), *extra_args],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    return ServeProcess(
        name, proc, int(info["grpc_port"]), int(info["metrics_port"]), log
    )


def region_names(n: int) -> list[str]:
    return [f"region-{i:02d}" for i in range(n)]


def technician(
    pb: Any, region_index: int, region: str, k: int, capacity: int = 5
) -> Any:
    """A technician with every skill near the centre of its region."""
    import math

    angle = 2 * math.pi * region_index / 8
    lat = CENTER[0] + 0.07 * math.sin(angle) + 0.002 * (k % 5)
    lon = CENTER[1] + 0.09 * math.cos(angle) + 0.002 * (k // 5)
    return pb.Technician(
        technician_id=f"{region}-k{k:03d}",
        region=region,
        skills=[pb.Skill(skill=s, level=3) for s in SKILLS],
        location=pb.Location(latitude_deg=lat, longitude_deg=lon),
        status=pb.TECHNICIAN_STATUS_AVAILABLE,
        capacity=capacity,
    )


def ticket_request(pb: Any, region_index: int, region: str, ticket_id: str) -> Any:
    """A submit of one P3 ticket needing one skill, near its region's centre."""
    import math

    angle = 2 * math.pi * region_index / 8
    return pb.SubmitTicketRequest(
        request_id=ticket_id,
        ticket=pb.Ticket(
            ticket_id=ticket_id,
            region=region,
            priority=3,
            required_skills=[
                pb.SkillRequirement(
                    skill=SKILLS[zlib.crc32(ticket_id.encode()) % 4], min_level=1
                )
            ],
            location=pb.Location(
                latitude_deg=CENTER[0] + 0.07 * math.sin(angle) + 0.001,
                longitude_deg=CENTER[1] + 0.09 * math.cos(angle) + 0.001,
            ),
            work_duration_s=1800,
        ),
    )


def stubs(channel: Any) -> dict[str, Any]:
    """The service stubs on one channel."""
    from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

    return {
        "tickets": pb_grpc.TicketServiceStub(channel),
        "tech": pb_grpc.TechnicianServiceStub(channel),
        "events": pb_grpc.EventServiceStub(channel),
        "insight": pb_grpc.InsightServiceStub(channel),
        "policy": pb_grpc.PolicyServiceStub(channel),
    }
