"""Command line: ``dispatcher serve | demo | policy | sim | health | proto ...``.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds
its parser and sets ``func`` (called with the parsed namespace, returns an exit code).
``register`` must stay cheap: heavy imports belong inside ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

SUBCOMMAND_MODULES = (
    "dispatcher.cli.serve",
    "dispatcher.demo.command",
    "dispatcher.cli.policy",
    "simulations.cli",
    "dispatcher.cli.health",
    "dispatcher.cli.proto",
)
DISTRIBUTION = "dispatch-optimizer"
SIM_EXTRA_MODULES = frozenset({"polars", "rich", "matplotlib", "optuna"})
"""Top-level modules of the ``[sim]`` extra (the simulator and the demo need them)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dispatcher",
        description="Dispatch optimizer: assigns tickets to technicians with OR-Tools.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version(DISTRIBUTION)}"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in SIM_EXTRA_MODULES:
            raise
        print(
            f"dispatcher {args.command}: error: needs {exc.name!r}, part of the sim extra: "
            f"pip install '{DISTRIBUTION}[sim]'",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
