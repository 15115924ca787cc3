"""The store, event, lease and service test suites pass unchanged on a real Redis Cluster.

Each suite runs in a subprocess with ``REDIS_URL=redis+cluster://...`` (the seed nodes of the
session cluster), so every test that uses the ``redis_client`` / ``app_context`` /
``grpc_channel`` fixtures talks to the cluster through ``RedisCluster``. A multi-key
operation whose keys span slots fails there (the client refuses it before the server
answers CROSSSLOT), so a green run shows every multi-key operation those suites exercise
is single-slot.

Slow (about a minute per suite): run with ``./dev test -m cluster tests/cluster``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dispatcher.backend.embedded_cluster import EmbeddedCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SUITES = ("tests/service", "tests/dispatch", "tests/foundation", "tests/webhooks")
"""Suites of the store, events, auth, servicers (LIVE-STATE), of leases, SLA, policy and the
solve loop end to end (SOLVE-LOOP), of the server, health and serve process (FOUNDATION), and
of webhook delivery (consumer groups, leases, dead letters, replay)."""
NOT_ON_CLUSTER = (
    "tests/service/test_codegen.py",  # no Redis at all
    "tests/foundation/test_embedded_redis.py",  # the embedded single server itself
    "tests/foundation/test_serve_process.py",  # `serve` without a URL: expects the embedded server
    # the single server's pool keeping its closed state (backend.pool); the cluster
    # client's closed state has its own test (test_cluster_close.py)
    "tests/foundation/test_redis_close.py",
    # cuts one solver off with ACL SETUSER / CLIENT KILL on one server; a cluster would
    # need it on every node (test_multiprocess.py kills solver processes on a cluster)
    "tests/dispatch/test_takeover.py",
)
"""Tests about the embedded single server or needing no Redis, and fault injections made for
one server: nothing to learn on a cluster."""


@pytest.mark.parametrize("suite", SUITES)
def test_suite_passes_on_the_cluster(
    suite: str, healthy_cluster: EmbeddedCluster
) -> None:
    """Every test of ``suite`` passes with the cluster as its Redis."""
    if not (ROOT / suite).is_dir():
        pytest.skip(f"{suite} does not exist yet")
    env = dict(os.environ, REDIS_URL=healthy_cluster.url)
    env.pop("DISPATCH_REDIS_URL", None)
    ignores = [f"--ignore={path}" for path in NOT_ON_CLUSTER]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m",
         "not slow and not benchmark and not cluster", *ignores, suite],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=840, check=False,
    )  # fmt: skip
    if result.returncode == 5:
        pytest.skip(f"{suite}: no test collected")
    tail = "\n".join(result.stdout.splitlines()[-40:])
    assert result.returncode == 0, (
        f"{suite} on the cluster:\n{tail}\n{result.stderr[-2000:]}"
    )
