"""The compiled kernels (solver.compiled): where numba finds nowhere to cache them, and
the warm-up that loads them all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numba
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    not hasattr(numba.config, "CACHE_LOCATOR_CLASSES"),
    reason="this numba has no NUMBA_CACHE_LOCATOR_CLASSES to take its locations away",
)
def test_kernels_cache_in_the_temporary_directory_where_nothing_else_is_writable(
    tmp_path: Path,
) -> None:
    """With neither ``NUMBA_CACHE_DIR`` nor a writable place beside the source or in a
    home (only numba's user-provided locator left, as under the systemd units'
    ``ProtectSystem=strict`` and ``DynamicUser``), ``import solver`` still works: the
    kernels cache in the temporary directory, and compute."""
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env.update(
        NUMBA_CACHE_LOCATOR_CLASSES="numba.core.caching.UserProvidedCacheLocator",
        TMPDIR=str(tmp_path),
        PYTHONPATH=str(ROOT),
    )
    code = (
        "import numba, numpy as np\n"
        "from solver.compiled import claim_slots\n"
        "slots = np.zeros(8, np.int64); taken = np.zeros(8, np.bool_)\n"
        "keys = np.array([5, 9, 5], np.int64); at = np.empty(3, np.int64)\n"
        "fresh = np.zeros(3, np.bool_)\n"
        "assert claim_slots(slots, taken, keys, at, fresh) == 2\n"
        "assert at[0] == at[2] and fresh.tolist() == [True, True, False]\n"
        "print(numba.config.CACHE_DIR)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == tmp_path / "numba-cache"
    assert any((tmp_path / "numba-cache").rglob("*.nbi"))  # the build was cached there


def test_warm_up_reaches_every_kernel() -> None:
    """After ``solver.compiled.warm_up`` in a fresh process every kernel of every solver
    module has a compiled signature (inlined helpers aside): a worker's first real solve
    then loads none. Fails when a new kernel is out of the warm-up's reach."""
    code = (
        "import importlib, pkgutil\n"
        "from numba.core.registry import CPUDispatcher\n"
        "import solver, solver.compiled\n"
        "solver.compiled.warm_up()\n"
        "kernels = {}\n"
        "for info in pkgutil.iter_modules(solver.__path__, 'solver.'):\n"
        "    module = importlib.import_module(info.name)\n"
        "    for name, value in vars(module).items():\n"
        "        if isinstance(value, CPUDispatcher) and "
        "value.targetoptions.get('inline') != 'always':\n"
        "            kernels[value.py_func.__qualname__] = len(value.signatures)\n"
        "assert kernels, 'no kernel found'\n"
        "print(sorted(name for name, n in kernels.items() if n == 0))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
