"""Redis Cluster connection helpers: the seed-node URL, the client, and replicated writes.

A cluster is named by a seed-node URL, ``redis+cluster://host:port,host:port,...`` (also
``rediss+cluster://`` for TLS, with optional ``user:password@`` before the first host). Any
reachable seed is enough; the client discovers the rest of the topology itself.

Durability on a cluster: a primary acknowledges a write before its replica has it, so a
failover (replica promoted after the primary dies) can lose the last writes. A write is safe
against one failover once ``WAIT 1`` on *the same connection* reports that a replica holds it.
:func:`execute_replicated` sends the commands and the WAIT in one pipeline to the primary that
owns ``key``'s slot, so both travel on one connection; it works the same on a single server.

WAIT only covers the calling connection's own *writes*: after a script that wrote nothing
(a replayed submit answered from an earlier attempt's write, a read) it returns at once,
counting a replica that holds none of what the reply reports. So a fence write (a ``SET``
of a key in the same slot) goes right before every WAIT: the WAIT then covers everything
the primary had applied when the script ran, whichever connection wrote it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
"""URL schemes that name a Redis Cluster by its seed nodes."""

DEFAULT_PORT = 6379

XREAD_POLL_S = 0.02
"""Poll period of :func:`xread_streams` when the streams span several cluster slots."""


class ClusterUrlError(ValueError):
    """A cluster URL that cannot be parsed."""


class ReplicationTimeout(RedisTimeoutError):
    """WAIT returned before enough replicas acknowledged a write.

    A ``redis.exceptions.TimeoutError``, so the service answers it UNAVAILABLE (retry with
    the same request id) like any other Redis timeout, never as an acknowledgement.
    """

    def __init__(self, acked: int, wanted: int) -> None:
        super().__init__(
            f"write not acknowledged by enough Redis replicas ({acked} of {wanted} "
            "within the WAIT timeout); it may or may not survive a failover: retry"
        )
        self.acked = acked
        self.wanted = wanted


@dataclass(frozen=True, slots=True)
class ClusterUrl:
    """A parsed ``redis+cluster://`` URL."""

    seeds: tuple[tuple[str, int], ...]
    ssl: bool = False
    username: str | None = None
    password: str | None = None


def is_cluster_client(client: object) -> bool:
    """True when ``client`` talks to a Redis Cluster (keys of two regions in two slots)."""
    from redis.asyncio.cluster import RedisCluster

    return bool(getattr(client, "is_cluster", False)) or isinstance(
        client, RedisCluster
    )


def is_cluster_url(url: str) -> bool:
    """True when ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterUrl:
    """Parse ``redis+cluster://[user:password@]host:port,host:port[/]``.

    Raises
    ------
    ClusterUrlError
        If the scheme is not a cluster scheme, no seed is given, or a port is invalid.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in CLUSTER_SCHEMES:
        raise ClusterUrlError(
            f"not a cluster URL (expected redis+cluster://...): {url!r}"
        )
    rest = rest.split("/", 1)[0].split("?", 1)[0]
    username = password = None
    if "@" in rest:
        auth, rest = rest.rsplit("@", 1)
        user, has_password, secret = auth.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    seeds: list[tuple[str, int]] = []
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):  # [ipv6]:port
            host, _, port_text = item[1:].partition("]")
            port_text = port_text.removeprefix(":")
        else:
            host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "")
        try:
            port = int(port_text) if port_text else DEFAULT_PORT
        except ValueError:
            raise ClusterUrlError(f"bad port in cluster URL: {item!r}") from None
        if not host or not 0 < port < 65536:
            raise ClusterUrlError(f"bad seed node in cluster URL: {item!r}")
        seeds.append((host, port))
    if not seeds:
        raise ClusterUrlError(f"cluster URL names no seed node: {url!r}")
    return ClusterUrl(
        tuple(seeds), scheme.lower() == "rediss+cluster", username, password
    )


