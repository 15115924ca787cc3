"""Compiled drives (numba): what numpy computes in dozens of array passes per stop, in one
loop.

Each kernel gives bit for bit the values of the numpy code it stands for: the same IEEE
operations in the same order (no ``fastmath``: no fused multiply-add, no reordered sums).
Trigonometry stays in numpy (:mod:`solver.geo`; numpy's SIMD ``arcsin`` differs from the C
library's in the last bit on this machine's CPUs): a kernel reads legs computed there.
Each is compiled once per machine and cached on disk (:func:`compiled`); a process pays
the import of numba and the load of the cached code on its first call (measured in the
CHANGELOG).
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    BoolArray = npt.NDArray[np.bool_]
    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]


def compiled(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit`` (releasing the GIL), its build cached on disk where numba finds a
    writable place: ``NUMBA_CACHE_DIR``, beside this file (``__pycache__``) or the user's
    cache directory. Where none is (a read-only install under a user without a home,
    as the systemd units run: ``DynamicUser``, ``ProtectSystem=strict``), numba refuses
    ``cache=True`` when the function is defined: then the temporary directory, and
    without it no cache (each process compiles, ~0.7 s a kernel)."""

    def wrap(function: Callable[..., Any]) -> Any:
        try:
            return numba.njit(cache=True, nogil=True, **options)(function)
        except RuntimeError:  # no locator available: nowhere numba may write
            config: Any = numba.config
            if not config.CACHE_DIR:
                config.CACHE_DIR = os.path.join(tempfile.gettempdir(), "numba-cache")
                try:
                    return numba.njit(cache=True, nogil=True, **options)(function)
                except RuntimeError:
                    pass
            return numba.njit(nogil=True, **options)(function)

    return wrap


WARM_UP_SIZE = (1000, 100)
"""Tickets and technicians of :func:`warm_up`'s solve: the smallest seeded region whose
solve reaches every kernel (a test holds it to that)."""


def warm_up() -> None:
    """Load every kernel (compile it where no cache has it yet) by one small solve that
    reaches them all, so that a process's first real solve pays none of it: ~0.25 s of
    CPU with the disk cache, ~0.7 s a kernel without. The solver workers call it when
    they start (``dispatcher.loop.pool``)."""
    from solver.model import SolveParams
    from solver.solve import solve
    from solver.synthetic import random_problem

    solve(random_problem(*WARM_UP_SIZE, seed=0), SolveParams())
    from solver.certify import warm_up_blocked_cells  # beyond the solve's reach

    warm_up_blocked_cells()


SEQUENTIAL_SUM_MAX = 7
"""Longest orders whose waiting the kernels sum stop after stop as numpy's
``sum(axis=2)`` of a (T, P, q) drive does (numpy sums 8 or more terms pairwise)."""


@compiled()
def screen_insertion_drives(
    pattern: IntArray,
    column: IntArray,
    shared: FloatArray,
    back: IntArray,
    from_start: FloatArray,
    from_each: FloatArray,
    whole: IntArray,
    ready: FloatArray,
    shift_end: FloatArray,
    window_start: FloatArray,
    duration: FloatArray,
    response_due: FloatArray,
    due: FloatArray,
    per_second: FloatArray,
    per_breach: FloatArray,
    now_s: float,
    travel_weight: float,
    waiting_weight: float,
    overtime: bool,
    out: FloatArray,
) -> None:
    """``out[t]``: the least over places p (``numpy.min``: NaN when any is) of
    :func:`solver.polish.screen_orders` of row t's ticket ``q`` inserted at place p of
    its q tickets (``whole[t]``: the q, then the new one; ``pattern``: the (q + 1, q + 1)
    orders as columns of ``whole``), at most ``SEQUENTIAL_SUM_MAX`` stops.

    Legs: between two of the q, ``shared[back[t], column[i + 1, j]]`` (the
    :func:`solver.sequence.row_legs` of row t's base, ``column[0, j]`` from the start);
    to or from the new one, ``from_start[t]`` / ``from_each[t, i]``
    (:func:`solver.sequence.legs_to`; a leg and its reverse are equal bit for bit). Row
    t's technician is ready at ``ready[t]``, ends its shift at ``shift_end[t]``; the
    tickets' times are :class:`solver.sequence.Stops` fields and their lateness prices
    :class:`solver.cost.LatePricing`'s, by ticket row. Without ``overtime`` an order that
    ends a stop after the shift costs inf."""
    rows = whole.shape[0]
    places, length = pattern.shape
    q = length - 1
    for t in range(rows):
        u = back[t]
        best = 0.0
        for p in range(places):
            now = ready[t]
            late = 0.0
            travel = 0.0
            wait = 0.0
            overrun = False
            prev = -1
            for s in range(length):
                j = pattern[p, s]
                if j == q:
                    leg = from_start[t] if prev < 0 else from_each[t, prev]
                elif prev == q:
                    leg = from_each[t, j]
                else:
                    leg = shared[u, column[prev + 1, j]]
                k = whole[t, j]
                start = _maximum(now + leg, window_start[k])
                finish = start + duration[k]
                late_s = _maximum(start - response_due[k], 0.0)
                late_s += _maximum(finish - due[k], 0.0)
                breach = per_breach[k] if late_s > 0.0 else 0.0
                late += per_second[k] * late_s + breach
                travel += leg
                overrun |= finish > shift_end[t]
                wait += _maximum(start - now_s, 0.0)
                now = finish
                prev = j
            cost = travel_weight * travel + late + waiting_weight * wait
            if overrun and not overtime:
                cost = np.inf
            if p == 0:
                best = cost
            elif best == best and (cost != cost or cost < best):
                best = cost  # NaN stays
        out[t] = best


