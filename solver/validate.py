"""Input validation: shapes, dtypes, NaN and ranges, with a short message naming the field."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.model import CostWeights, Problem, Technicians, Tickets

    IntArray = npt.NDArray[np.int64]


MAX_WEIGHT = 1e6
"""Largest weight accepted: at this weight a term of ``MAX_COST / COST_SCALE / MAX_WEIGHT``
= 100 feature units (e.g. seconds) already reaches ``MAX_COST``, so larger weights would
mostly produce clipped costs. Costs clipped anyway give the OVERFLOW status."""


def _arr(
    name: str, value: object, kind: str, shape: tuple[int | None, ...]
) -> npt.NDArray[np.generic]:
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(value).__name__}")
    if value.dtype.kind not in kind:
        raise ValueError(f"{name}: dtype {value.dtype} not allowed (kinds {kind!r})")
    if value.ndim != len(shape) or any(
        want is not None and got != want
        for got, want in zip(value.shape, shape, strict=True)
    ):
        raise ValueError(f"{name}: shape {value.shape}, expected {shape}")
    return value


def _no_nan(name: str, a: npt.NDArray[np.generic]) -> None:
    if a.dtype.kind == "f" and np.isnan(a).any():
        raise ValueError(f"{name}: contains NaN")


def _finite(name: str, a: npt.NDArray[np.generic]) -> None:
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{name}: must be finite (no NaN or inf)")


def _location(prefix: str, lat: object, lon: object, n: int | None) -> int:
    """Coordinates in range; NaN in both = no location (``solver.geo``). Returns the count."""
    la = _arr(f"{prefix}.lat_deg", lat, "fiu", (n,))
    lo = _arr(f"{prefix}.lon_deg", lon, "fiu", (la.shape[0],))
    none_lat, none_lon = np.isnan(la), np.isnan(lo)
    for name, a, b in (
        ("lat_deg", none_lat, none_lon),
        ("lon_deg", none_lon, none_lat),
    ):
        if np.any(a & ~b):
            raise ValueError(
                f"{prefix}.{name}: must be finite (NaN in both lat_deg and lon_deg = no"
                " location)"
            )
    _finite(f"{prefix}.lat_deg", la[~none_lat])
    _finite(f"{prefix}.lon_deg", lo[~none_lon])
    _range(f"{prefix}.lat_deg", la[~none_lat], -90.0, 90.0)
    _range(f"{prefix}.lon_deg", lo[~none_lon], -180.0, 180.0)
    return int(la.shape[0])


def _range(name: str, a: npt.NDArray[np.generic], lo: float, hi: float) -> None:
    if a.size and (np.min(a) < lo or np.max(a) > hi):
        raise ValueError(f"{name}: values must lie in [{lo}, {hi}]")


def validate_tickets(
    t: Tickets, n_technicians: int, n_skills: int | None = None
) -> None:
    """Check a :class:`~solver.model.Tickets` block; raise ``ValueError`` naming the field."""
    n = _location("tickets", t.lat_deg, t.lon_deg, None)
    real, ints = "fiu", "iu"
    for name in ("duration_s", "created_s"):
        _finite(
            f"tickets.{name}", _arr(f"tickets.{name}", getattr(t, name), real, (n,))
        )
    _range("tickets.duration_s", t.duration_s, 0.0, math.inf)
    for name in ("response_due_s", "resolution_due_s", "window_end_s"):
        _no_nan(
            f"tickets.{name}", _arr(f"tickets.{name}", getattr(t, name), real, (n,))
        )
    ws = _arr("tickets.window_start_s", t.window_start_s, real, (n,))
    _no_nan("tickets.window_start_s", ws)
    if ws.size and np.max(ws) == math.inf:
        raise ValueError(
            "tickets.window_start_s: +inf is not a start (use -inf for none)"
        )
    we = _arr("tickets.window_end_s", t.window_end_s, real, (n,))
    if np.any(np.asarray(ws, np.float64) > np.asarray(we, np.float64)):
        raise ValueError("tickets.window_start_s: after tickets.window_end_s")
    _range("tickets.priority", _arr("tickets.priority", t.priority, ints, (n,)), 1, 4)
    _range("tickets.tier", _arr("tickets.tier", t.tier, ints, (n,)), 0, 1000)
    sk = _arr("tickets.skill_levels", t.skill_levels, ints, (n, n_skills))
    _range("tickets.skill_levels", sk, 0, 10**6)
    cur = _arr("tickets.current_technician", t.current_technician, ints, (n,))
    _range("tickets.current_technician", cur, -1, n_technicians - 1)
    pinned = _arr("tickets.pinned", t.pinned, "b", (n,))
    if np.any(np.asarray(pinned, np.bool_) & (np.asarray(cur, np.int64) < 0)):
        raise ValueError("tickets.pinned: a pinned ticket needs a current_technician")
    for name in ("excluded", "preferred"):
        pairs = _arr(f"tickets.{name}", getattr(t, name), ints, (None, 2))
        _range(f"tickets.{name}[:, 0]", pairs[:, 0], 0, n - 1)
        _range(f"tickets.{name}[:, 1]", pairs[:, 1], 0, n_technicians - 1)


def validate_technicians(t: Technicians, n_skills: int | None = None) -> None:
    """Check a :class:`~solver.model.Technicians` block; raise ``ValueError`` naming the field."""
    m = _location("technicians", t.lat_deg, t.lon_deg, None)
    for name in ("free_at_s", "speed_kmh"):
        _finite(
            f"technicians.{name}",
            _arr(f"technicians.{name}", getattr(t, name), "fiu", (m,)),
        )
    if m and float(np.min(t.speed_kmh)) <= 0:
        raise ValueError("technicians.speed_kmh: must be > 0")
    _no_nan(
        "technicians.shift_end_s",
        _arr("technicians.shift_end_s", t.shift_end_s, "fiu", (m,)),
    )
    _range(
        "technicians.capacity",
        _arr("technicians.capacity", t.capacity, "iu", (m,)),
        0,
        10**6,
    )
    sk = _arr("technicians.skill_levels", t.skill_levels, "iu", (m, n_skills))
    _range("technicians.skill_levels", sk, 0, 10**6)
    _arr("technicians.available", t.available, "b", (m,))


def validate_problem(p: Problem) -> None:
    """Check a whole :class:`~solver.model.Problem` (both blocks and their cross-references).

    Raises
    ------
    ValueError
        With a short message naming the offending field.
    """
    if not math.isfinite(p.now_s):
        raise ValueError("now_s: must be finite")
    replan = p.replan_after_s
    if replan is not None and not (
        isinstance(replan, (int, float)) and math.isfinite(replan) and replan >= 0
    ):
        raise ValueError(
            f"replan_after_s: must be None or finite and >= 0, got {replan!r}"
        )
    validate_technicians(p.technicians)
    n_skills = int(p.technicians.skill_levels.shape[1])
    validate_tickets(p.tickets, p.technicians.count, n_skills)


def validate_weights(w: CostWeights) -> None:
    """Every weight must be finite and >= 0 (the preference weight is a bonus, subtracted)."""
    for name in (
        "travel", "lateness", "breach", "waiting", "skill_surplus", "balance",
        "preference", "tier", "stability", "move_min_gain", "unassigned", "overdue",
    ):  # fmt: skip
        v = getattr(w, name)
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"weights.{name}: must be a finite number >= 0, got {v!r}")
        if v > MAX_WEIGHT:
            raise ValueError(
                f"weights.{name}: {v!r} > {MAX_WEIGHT:g} would overflow the scaled costs"
            )


def validate_count(name: str, value: object, minimum: int) -> int:
    """An integer knob (not a bool, not a float) ``>= minimum``; ``ValueError`` naming it."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)