def connect_cluster(url: str, **kwargs: Any) -> RedisCluster:
    """A ``redis.asyncio.cluster.RedisCluster`` on the seed nodes of ``url`` (not yet
    connected), with a closed state (``backend.pool.ClosingRedisCluster``).

    ``kwargs`` go to the client (e.g. ``decode_responses``, ``socket_timeout``); the first
    command (or ``await client.initialize()``) discovers the slots.
    """
    from redis.asyncio.cluster import ClusterNode

    from dispatcher.backend.pool import ClosingRedisCluster

    parsed = parse_cluster_url(url)
    options: dict[str, Any] = {"ssl": parsed.ssl}
    if parsed.username is not None:
        options["username"] = parsed.username
    if parsed.password is not None:
        options["password"] = parsed.password
    options.update(kwargs)
    return ClosingRedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.seeds],
        **options,
    )


@dataclass(frozen=True, slots=True)
class Replication:
    """How many replicas must acknowledge each write, and how long WAIT may take (ms)."""

    replicas: int = 0
    timeout_ms: int = 1000


_REPLICATION_ATTR = "_dispatch_replication"

WAIT_FENCE_TTL_MS = 60_000
"""Lifetime of a wait fence key (rewritten by every replicated write of its slot)."""


def wait_fence_key(key: str) -> str:
    """The key in ``key``'s hash slot that is written right before each WAIT for it: the
    same hash tag (``{...}``), or ``key`` itself as the tag when it has none."""
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    tag = key[start + 1 : end] if end > start + 1 else key
    if not tag or (end <= start + 1 and "}" in key):
        raise ValueError(f"no wait fence for a key without a usable hash tag: {key!r}")
    return "dispatch:{" + tag + "}:wait_fence"


def _queue_fenced_wait(pipe: Any, key: str, replicas: int, timeout_ms: int) -> None:
    """Queue the fence write and ``WAIT`` (two replies) on a single server's ``pipe``
    (see the module doc; a cluster: ``_on_one_connection``)."""
    pipe.execute_command("SET", wait_fence_key(key), "1", "PX", WAIT_FENCE_TTL_MS)
    pipe.execute_command("WAIT", replicas, timeout_ms)


def set_replication(
    client: Redis | RedisCluster, replicas: int, timeout_ms: int = 1000
) -> None:
    """Attach the durability mode to ``client``: every store/lease write made through it
    waits for ``replicas`` replicas (``WAIT``); 0 = plain writes (the default)."""
    setattr(client, _REPLICATION_ATTR, Replication(replicas, timeout_ms))


def replication_of(client: Redis | RedisCluster) -> Replication:
    """The mode attached by :func:`set_replication` (``Replication()`` = none)."""
    found = getattr(client, _REPLICATION_ATTR, None)
    return found if isinstance(found, Replication) else Replication()


def write_script(
    client: Redis | RedisCluster,
    body: str,
    replication: Replication | None = None,
    on_timeout: Callable[[], None] | None = None,
) -> Any:
    """``client.register_script(body)`` when no replica is required (the fast default), else a
    :class:`ReplicatedScript` with the client's (or the given) replication mode; ``on_timeout``
    is called on each :class:`ReplicationTimeout` (e.g. to count it in a metric)."""
    mode = replication_of(client) if replication is None else replication
    if mode.replicas <= 0:
        return client.register_script(body)
    return ReplicatedScript(
        client,
        body,
        replicas=mode.replicas,
        timeout_ms=mode.timeout_ms,
        on_timeout=on_timeout,
    )


async def execute_replicated(
    client: Redis | RedisCluster,
    key: str,
    commands: Sequence[Sequence[Any]],
    *,
    replicas: int = 1,
    timeout_ms: int = 1000,
) -> list[Any]:
    """Run ``commands`` (all on ``key``'s slot), then ``WAIT replicas timeout_ms`` on one connection.

    Returns the commands' results. Raises :class:`ReplicationTimeout` if fewer than
    ``replicas`` replicas acknowledged within ``timeout_ms`` (the writes are applied on the
    primary all the same; the caller decides whether to report success).
    """
    from redis.asyncio.cluster import RedisCluster

    if isinstance(client, RedisCluster):
        results = await _on_one_connection(client, key, replicas, timeout_ms, commands)
    else:
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        _queue_fenced_wait(pipe, key, replicas, timeout_ms)
        results = list(await pipe.execute())
    acked = int(results[-1])
    if acked < replicas:
        raise ReplicationTimeout(acked, replicas)
    return list(results[:-2])