@compiled(inline="always")
def _maximum(a: float, b: float) -> float:
    """``numpy.maximum`` of two floats: NaN when either is."""
    if a != a or b != b:
        return np.nan
    return a if a >= b else b


@compiled()
def table_drive(
    base: IntArray,
    pattern: IntArray,
    shared: bool,
    table: FloatArray,
    column: IntArray,
    ready: FloatArray,
    shift_end: FloatArray,
    window_start: FloatArray,
    duration: FloatArray,
    response_due: FloatArray,
    due: FloatArray,
    per_second: FloatArray,
    per_breach: FloatArray,
    overrun_weight: FloatArray,
    per_overrun: float,
    risk_share: float,
    spill_harmless_s: float,
    stops: bool,
    at_risk: bool,
    overrun: FloatArray,
    late: FloatArray,
    travel: FloatArray,
    risk: FloatArray,
    tt_all: FloatArray,
    arr_all: FloatArray,
    st_all: FloatArray,
    fin_all: FloatArray,
) -> None:
    """:func:`solver.sequence.simulate_local`'s drive from each row's legs, into the
    arrays of its returns (zeros, (T, P); the stops (T, P, q), ``tt_all``, ``arr_all``
    and ``fin_all`` written only with ``stops``; ``risk`` only with ``at_risk``): the
    orders ``base[t, pattern[., p]]`` (``pattern`` (1, P, q) shared by the rows when
    ``shared``, else (T, P, q)), leg from origin o (0: the start, 1 + i: ticket i) to
    ticket j ``table[t, column[o, j]]`` (:func:`solver.sequence.row_legs`). Row t's
    technician is ready at ``ready[t]`` and ends its shift at ``shift_end[t]``; ticket
    fields as :class:`solver.sequence.Stops` and :class:`solver.cost.LatePricing`, by
    ticket row, ``overrun_weight`` its priority factor. The operations of
    :func:`solver.sequence._drive`, stop after stop."""
    rows = base.shape[0]
    places, length = pattern.shape[1], pattern.shape[2]
    for t in range(rows):
        orders = pattern[0] if shared else pattern[t]
        for p in range(places):
            now = ready[t]
            work = 0.0
            prev = -1
            for s in range(length):
                j = orders[p, s]
                k = base[t, j]
                leg = table[t, column[prev + 1, j]]
                arrival = now + leg
                start = _maximum(arrival, window_start[k])
                finish = start + duration[k]
                late_s = _maximum(start - response_due[k], 0.0)
                late_s += _maximum(finish - due[k], 0.0)
                breach = per_breach[k] if late_s > 0.0 else 0.0
                late[t, p] += per_second[k] * late_s + breach
                travel[t, p] += leg
                weight = overrun_weight[k]
                if finish > shift_end[t]:
                    overrun[t, p] += weight + per_overrun
                if at_risk:
                    late_start = start + risk_share * work > response_due[k]
                    work = work + duration[k]
                    ends = due[k]
                    if (
                        _minimum(response_due[k], due[k])
                        < shift_end[t] + spill_harmless_s
                    ):
                        ends = _minimum(due[k], shift_end[t])
                    late_finish = finish + risk_share * work > ends
                    if late_start or late_finish:
                        risk[t, p] += weight
                if stops:
                    tt_all[t, p, s] = leg
                    arr_all[t, p, s] = arrival
                    fin_all[t, p, s] = finish
                st_all[t, p, s] = start
                now = finish
                prev = j


@compiled(inline="always")
def _minimum(a: float, b: float) -> float:
    """``numpy.minimum`` of two floats: NaN when either is."""
    if a != a or b != b:
        return np.nan
    return a if a <= b else b


@compiled()
def claim_slots(
    slots: IntArray, taken: BoolArray, keys: IntArray, at: IntArray, fresh: BoolArray
) -> int:
    """Open addressing over ``slots`` (a power of two of them, ``taken`` where one holds
    a key; linear probing): ``at[r]`` the slot of ``keys[r]``, a key in none put in a
    free one (``fresh[r]`` True at the first row of each key put). Returns how many keys
    were put; the caller keeps at least one slot free."""
    mask = slots.size - 1
    put = 0
    for r in range(keys.size):
        key = keys[r]
        h = np.int64(_mixed(key) & np.uint64(mask))
        while taken[h] and slots[h] != key:
            h = (h + 1) & mask
        if not taken[h]:
            taken[h] = True
            slots[h] = key
            fresh[r] = True
            put += 1
        at[r] = h
    return put


@compiled(inline="always")
def _mixed(key: int) -> np.uint64:
    """The bits of ``key`` mixed (MurmurHash3's finaliser): nearby keys to far slots."""
    x = np.uint64(key)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x
