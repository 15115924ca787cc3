"""Fixtures of the packaging tests: the built wheel and sdist, and fresh venvs outside the repo.

Slow (pip installs a few hundred MB from the registry, cached by pip): marked ``packaging``,
deselected by default, run by ``.ci/run`` as its own step (``./dev test -m packaging``).
"""

from __future__ import annotations

import sys

import pytest

from tests.shipping.venvs import ROOT, Dists, Venv, make_venv, run


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """``python -m build`` of the repository: an sdist, then a wheel built from that sdist."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=out)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dists(wheel, sdist)


@pytest.fixture(scope="session")
def service_venv(tmp_path_factory: pytest.TempPathFactory, dists: Dists) -> Venv:
    """The wheel installed without extras: the service."""
    return make_venv(tmp_path_factory.mktemp("venv-service") / "venv", dists.wheel)