async def _on_one_connection(
    client: RedisCluster,
    key: str,
    replicas: int,
    timeout_ms: int,
    commands: Sequence[Sequence[Any]],
) -> list[Any]:
    """Redis Cluster: ``commands``, the fence and WAIT on one connection to the primary of
    ``key``'s slot, sent once. redis-py's cluster pipeline resends a command whose reply
    was lost (a dropped connection) on its own, and a lone WAIT resent covers nothing:
    on a fresh connection it answers at once, and routed by its own policy it goes to
    every primary with the replies summed; the write was then acknowledged with no
    replica holding it. Here any failure is raised (the caller retries the whole call;
    a keyed read through the client first lets it learn a moved slot or a dead node).
    Returns each command's reply (an error reply as its exception), then the fence's and
    WAIT's."""
    from redis.asyncio.cluster import PipelineCommand

    await client.initialize()  # a no-op once the slots are known
    node = client.get_node_from_key(key)
    if node is None:
        raise RedisTimeoutError(f"no primary known for the slot of {key!r}")
    stack = [PipelineCommand(i, *command) for i, command in enumerate(commands)]
    fence = ("SET", wait_fence_key(key), "1", "PX", WAIT_FENCE_TTL_MS)
    stack += [
        PipelineCommand(len(stack), *fence),
        PipelineCommand(len(stack) + 1, "WAIT", replicas, timeout_ms),
    ]
    try:
        await node.execute_pipeline(stack)
        for command in stack[-2:]:
            if isinstance(command.result, Exception):
                raise command.result
    except Exception:
        with contextlib.suppress(Exception):
            await client.exists(key)  # the client's own error handling: topology
        raise
    return [command.result for command in stack]


async def replicas_hold(client: Redis | RedisCluster, keys: Sequence[str]) -> bool:
    """True when the replicas ``client``'s mode requires (:func:`set_replication`; none =
    always true) hold everything the primaries of ``keys`` had applied: a fenced WAIT on
    each (at once); False when one fell short. For readers, before they pass on what they
    read (events), so nothing a failover may still drop is shown."""
    mode = replication_of(client)
    if mode.replicas <= 0 or not keys:
        return True
    outcomes = await asyncio.gather(
        *(
            execute_replicated(
                client, key, [], replicas=mode.replicas, timeout_ms=mode.timeout_ms
            )
            for key in keys
        ),
        return_exceptions=True,
    )
    held = True
    for outcome in outcomes:
        if isinstance(outcome, ReplicationTimeout):
            held = False
        elif isinstance(outcome, BaseException):
            raise outcome
    return held


async def xread_streams(
    client: Redis | RedisCluster,
    streams: Mapping[str, str],
    *,
    count: int | None = None,
    block_ms: int | None = None,
) -> list[Any]:
    """``XREAD [COUNT] [BLOCK] STREAMS ...`` that also works when the streams span cluster slots.

    A drop-in for ``client.xread(streams, count=count, block=block_ms)`` (RESP2 reply: a list
    of ``[key, entries]``). On a single server, or when every stream is in one slot, it is
    exactly that call. On a cluster a multi-key XREAD across slots is refused (CROSSSLOT),
    so the streams are grouped by slot and each group is read without blocking; when none
    has news the call polls every ``XREAD_POLL_S`` until ``block_ms`` passed (0 = forever,
    as BLOCK 0).
    """
    from redis.asyncio.cluster import RedisCluster

    request: dict[Any, Any] = dict(streams)  # redis-py's key type is wider than str
    if not isinstance(client, RedisCluster):
        reply: Any = await client.xread(request, count=count, block=block_ms)
        return list(reply or [])
    groups: dict[int, dict[Any, Any]] = {}
    for key, position in streams.items():
        groups.setdefault(client.keyslot(key), {})[key] = position
    if len(groups) <= 1:
        reply = await client.xread(request, count=count, block=block_ms)
        return list(reply or [])
    deadline = None if not block_ms else time.monotonic() + block_ms / 1000
    while True:
        replies = await asyncio.gather(
            *(client.xread(group, count=count) for group in groups.values())
        )
        found = [item for reply in replies for item in (reply or [])]
        if found or block_ms is None:
            return found
        if deadline is not None and time.monotonic() >= deadline:
            return []
        await asyncio.sleep(XREAD_POLL_S)


