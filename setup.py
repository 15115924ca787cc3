"""Build hook: ship the contract (``proto/dispatcher/pb/*.proto``) inside the package.

``proto/`` stays the one source of the contract (``-I proto`` gives the import path
``dispatcher/pb/dispatch.proto``); the wheel gets a copy next to the generated stubs, where
``dispatcher proto --path`` finds it. The sdist carries ``proto/`` itself (MANIFEST.in), so a
wheel built from it gets the copy too and ``python -m dispatcher.cli.codegen`` can regenerate
the stubs there. Everything else is declared in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROTO_SOURCE = Path(__file__).parent / "proto" / "dispatcher" / "pb"


class BuildPyWithContract(build_py):
    """``build_py`` that also copies the .proto files into ``dispatcher/pb``."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "dispatcher" / "pb"
        target.mkdir(parents=True, exist_ok=True)
        for proto in sorted(PROTO_SOURCE.glob("*.proto")):
            self.copy_file(str(proto), str(target / proto.name))


setup(cmdclass={"build_py": BuildPyWithContract})
