"""``dispatcher serve`` child processes on free loopback ports: start one and wait until it
is ready, stop it gracefully (SIGTERM) or kill it (SIGKILL), both by PID.

The one harness the multi-process tests, the cluster tests and the benchmarks share (beside
``backend.embedded_cluster`` for a local Redis Cluster); also handy to rehearse a
multi-process deployment on one machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


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
    lease_ttl_ms: int | None = 3000,
    solver_workers: int = 1,
    log_level: str = "WARNING",
    timeout_s: float = 90.0,
    extra_args: tuple[str, ...] = (),
) -> ServeProcess:
    """Start ``dispatcher serve`` on 127.0.0.1 (free ports) and wait for its ready file.

    Its output goes to ``workdir/<name>.log``, its state under ``workdir/<name>``;
    ``lease_ttl_ms`` None keeps the setting's default."""
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / f"{name}.ready.json"
    ready.unlink(missing_ok=True)
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher", "serve", "--redis-url", redis_url,
             "--role", role, "--grpc-port", "0", "--metrics-port", "0",
             "--solver-workers", str(solver_workers),
             *(("--lease-ttl-ms", str(lease_ttl_ms)) if lease_ttl_ms is not None else ()),
             "--log-level", log_level, "--state-dir", str(workdir / name),
             "--ready-file", str(ready), *extra_args],
            stdout=out, stderr=subprocess.STDOUT,
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
