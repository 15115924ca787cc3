"""Generate ``dispatcher/pb`` from ``proto/`` (``./dev proto``); ``--check`` fails when stale.

Runs ``grpc_tools.protoc`` with ``-I proto`` so that the generated modules import each
other as ``dispatcher.pb.*``; ``google/api/*.proto`` (the HTTP rules) come from the
installed googleapis-common-protos, whose ``google.api.annotations_pb2`` the generated
code imports. Outputs: ``*_pb2.py`` + ``*_pb2.pyi`` (protoc's own stubs)
and ``*_pb2_grpc.py`` + ``*_pb2_grpc.pyi`` (typed gRPC stubs from mypy-protobuf's
``protoc-gen-mypy_grpc`` plugin, shipped with the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from importlib import resources, util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
PB_DIR = ROOT / "dispatcher" / "pb"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


class CodegenError(RuntimeError):
    """protoc failed or a plugin is missing."""


def proto_files() -> list[Path]:
    """Every ``.proto`` file under ``proto/dispatcher/pb``, sorted."""
    return sorted((PROTO_DIR / "dispatcher" / "pb").glob("*.proto"))


def _mypy_grpc_plugin() -> str:
    name = "protoc-gen-mypy_grpc"
    candidates = [
        Path(sys.executable).parent / name,
        Path(sysconfig.get_path("scripts")) / name,
    ]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise CodegenError(f"{name} not found; install the dev extra (mypy-protobuf)")
    return found


def _googleapis_include() -> Path:
    """The directory holding ``google/api/annotations.proto`` (googleapis-common-protos)."""
    spec = util.find_spec("google.api.annotations_pb2")
    if spec is None or spec.origin is None:
        raise CodegenError("googleapis-common-protos is not installed")
    root = Path(spec.origin).parents[2]
    if not (root / "google" / "api" / "annotations.proto").exists():
        raise CodegenError(f"google/api/annotations.proto not found under {root}")
    return root


def generate(out_root: Path) -> list[Path]:
    """Generate into ``out_root/dispatcher/pb``; return the generated files (sorted)."""
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / "dispatcher" / "pb").mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"
    files = [str(p.relative_to(PROTO_DIR)) for p in proto_files()]
    if not files:
        raise CodegenError(f"no .proto files under {PROTO_DIR}")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"-I{_googleapis_include()}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--plugin=protoc-gen-mypy_grpc={_mypy_grpc_plugin()}",
        f"--mypy_grpc_out={out_root}",
        *files,
    ]
    # protoc runs in a child process: loading grpc_tools' protobuf C++ runtime into a process
    # that already loaded ortools' one aborts it ("corrupted size vs. prev_size"), which
    # killed the whole pytest run when the stale-code test ran after a solver test.
    rc = subprocess.run([sys.executable, "-m", *args], check=False).returncode
    if rc != 0:
        raise CodegenError(f"protoc failed with exit code {rc}")
    return sorted(
        p
        for p in (out_root / "dispatcher" / "pb").iterdir()
        if p.name.endswith(GENERATED_SUFFIXES)
    )


def _committed_files() -> list[Path]:
    return sorted(p for p in PB_DIR.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def stale_files() -> list[str]:
    """Names of generated files that differ from a fresh generation (empty = up to date)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        fresh_names = {p.name: p for p in fresh}
        committed_names = {p.name: p for p in _committed_files()}
        problems = [name for name in sorted(fresh_names) if name not in committed_names]
        problems += [
            name for name in sorted(committed_names) if name not in fresh_names
        ]
        for name in sorted(fresh_names.keys() & committed_names.keys()):
            if not filecmp.cmp(fresh_names[name], committed_names[name], shallow=False):
                problems.append(name)
        return problems


def _openapi(*args: str) -> int:
    """Write (or ``--check``) the gateway's OpenAPI document from the fresh stubs; a child
    process, so it imports the stubs just written."""
    return subprocess.run(
        [sys.executable, "-m", "dispatcher.api.openapi", *args], check=False, cwd=ROOT
    ).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dispatcher.cli.codegen", description=__doc__
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when dispatcher/pb is stale; write nothing",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_files()
            if stale:
                print(
                    f"dispatcher/pb is stale ({', '.join(stale)}); run ./dev proto",
                    file=sys.stderr,
                )
                return 1
            print("dispatcher/pb is up to date")
            return _openapi("--check")
        with tempfile.TemporaryDirectory() as tmp:
            fresh = generate(Path(tmp))
            for old in _committed_files():
                old.unlink()
            for path in fresh:
                shutil.copyfile(path, PB_DIR / path.name)
        print(f"generated {len(fresh)} files into {PB_DIR.relative_to(ROOT)}")
        return _openapi()
    except CodegenError as exc:
        print(f"codegen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
