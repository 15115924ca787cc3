"""solver/ stays pure: no grpc, redis or dispatcher imports anywhere in it."""

from __future__ import annotations

import ast
from pathlib import Path

import solver

FORBIDDEN = ("grpc", "redis", "dispatcher", "valkey", "simulations")


def test_solver_imports_no_io_frameworks() -> None:
    """Walk every module of the solver package with ast and reject forbidden imports."""
    root = Path(solver.__file__).resolve().parent
    bad = []
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert bad == []