def validate_params(
    candidates_k: object, time_limit_s: object, position_rounds: object
) -> None:
    """Check the solver knobs of :class:`~solver.model.SolveParams` (``ValueError``)."""
    validate_count("candidates_k", candidates_k, 1)
    validate_count("position_rounds", position_rounds, 0)
    validate_time_limit(time_limit_s)


def validate_time_limit(time_limit_s: object) -> None:
    """A time limit in seconds: a number > 0 (not a bool); ``ValueError`` naming it."""
    if (
        not isinstance(time_limit_s, (int, float))
        or isinstance(time_limit_s, bool)
        or not time_limit_s > 0
    ):
        raise ValueError(f"time_limit_s: must be a number > 0, got {time_limit_s!r}")


def validate_incremental(max_new: object, cold_every: object) -> None:
    """Check the knobs of :class:`~solver.incremental.IncrementalSolver` (``ValueError``).

    ``max_new`` >= 0 (0: every appended ticket triggers a cold solve), ``cold_every`` >= 1.
    A negative ``max_new`` would silently turn every call into a cold solve.
    """
    validate_count("max_new", max_new, 0)
    validate_count("cold_every", cold_every, 1)


GAP_MAX_TOTAL = 2**62
"""Largest ``n x max|value|`` accepted for a GAP's costs and weights: CP-SAT adds them up in
int64, so one agent's sum beyond this could overflow. CP-SAT's own validator has the last
word (its objective check sums over all ``m x n`` pairs): ``solver.gap.solve_gap`` raises
``ValueError`` with its reason when it calls the model invalid."""


