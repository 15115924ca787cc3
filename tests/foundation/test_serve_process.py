"""`dispatcher serve` as a real process: embedded Redis, health, reflection, metrics, shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import grpc
import pytest
import redis
import redis.asyncio
import redis.exceptions
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.backend.embedded import EmbeddedRedis

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 60.0  # generous: the machine is shared
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ServeProcess:
    """A running `dispatcher serve` subprocess and what its ready file says."""

    def __init__(
        self, process: subprocess.Popen[str], info: dict[str, Any], log: Path
    ) -> None:
        self.process = process
        self.info = info
        self.log = log

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.info['grpc_port']}"

    def health(self, service: str = "") -> int:
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            return int(
                stub.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=5
                ).status
            )

    def wait_for_health(self, status: int, timeout_s: float = 30.0) -> float:
        """Poll Check until it returns ``status``; return the seconds it took."""
        start = time.monotonic()
        last: object = None
        while time.monotonic() - start < timeout_s:
            try:
                last = self.health()
            except grpc.RpcError as exc:
                last = exc.code()
            if last == status:
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(
            f"health stayed {last} for {timeout_s}s; log:\n{self.log.read_text()}"
        )

    def terminate(self, timeout_s: float = 30.0) -> tuple[int, float]:
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout_s)
        return code, time.monotonic() - start


@contextmanager
def serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[ServeProcess]:
    """Start `python -m dispatcher serve` on free ports; wait for its ready file; kill it at the end."""
    ready = tmp_path / "ready.json"
    log = tmp_path / "serve.log"
    environment = {
        k: v
        for k, v in os.environ.items()
        if k != "REDIS_URL" and not k.startswith("DISPATCH_")
    }
    environment.update(env or {})
    command = [
        sys.executable, "-m", "dispatcher", "serve",
        "--grpc-port", "0", "--metrics-port", "0",
        "--ready-file", str(ready), "--health-interval-s", "0.2", *args,
    ]  # fmt: skip
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=environment,
            stdout=log_file,
            stderr=log_file,
            text=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.exists():
            if process.poll() is not None:
                raise AssertionError(
                    f"serve exited with {process.returncode}:\n{log.read_text()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"serve not ready after {START_TIMEOUT_S}s:\n{log.read_text()}"
                )
            time.sleep(0.05)
        yield ServeProcess(process, json.loads(ready.read_text()), log)
    finally:
        if process.poll() is None:
            # Gracefully first, so the dispatcher stops its embedded valkey-server (a
            # SIGKILLed dispatcher would leave that child running).
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _metric(proc: ServeProcess, name: str) -> float:
    url = f"http://127.0.0.1:{proc.info['metrics_port']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as http:
        text = http.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not exported")


def _pid_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_serve_on_embedded_redis_end_to_end(tmp_path: Path) -> None:
    """Embedded default: SERVING, reflection, /metrics, AOF under the state dir, clean SIGTERM."""
    with serve(
        tmp_path, "--state-dir", str(tmp_path / "state"), "--grace-period-s", "5"
    ) as proc:
        assert proc.health() == SERVING
        valkey_pid = proc.info["embedded_redis_pid"]
        assert isinstance(valkey_pid, int)
        # The embedded server has a per-run password (the ready file is private and has it).
        assert proc.info["redis_url"].startswith("redis://:")
        assert (tmp_path / "ready.json").stat().st_mode & 0o077 == 0
        anonymous = redis.Redis(
            host="127.0.0.1", port=urlsplit(proc.info["redis_url"]).port
        )
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        anonymous.close()
        assert proc.info["redis_url"].split("@")[0] not in proc.log.read_text()

        with grpc.insecure_channel(proc.target) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            response = next(stub.ServerReflectionInfo(iter([request]), timeout=10))
        names = {s.name for s in response.list_services_response.service}
        assert "grpc.health.v1.Health" in names
        assert any(name.startswith("dispatch.v1.") for name in names), names
        assert "grpc.reflection.v1.ServerReflection" in names
        for name in {n for n in names if not n.startswith("grpc.reflection.")}:
            assert proc.health(name) == SERVING

        url = f"http://127.0.0.1:{proc.info['metrics_port']}/metrics"
        with urllib.request.urlopen(url, timeout=10) as http:
            assert http.headers["Content-Type"].startswith("text/plain")
            text = http.read().decode()
        families = {
            family.name: family for family in text_string_to_metric_families(text)
        }
        assert "dispatch_rpc_duration_seconds" in families
        assert families["dispatch_redis_up"].samples[0].value == 1
        checks = [
            s for s in families["dispatch_rpc_duration_seconds"].samples
            if s.name.endswith("_count") and s.labels["method"] == "grpc.health.v1.Health/Check"
        ]  # fmt: skip
        assert checks
        assert checks[0].labels["code"] == "OK"

        client = redis.Redis.from_url(proc.info["redis_url"], decode_responses=True)
        client.set("dispatch:{t:r}:probe", "kept")
        client.close()

        code, elapsed = proc.terminate()
        assert code == 0, proc.log.read_text()
        assert elapsed < 5 + 5
        assert _pid_gone(valkey_pid), (
            "embedded valkey-server still running after shutdown"
        )
    log = proc.log.read_text()
    assert "Traceback" not in log
    assert "shutdown complete" in log
    assert not (tmp_path / "ready.json").exists()
    aof = tmp_path / "state" / "redis" / "appendonlydir"
    assert any(f.name.endswith(".incr.aof") for f in aof.iterdir())

    # The same state dir serves the same data on the next start (AOF reload).
    with serve(tmp_path, "--state-dir", str(tmp_path / "state")) as again:
        client = redis.Redis.from_url(again.info["redis_url"], decode_responses=True)
        assert client.get("dispatch:{t:r}:probe") == "kept"
        client.close()
        assert again.terminate()[0] == 0


@pytest.mark.slow
def test_embedded_redis_is_restarted_after_a_crash(tmp_path: Path) -> None:
    """Killing the embedded server: it is restarted on the same port and data, health SERVING again."""
    with serve(tmp_path, "--state-dir", str(tmp_path / "state")) as proc:
        client = redis.Redis.from_url(proc.info["redis_url"], decode_responses=True)
        client.set("k", "v")
        os.kill(proc.info["embedded_redis_pid"], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (
            "restarting it" not in proc.log.read_text()
            or proc.log.read_text().count("listening on") < 2
        ):
            assert time.monotonic() < deadline, proc.log.read_text()
            time.sleep(0.1)
        proc.wait_for_health(SERVING)
        valkey_log = (tmp_path / "state" / "redis" / "valkey.log").read_text()
        assert client.get("k") == "v", (
            f"{proc.log.read_text()}\n--- valkey.log ---\n{valkey_log[-3000:]}"
        )
        client.close()
        assert proc.terminate()[0] == 0


@pytest.mark.slow
def test_an_embedded_redis_that_keeps_dying_is_restarted_with_backoff(
    tmp_path: Path,
) -> None:
    """Each restarted valkey-server killed at once (like one on a full disk): restarts back
    off (at once, then 1, 2, 4 s...) instead of one per health check (0.2 s here), health
    stays NOT_SERVING instead of flapping, and once the server stays up it is SERVING
    again after the recovery period; the restarts are counted."""
    with serve(tmp_path, "--state-dir", str(tmp_path / "state")) as proc:
        killed = {proc.info["embedded_redis_pid"]}
        os.kill(proc.info["embedded_redis_pid"], signal.SIGKILL)
        proc.wait_for_health(NOT_SERVING, timeout_s=10.0)
        statuses = set()
        until = time.monotonic() + 5.0
        while time.monotonic() < until:
            for pid in map(
                int,
                re.findall(r"valkey-server pid=(\d+) listening", proc.log.read_text()),
            ):
                if pid not in killed:
                    killed.add(pid)
                    os.kill(pid, signal.SIGKILL)
            try:
                statuses.add(proc.health())
            except grpc.RpcError as exc:
                statuses.add(exc.code())
            time.sleep(0.05)
        restarts = proc.log.read_text().count("restarting it on port")
        assert SERVING not in statuses, proc.log.read_text()
        assert 2 <= restarts <= 4, proc.log.read_text()  # at 0, 1, 3 s (next at 7 s)
        proc.wait_for_health(SERVING, timeout_s=30.0)
        assert _metric(proc, "dispatch_embedded_redis_restarts_total") >= restarts
        assert proc.terminate()[0] == 0


def test_external_redis_url_and_health_follow_redis(tmp_path: Path) -> None:
    """With REDIS_URL set no server is embedded; stopping Redis → NOT_SERVING, restarting → SERVING."""
    external = EmbeddedRedis(tmp_path / "external").start()
    try:
        with serve(tmp_path, env={"REDIS_URL": external.url}) as proc:
            assert proc.info["embedded_redis_pid"] is None
            assert proc.info["redis_url"] == external.url
            assert not (tmp_path / "state").exists()
            assert proc.health() == SERVING

            external.stop()
            proc.wait_for_health(NOT_SERVING, timeout_s=15)
            assert _metric(proc, "dispatch_redis_up") == 0
            external.start()  # same port, same data
            proc.wait_for_health(SERVING, timeout_s=15)

            log = proc.log.read_text()
            assert "health NOT_SERVING" in log
            assert "health SERVING" in log
            assert proc.terminate()[0] == 0
    finally:
        external.stop()


def test_liveness_stays_serving_while_redis_is_unreachable(tmp_path: Path) -> None:
    """Health name "liveness" (the Kubernetes liveness/startup probes) stays SERVING while
    Redis is unreachable; "" (the readiness probe) turns NOT_SERVING."""
    external = EmbeddedRedis(tmp_path / "external").start()
    try:
        with serve(tmp_path, env={"REDIS_URL": external.url}) as proc:
            assert proc.health("liveness") == SERVING
            external.stop()
            proc.wait_for_health(NOT_SERVING, timeout_s=15)
            assert "health NOT_SERVING" in proc.log.read_text()
            assert proc.health("liveness") == SERVING
            assert proc.health("") == NOT_SERVING
            assert proc.terminate()[0] == 0
    finally:
        external.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_drains_within_the_grace_period(tmp_path: Path, signum: int) -> None:
    """SIGTERM: NOT_SERVING is announced, the exit is clean (0), logs are JSON lines to the end."""
    args = ("--state-dir", str(tmp_path / "state"), "--grace-period-s", "1")
    with serve(tmp_path, *args, "--log-format", "json") as proc:
        channel = grpc.insecure_channel(proc.target)
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service="")
        )
        assert next(watch).status == SERVING
        proc.process.send_signal(signum)
        assert next(watch).status == NOT_SERVING  # graceful shutdown is announced first
        code = proc.process.wait(timeout=30)
        assert code == 0
        watch.cancel()
        channel.close()
        assert _pid_gone(proc.info["embedded_redis_pid"])
    records = [json.loads(line) for line in proc.log.read_text().splitlines()]
    assert {"ts", "level", "logger", "msg"} <= set(records[0])
    assert records[-1]["msg"] == "shutdown complete"


def test_health_watch_streams_do_not_hold_shutdown(tmp_path: Path) -> None:
    """Open health Watch streams (client-side health checking) end at shutdown, not after the grace period."""
    with serve(
        tmp_path, "--state-dir", str(tmp_path / "state"), "--grace-period-s", "20"
    ) as proc:
        channel = grpc.insecure_channel(proc.target)
        stub = health_pb2_grpc.HealthStub(channel)
        watches = [
            stub.Watch(health_pb2.HealthCheckRequest(service="")) for _ in range(3)
        ]
        for watch in watches:
            assert next(watch).status == SERVING
        code, elapsed = proc.terminate()
        assert code == 0
        assert elapsed < 10, f"shutdown took {elapsed:.1f}s with a 20 s grace period"
        for watch in watches:
            assert [r.status for r in watch] == [
                NOT_SERVING
            ]  # told, then the stream ended
        channel.close()


def test_http_gateway_serves_and_its_event_streams_do_not_hold_shutdown(
    tmp_path: Path,
) -> None:
    """With --http-gateway the ready file names its port; it answers JSON; an open SSE
    stream ends at shutdown (exit 0), not after the grace period."""
    with serve(
        tmp_path,
        "--state-dir", str(tmp_path / "state"), "--grace-period-s", "20",
        "--http-gateway", "true", "--http-port", "0",
    ) as proc:  # fmt: skip
        base = f"http://127.0.0.1:{proc.info['http_port']}"
        request = urllib.request.Request(
            base + "/v1/tickets/T-404", headers={"X-Api-Key": "any"}
        )
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(request, timeout=10)
        assert missing.value.code == 404
        assert (
            json.loads(missing.value.read())["code"]
            == grpc.StatusCode.NOT_FOUND.value[0]
        )
        events = urllib.request.urlopen(base + "/v1/events", timeout=30)
        assert events.readline() == b": watching\n"
        code, elapsed = proc.terminate()
        assert code == 0, proc.log.read_text()
        assert elapsed < 10, f"shutdown took {elapsed:.1f}s with a 20 s grace period"
        assert events.read() == b"\n"  # the rest of the first message, then the end
        events.close()


@pytest.mark.parametrize("which", ["--grpc-port", "--metrics-port", "--http-port"])
def test_port_in_use_fails_start_up_with_one_error(tmp_path: Path, which: str) -> None:
    """A taken port ends start-up with exit code 1, an error naming the address, and no leftover server."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        ports = {"--grpc-port": "0", "--metrics-port": "0", which: port}
        ports["--http-gateway"] = "true"
        ports.setdefault("--http-port", "0")
        result = subprocess.run(
            [sys.executable, "-m", "dispatcher", "serve", "--state-dir", str(tmp_path / "state"),
             *(item for pair in ports.items() for item in pair)],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert f"127.0.0.1:{port}" in errors[0]
    assert "Traceback" not in result.stderr
    assert "valkey-server pid=" in result.stderr
    assert (
        result.stderr.count("stopped (exit code 0)") == 1
    )  # the embedded server was stopped


def test_serve_unreachable_cluster_is_one_line_exit_1(tmp_path: Path) -> None:
    """An unreachable redis+cluster:// seed: a readable error line, no traceback, exit 1."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatcher",
            "serve",
            "--redis-url",
            "redis+cluster://127.0.0.1:1",
            "--redis-connect-attempts",
            "1",
            "--grpc-port",
            "0",
            "--metrics-port",
            "0",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "cannot reach Redis at redis+cluster://127.0.0.1:1" in out
