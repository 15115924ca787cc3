"""The pricing's compiled screens (solver.certify._near_pairs, _cells_passing,
_blocked_cells_passing, PairBound.passes) give bit for bit what their numpy form gave (the references below: the
code they replaced), on random tables of ticket and technician blocks, located or not,
every pair's and cell's order included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.certify import (
    CHORD_ROUNDING,
    TECH_BLOCK,
    TICKET_BLOCK,
    PairBound,
    _blocked_cells,
    _BlockedTechs,
    _distances,
    _lower_bound,
    _passes,
    _TechBlocks,
    _ticket_block_tables,
    _ticket_cells,
    _TicketTerms,
)


def _numpy_near(
    techs: _BlockedTechs,
    tt: _TicketTerms,
    moved_t: np.ndarray,
    r: np.ndarray,
    cut_t: np.ndarray,
    ii: np.ndarray,
    blk: np.ndarray,
    everywhere: bool,
) -> tuple[np.ndarray, ...]:
    t = r[ii]
    dot = tt.xyz[0][t][:, None] * techs.xyz[0][blk]
    dot += tt.xyz[1][t][:, None] * techs.xyz[1][blk]
    dot += tt.xyz[2][t][:, None] * techs.xyz[2][blk]
    dot *= -2.0
    dot += 2.0
    chord = np.sqrt(np.maximum(dot, 0.0, out=dot), out=dot)
    chord -= CHORD_ROUNDING
    np.maximum(chord, 0.0, out=chord)
    if not everywhere:
        chord *= tt.located[t][:, None] & techs.located[blk]
    bound = chord * techs.slope[blk]
    bound += techs.dt[blk]
    passes = bound < cut_t[ii][:, None]
    passes &= moved_t[t][:, None] > techs.moved[blk]
    cell, col = np.nonzero(passes)
    return t[cell], techs.tech[blk[cell], col], chord[cell, col], ii[cell]


def _unit(rng: np.random.Generator, count: int, spread: float) -> np.ndarray:
    """Unit vectors near one point (``spread`` radians), some exactly equal."""
    lat = 0.7 + rng.normal(0, spread, count)
    lon = -1.2 + rng.normal(0, spread, count)
    lat[rng.random(count) < 0.1] = 0.7
    lon[lat == 0.7] = -1.2
    return np.stack(
        [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1
    )


def _random_ticket_terms(
    rng: np.random.Generator,
    n: int,
    spread: float,
    *,
    located_share: float,
    potentials: bool,
) -> _TicketTerms:
    """n tickets' pricing terms: about ``located_share`` of them located (``spread``:
    how far apart, :func:`_unit`), a fifth without a response due, half with a moved
    potential; their own potentials random with ``potentials``, else zero. Draws from
    ``rng`` in that order, the potentials last."""
    t_vec = _unit(rng, n, spread)
    located = rng.random(n) < located_share
    t_vec[~located] = 0.0
    due = rng.uniform(-3600, 7200, n)
    return _TicketTerms(
        rng.uniform(0, 2e6, n),  # cut
        rng.uniform(0, 2e6, n),  # pen
        rng.uniform(0, 100, n),  # late_w
        np.where(rng.random(n) < 0.2, np.inf, due),  # resp
        due - rng.uniform(0, 3600, n),  # done_by
        t_vec,
        tuple(t_vec.T.copy()),
        located,
        np.where(rng.random(n) < 0.5, np.inf, rng.normal(0, 100, n)),  # moved
        rng.normal(0, 1e5, n) if potentials else np.zeros(n),  # potential
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    m=st.integers(1, 100),
    spread=st.sampled_from([1e-7, 1e-4, 1e-2, 0.3]),
    everywhere=st.booleans(),
)
def test_compiled_screen_is_the_numpy_screen_bit_for_bit(
    seed: int, n: int, m: int, spread: float, everywhere: bool
) -> None:
    rng = np.random.default_rng(seed)
    t_vec = _unit(rng, n, spread)
    t_located = everywhere | (rng.random(n) < 0.8)
    t_vec[~t_located] = 0.0
    k_vec = _unit(rng, m, spread)
    k_located = everywhere | (rng.random(m) < 0.8)
    k_vec[~k_located] = 0.0
    elig = rng.permutation(m).astype(np.int64)
    slope = rng.uniform(1e6, 1e8, m)
    dt = rng.uniform(-1e4, 1e5, m)
    moved_k = np.where(rng.random(m) < 0.2, -np.inf, rng.normal(0, 100, m))
    techs = _BlockedTechs.of(elig, tuple(k_vec.T.copy()), slope, dt, moved_k, k_located)
    zeros = np.zeros(n)
    tt = _TicketTerms(
        zeros, zeros, zeros, zeros, zeros, t_vec, tuple(t_vec.T.copy()),
        t_located, zeros, zeros,
    )  # fmt: skip
    moved_t = np.where(rng.random(n) < 0.5, np.inf, rng.normal(0, 100, n))
    r = rng.permutation(n).astype(np.int64)[: max(1, n // 2)]
    nb = techs.tech.shape[0]
    cells = int(rng.integers(0, 4 * r.size * nb + 1))
    ii = np.sort(rng.integers(0, r.size, cells)).astype(np.int64)
    blk = rng.integers(0, nb, cells).astype(np.int64)
    cut_t = rng.uniform(0, 2e6, r.size)
    got = techs.near(tt, moved_t, r, cut_t, ii, blk, everywhere)
    want = _numpy_near(techs, tt, moved_t, r, cut_t, ii, blk, everywhere)
    assert techs.tech.shape[1] == TECH_BLOCK
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
        assert a.tobytes() == b.tobytes()


def _numpy_cells(
    tt: _TicketTerms, b: _TechBlocks, r: np.ndarray, bsel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    gap = _distances(tt.xyz, r, b.centre[:, bsel])
    gap = np.maximum(gap - b.radius[bsel][None, :], 0.0) * tt.located[r, None]
    lb = _lower_bound(b, bsel[None, :], gap, tt, r[:, None])
    ii, bb = np.nonzero(_passes(b, bsel[None, :], lb, tt, r[:, None]))
    return ii, bb


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    blocks=st.integers(1, 60),
    spread=st.sampled_from([1e-7, 1e-4, 1e-2, 0.3]),
)
def test_compiled_cells_are_the_numpy_cells_bit_for_bit(
    seed: int, n: int, blocks: int, spread: float
) -> None:
    rng = np.random.default_rng(seed)
    tt = _random_ticket_terms(rng, n, spread, located_share=0.8, potentials=False)
    centre = _unit(rng, blocks, spread).T.copy()
    b = _TechBlocks(
        centre,
        np.where(rng.random(blocks) < 0.1, np.inf, rng.uniform(0, 1e-3, blocks)),
        rng.uniform(1e6, 1e8, blocks),  # slope
        rng.uniform(-1e4, 1e5, blocks),  # base
        rng.uniform(-1e4, 1e6, blocks),  # dt
        rng.uniform(-3600, 3600, blocks),  # ready
        rng.uniform(1e4, 1e6, blocks),  # tpc
        np.where(rng.random(blocks) < 0.2, -np.inf, rng.normal(0, 100, blocks)),
    )
    rows = rng.permutation(n).astype(np.int64)[: int(rng.integers(1, n + 1))]
    bsel = np.sort(rng.permutation(blocks)[: int(rng.integers(1, blocks + 1))])
    got = list(_ticket_cells(tt, b, rows, bsel.astype(np.int64)))
    assert len(got) == 1  # one chunk at these sizes
    r, _, _, ii, bb = got[0]
    want = _numpy_cells(tt, b, r, bsel.astype(np.int64))
    for a, w in zip((ii, bb), want, strict=True):
        np.testing.assert_array_equal(a, w)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 200),
    m=st.integers(1, 50),
    pairs=st.integers(0, 2000),
)
def test_compiled_pair_bound_passes_as_numpy(
    seed: int, n: int, m: int, pairs: int
) -> None:
    rng = np.random.default_rng(seed)
    due = rng.uniform(-3600, 7200, n)
    pb = PairBound(
        rng.uniform(-1e4, 1e5, m),  # base
        rng.uniform(1e6, 1e8, m),  # slope
        float(rng.uniform(1e6, 1e8)),  # travel_per_chord
        rng.uniform(10, 90, m),  # speed_kmh
        rng.uniform(-3600, 3600, m),  # ready_s
        rng.uniform(0, 1, n),  # late_w
        np.where(rng.random(n) < 0.2, np.inf, due),  # resp
        rng.uniform(0, 3600, n),  # dur
        np.where(rng.random(n) < 0.2, np.inf, due + 1800),  # due
        np.where(rng.random(n) < 0.5, -1, rng.integers(0, m, n)),  # holder
        float(rng.choice([0.0, 90_000.0])),  # stability
    )
    tix = rng.integers(0, n, pairs).astype(np.int64)
    tech = rng.integers(0, m, pairs).astype(np.int64)
    chord = np.where(rng.random(pairs) < 0.1, 0.0, rng.uniform(0, 1e-3, pairs))
    d_tech = rng.normal(0, 1e5, m)
    lbp = pb.at(tix, tech, chord)
    cut = lbp + d_tech[tech] + rng.normal(0, 1e4, pairs)
    pen = lbp + rng.normal(0, 1e4, pairs)
    cut[: pairs // 10] = (lbp + d_tech[tech])[: pairs // 10]  # ties: not below
    want = (lbp + d_tech[tech] < cut) & (lbp < pen)
    got = pb.passes(tix, tech, chord, d_tech, cut, pen)
    np.testing.assert_array_equal(got, want)


def _numpy_blocked_cells(
    tt: _TicketTerms, b: _TechBlocks, part_rows: np.ndarray, bsel: np.ndarray
) -> list[tuple[np.ndarray, ...]]:
    """The numpy code _blocked_cells_passing replaced, chunk by chunk: (r, ii, bb)."""
    tb = _ticket_block_tables(tt, part_rows)
    rows, first, t_cen, t_rad = tb.rows, tb.first, tb.centre, tb.radius
    blk, tab, real, slot = tb.block, tb.table, tb.real, tb.slot
    out = []
    step = max(1, 2_000_000 // (bsel.size * TICKET_BLOCK))
    for a in range(0, first.size, step):
        nb = np.arange(a, min(a + step, first.size))
        gap = _distances(t_cen, nb, b.centre[:, bsel])
        gap -= t_rad[nb][:, None] + b.radius[bsel][None, :] + CHORD_ROUNDING
        np.maximum(gap, 0.0, out=gap)
        lb = _lower_bound(b, bsel[None, :], gap, blk, nb[:, None])
        bi, bb = np.nonzero(_passes(b, bsel[None, :], lb, blk, nb[:, None]))
        lo = first[a]
        r = rows[lo:]
        at, e_b = a + bi, bsel[bb][:, None]
        gap_p = np.zeros((at.size, TICKET_BLOCK))
        for c in range(3):
            diff = tab.xyz[c][at] - b.centre[c][e_b]
            diff *= diff
            gap_p += diff
        np.sqrt(gap_p, out=gap_p)
        gap_p = np.maximum(gap_p - b.radius[e_b], 0.0) * tab.located[at]
        lb_p = _lower_bound(b, e_b, gap_p, tab, at)
        keep = _passes(b, e_b, lb_p, tab, at) & real[at]
        cell, col = np.nonzero(keep)
        out.append((r, slot[a + bi[cell], col] - lo, bb[cell]))
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    blocks=st.integers(1, 200),
    spread=st.sampled_from([1e-4, 1e-2, 0.3]),
)
def test_compiled_blocked_cells_are_the_numpy_cells_bit_for_bit(
    seed: int, n: int, blocks: int, spread: float
) -> None:
    rng = np.random.default_rng(seed)
    tt = _random_ticket_terms(rng, n, spread, located_share=0.9, potentials=True)
    b = _TechBlocks(
        _unit(rng, blocks, spread).T.copy(),
        np.where(rng.random(blocks) < 0.05, np.inf, rng.uniform(0, 1e-3, blocks)),
        rng.uniform(1e6, 1e8, blocks),  # slope
        rng.uniform(-1e4, 1e5, blocks),  # base
        rng.uniform(-1e4, 1e6, blocks),  # dt
        rng.uniform(-3600, 3600, blocks),  # ready
        rng.uniform(1e4, 1e6, blocks),  # tpc
        np.where(rng.random(blocks) < 0.2, -np.inf, rng.normal(0, 100, blocks)),
    )
    rows = np.sort(rng.permutation(n)[: int(rng.integers(1, n + 1))]).astype(np.int64)
    bsel = np.sort(rng.permutation(blocks)[: int(rng.integers(1, blocks + 1))])
    bsel = bsel.astype(np.int64)
    got = [(r, ii, bb) for r, _, _, ii, bb in _blocked_cells(tt, b, rows, bsel)]
    want = _numpy_blocked_cells(tt, b, rows, bsel)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        for x, y in zip(g, w, strict=True):
            np.testing.assert_array_equal(x, y)
