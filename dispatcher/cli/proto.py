"""``dispatcher proto [--path]``: the gRPC contract (``dispatch.proto``) this package serves.

An installed wheel carries the file next to the generated stubs (``dispatcher/pb/``, copied
there by the build from ``proto/``); a source checkout reads ``proto/`` itself.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

PROTO_NAME = "dispatch.proto"
SOURCE_PROTO = Path(__file__).resolve().parents[2] / "proto" / "dispatcher" / "pb"


def contract_path() -> Path:
    """Path of ``dispatch.proto``: the packaged copy, else the source checkout's ``proto/``.

    Raises
    ------
    FileNotFoundError
        Neither exists (a broken install).
    """
    packaged = Path(str(resources.files("dispatcher.pb") / PROTO_NAME))
    for candidate in (packaged, SOURCE_PROTO / PROTO_NAME):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{PROTO_NAME} is neither in {packaged.parent} nor in {SOURCE_PROTO}"
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "proto",
        help="print the gRPC contract (dispatch.proto) or its path",
        description=(
            "Print dispatch.proto, the contract of the dispatch.v1 services, as shipped "
            "with this installation (generate clients in any language from it)."
        ),
    )
    parser.add_argument(
        "--path", action="store_true", help="print the file's path instead of its text"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        path = contract_path()
    except FileNotFoundError as exc:
        print(f"dispatcher proto: error: {exc}", file=sys.stderr)
        return 1
    if args.path:
        print(path)
    else:
        sys.stdout.write(path.read_text(encoding="utf-8"))
    return 0
