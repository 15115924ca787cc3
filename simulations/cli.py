"""Placeholder for `dispatcher sim`; replaced by its owner."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sim", help="(not built yet)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print("dispatcher sim: not built yet")
    return 1