class ReplicatedScript:
    """A Lua script whose every call is acknowledged by ``replicas`` replicas (WAIT).

    A drop-in for ``client.register_script(body)`` on the write paths, for the durability
    mode "no acknowledged write lost in a failover": ``await script(keys=..., args=...)``
    sends EVALSHA and ``WAIT replicas timeout_ms`` in one pipeline to the primary of
    ``keys[0]``'s slot (one connection, so WAIT covers that write), loads the script where
    it is missing (NOSCRIPT after a restart or failover) and raises
    :class:`ReplicationTimeout` when too few replicas acknowledged in time (the write is
    applied on the primary all the same; report failure so the client retries with its
    request id). With ``replicas=0`` it is a plain script call.
    """

    def __init__(
        self,
        client: Redis | RedisCluster,
        body: str,
        *,
        replicas: int = 1,
        timeout_ms: int = 1000,
        on_timeout: Callable[[], None] | None = None,
    ) -> None:
        import hashlib

        self.client = client
        self.body = body
        self.sha = hashlib.sha1(body.encode()).hexdigest()
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.on_timeout = on_timeout
        self._plain = client.register_script(body)

    async def __call__(
        self, keys: Sequence[Any] = (), args: Sequence[Any] = (), client: Any = None
    ) -> Any:
        """Run the script on ``keys``/``args``; returns its reply once replicated.

        ``client`` (a pipeline, as for a registered script) queues a plain call there.
        """
        if client is not None:
            return await self._plain(keys=list(keys), args=list(args), client=client)
        if self.replicas <= 0 or not keys:
            return await self._plain(keys=list(keys), args=list(args))
        try:
            return await self._replicated(keys, args)
        except ReplicationTimeout:
            if self.on_timeout is not None:
                self.on_timeout()
            raise

    async def _replicated(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """EVALSHA then WAIT; when the server does not know the script (NOSCRIPT, so it did
        not run), the script is loaded and called once more."""
        from redis.exceptions import NoScriptError

        try:
            return await self._evalsha_replicated(keys, args)
        except NoScriptError:
            await self._load()
        return await self._evalsha_replicated(keys, args)

    async def _evalsha_replicated(
        self, keys: Sequence[Any], args: Sequence[Any]
    ) -> Any:
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        results = await execute_replicated(
            self.client,
            str(keys[0]),
            [command],
            replicas=self.replicas,
            timeout_ms=self.timeout_ms,
        )
        if isinstance(results[0], Exception):
            raise results[0]
        return results[0]

    async def _load(self) -> None:
        await self.client.script_load(self.body)  # on a cluster: every primary


async def call_script_batch(
    client: Redis | RedisCluster,
    script: Any,
    calls: Sequence[tuple[Sequence[Any], Sequence[Any]]],
    *,
    concurrency: int = 64,
    return_exceptions: bool = False,
) -> list[Any]:
    """Run ``script(keys=..., args=...)`` for each ``(keys, args)`` of ``calls``; results in order.

    ``script`` is a registered script or a :class:`ReplicatedScript` (or one wrapped by
    ``backend.observed``, which then times the batch as one round trip). On a single server the
    calls go in one pipeline: one round trip, EVALSHA each, then ``WAIT`` when the script
    requires replicas (:class:`ReplicationTimeout` when too few acknowledged). A call refused
    with NOSCRIPT (the server's script cache was emptied, e.g. by a restart) did not run: the
    script is loaded and those calls alone run again. redis-py refuses EVALSHA in a cluster
    pipeline, so on a cluster calls on different first keys run concurrently (at most
    ``concurrency`` at once) while calls on the same first key keep their order.
    Raises the first error a call answered (after every call has run); with
    ``return_exceptions`` a failed call's error is its result instead (as with
    ``asyncio.gather``), so the calls that succeeded are answered too. A
    :class:`ReplicationTimeout` covers every call and is always raised.
    """
    timed_batch = getattr(script, "timed_batch", None)
    if timed_batch is not None:
        return list(
            await timed_batch(client, calls, return_exceptions=return_exceptions)
        )
    if is_cluster_client(client):
        results = await _concurrent_script_calls(script, calls, concurrency)
    else:
        results = await _pipelined_script_calls(client, script, calls)
    if not return_exceptions:
        for reply in results:
            if isinstance(reply, Exception):
                raise reply
    return results


async def _concurrent_script_calls(
    script: Any, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]], concurrency: int
) -> list[Any]:
    """Redis Cluster: each call on its own, calls on one first key in order; a failed
    call's result is its error."""
    results: list[Any] = [None] * len(calls)
    by_key: dict[str, list[int]] = {}
    for index, (keys, _) in enumerate(calls):
        by_key.setdefault(str(keys[0]) if keys else "", []).append(index)
    limit = asyncio.Semaphore(concurrency)

    async def run_in_order(indices: list[int]) -> None:
        async with limit:
            for index in indices:
                keys, args = calls[index]
                try:
                    results[index] = await script(keys=keys, args=args)
                except ReplicationTimeout:
                    raise
                except Exception as exc:  # answered as that call's result
                    results[index] = exc

    await asyncio.gather(*(run_in_order(indices) for indices in by_key.values()))
    return results


