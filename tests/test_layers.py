"""The architecture's layers, checked on the source: who may import what, and who may talk
to Redis in Lua or spell a key.

| layer | may not import | may not contain |
|---|---|---|
| ``solver/`` | grpc, redis, valkey, dispatcher, simulations | |
| ``simulations/`` | grpc, redis, dispatcher | |
| ``dispatcher/`` top level (the core) | grpc, redis, ``dispatcher.pb`` | |
| everything but ``dispatcher/api``, ``dispatcher/cli``, ``dispatcher/demo`` and clients | ``dispatcher.pb`` | |
| everything but ``dispatcher/store`` and ``dispatcher/backend`` | | ``redis.call``, a ``dispatch:`` key |
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PB_USERS = (
    "dispatcher/api/",
    "dispatcher/cli/",
    "dispatcher/demo/",
    "dispatcher/client",
)
REDIS_OWNERS = ("dispatcher/store/", "dispatcher/backend/")
KEY_LITERAL = re.compile(r"""["']dispatch:""")


def _sources(*roots: str) -> list[Path]:
    files = [
        p
        for root in roots
        for p in sorted((ROOT / root).rglob("*.py"))
        if "/pb/" not in p.as_posix()
    ]
    assert files, roots
    return files


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize(
    ("roots", "forbidden"),
    [
        (("solver",), ("grpc", "redis", "valkey", "dispatcher", "simulations")),
        (("simulations",), ("grpc", "redis", "dispatcher")),
    ],
)
def test_pure_packages_import_no_service(
    roots: tuple[str, ...], forbidden: tuple[str, ...]
) -> None:
    bad = [
        f"{_rel(p)}: {name}"
        for p in _sources(*roots)
        for name in _imports(p)
        if name.split(".")[0] in forbidden
    ]
    assert bad == []


def test_the_core_imports_no_transport() -> None:
    """dispatcher's top-level modules (domain, rules, handlers) know neither gRPC nor Redis."""
    core = sorted((ROOT / "dispatcher").glob("*.py"))
    bad = [
        f"{_rel(p)}: {name}"
        for p in core
        for name in _imports(p)
        if name.split(".")[0] in ("grpc", "redis") or name.startswith("dispatcher.pb")
    ]
    assert bad == []


def test_only_the_edges_import_the_protobuf_stubs() -> None:
    bad = [
        f"{_rel(p)}: {name}"
        for p in _sources("dispatcher", "simulations", "solver", "benchmarks")
        if not _rel(p).startswith(PB_USERS) and not _rel(p).startswith("benchmarks/")
        for name in _imports(p)
        if name.startswith("dispatcher.pb")
    ]
    assert bad == []


def test_only_the_store_speaks_lua_and_spells_keys() -> None:
    bad = []
    for p in _sources("dispatcher", "simulations", "solver"):
        if _rel(p).startswith(REDIS_OWNERS):
            continue
        text = p.read_text()
        if "redis.call" in text:
            bad.append(f"{_rel(p)}: redis.call")
        if KEY_LITERAL.search(text):
            bad.append(f"{_rel(p)}: a 'dispatch:' key literal")
    assert bad == []