def validate_gap(
    cost: npt.NDArray[np.generic],
    weight: npt.NDArray[np.generic],
    capacity: npt.NDArray[np.generic],
) -> None:
    """Check a generalized assignment instance (``solver.gap.GapInstance``).

    Raises
    ------
    ValueError
        Naming the field: shapes ``(m, n)``, ``(m, n)``, ``(m,)``; integer dtypes;
        ``capacity`` and ``weight`` >= 0; ``cost`` and ``weight`` small enough that a
        sum over the jobs stays below ``GAP_MAX_TOTAL``.
    """
    for name, a in (("cost", cost), ("weight", weight), ("capacity", capacity)):
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{name}: expected a numpy array, got {type(a).__name__}")
        if a.dtype.kind not in "iu":
            raise ValueError(f"{name}: integer array required, got {a.dtype}")
    if cost.ndim != 2 or weight.shape != cost.shape or capacity.shape != cost.shape[:1]:
        raise ValueError(
            f"cost / weight / capacity: shapes {cost.shape}, {weight.shape}, "
            f"{capacity.shape}; expected (m, n), (m, n), (m,)"
        )
    n = cost.shape[1]
    for name, a in (("capacity", capacity), ("weight", weight)):
        if a.size and int(a.min()) < 0:
            where = np.unravel_index(int(np.argmin(a)), a.shape)
            raise ValueError(
                f"{name}: must be >= 0, got {int(a.min())} at index {tuple(map(int, where))}"
            )
    for name, a in (("cost", cost), ("weight", weight)):
        if a.size and max(abs(int(a.min())), abs(int(a.max()))) * n >= GAP_MAX_TOTAL:
            raise ValueError(
                f"{name}: values too large (n x max|{name}| must stay below 2**62)"
            )


def _lap_index(name: str, a: npt.NDArray[np.generic], limit: str, n: int) -> IntArray:
    """Arc indices of one side: integers in ``[0, n)``, returned as int64."""
    if a.size == 0:
        return np.zeros(0, np.int64)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name}: integer indices required, got {a.dtype}")
    if int(a.min()) < 0:
        raise ValueError(f"{name}: negative index {int(a.min())}")
    if int(a.max()) >= n:
        raise ValueError(f"{name}: index {int(a.max())} out of range [0, {limit}={n})")
    return a.astype(np.int64)


def _lap_costs(w: npt.NDArray[np.generic]) -> IntArray:
    """Arc costs: integers, or finite whole-number floats; returned as int64."""
    if w.size and w.dtype.kind not in "iuf":
        raise ValueError(f"costs: numbers required, got {w.dtype}")
    if w.dtype.kind == "f":
        _finite("costs", w)
        f = w.astype(np.float64)
        if np.any(np.abs(f) >= 2.0**62) or np.any(f != np.round(f)):
            raise ValueError(
                "costs: must be whole numbers below 2**62 (scale them to integers first)"
            )
    if w.dtype.kind == "u" and w.size and int(w.max()) >= 2**63:
        raise ValueError("costs: values too large for int64")
    return w.astype(np.int64)


def validate_lap_arcs(
    rows: object, cols: object, costs: object, n_rows: object, n_cols: object
) -> tuple[IntArray, IntArray, IntArray]:
    """Check a sparse linear assignment (``solver.lap.solve_lap_sparse``); return int64 arcs.

    Raises
    ------
    ValueError
        Naming the field: ``n_rows`` / ``n_cols`` not integers >= 0; ``rows`` / ``cols`` /
        ``costs`` not 1-d or of different lengths; indices not integers, negative or out of
        range; ``costs`` not finite or not whole numbers; the same (row, col) arc twice.
    """
    n_r = validate_count("n_rows", n_rows, 0)
    n_c = validate_count("n_cols", n_cols, 0)
    arrays = {
        "rows": np.asarray(rows),
        "cols": np.asarray(cols),
        "costs": np.asarray(costs),
    }
    for name, a in arrays.items():
        if a.ndim != 1:
            raise ValueError(f"{name}: expected a 1-d array, got shape {a.shape}")
        if a.size != arrays["rows"].size:
            raise ValueError(
                f"{name}: length {a.size} differs from rows' length {arrays['rows'].size}"
            )
    r = _lap_index("rows", arrays["rows"], "n_rows", n_r)
    c = _lap_index("cols", arrays["cols"], "n_cols", n_c)
    w = _lap_costs(arrays["costs"])
    _no_duplicate_arc(r, c, n_c)
    return r, c, w


def _no_duplicate_arc(r: IntArray, c: IntArray, n_cols: int) -> None:
    """No (row, col) pair twice: sort one int64 key per arc (a lexsort if it would overflow)."""
    if r.size < 2:
        return
    if (int(r.max()) + 1) * n_cols < 2**63:
        keys = np.sort(r * n_cols + c)
        dup = np.flatnonzero(keys[1:] == keys[:-1])
        pairs = [divmod(int(keys[i]), n_cols) for i in dup[:1]]
    else:
        order = np.lexsort((c, r))
        dup = np.flatnonzero((np.diff(r[order]) == 0) & (np.diff(c[order]) == 0))
        pairs = [(int(r[order[i]]), int(c[order[i]])) for i in dup[:1]]
    if pairs:
        raise ValueError(f"rows, cols: duplicate arc {pairs[0]}")