async def _pipelined_script_calls(
    client: Any, script: Any, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]
) -> list[Any]:
    from redis.exceptions import NoScriptError

    replicas = int(getattr(script, "replicas", 0))
    body = script.body if isinstance(script, ReplicatedScript) else script.script
    results: list[Any] = [None] * len(calls)
    pending = list(range(len(calls)))
    least_acked = replicas
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        for index in pending:
            keys, args = calls[index]
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        if replicas > 0:  # covers all the server had applied (same connection, fenced)
            fence_of = str(calls[pending[0]][0][0]) if calls[pending[0]][0] else "-"
            _queue_fenced_wait(pipe, fence_of, replicas, script.timeout_ms)
        replies = list(await pipe.execute(raise_on_error=False))
        if replicas > 0:
            acked = replies.pop()
            fence = replies.pop()
            if isinstance(fence, Exception):
                raise fence
            least_acked = min(least_acked, int(acked))
        missing = []
        for index, reply in zip(pending, replies, strict=True):
            if isinstance(reply, NoScriptError) and not attempt:
                missing.append(index)
            else:
                results[index] = reply
        if not missing:
            break
        await client.script_load(body)
        pending = missing
    if least_acked < replicas:  # every call has run; too few replicas have them all
        if script.on_timeout is not None:
            script.on_timeout()
        raise ReplicationTimeout(least_acked, replicas)
    return results


__all__ = [
    "CLUSTER_SCHEMES",
    "ClusterUrl",
    "ClusterUrlError",
    "ReplicatedScript",
    "Replication",
    "ReplicationTimeout",
    "call_script_batch",
    "connect_cluster",
    "execute_replicated",
    "is_cluster_url",
    "parse_cluster_url",
    "replicas_hold",
    "replication_of",
    "set_replication",
    "wait_fence_key",
    "write_script",
    "xread_streams",
]
