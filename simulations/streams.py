"""Ticket streams and technician rosters drawn from a scenario (all randomness up front).

Everything random about a ticket -- arrival, place, duration estimate and actual, whether
and when it is cancelled, whether each dispatch to a technician is declined, whether, when
and how long it waits on the customer -- is drawn
here, before the simulation runs, from the one seeded generator. So every policy run on the
same seed sees exactly the same tickets and the same customer/technician behaviour (common
random numbers), which makes policy comparisons much tighter than independent draws.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from simulations.replay import (
    Replayed,
    ReplayError,
    ReplayOptions,
    read_ticket_csv,
    wall_clock,
)
from simulations.replay_report import log_once
from simulations.replay_work import category_work, expected_work_s, work_time_note
from solver.lanes import lane_capacities

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl

    from simulations.scenario import Geography, Scenario
    from solver.policy import Policy

KM_PER_DEG_LAT = 111.32
MAX_DISPATCH_ATTEMPTS = (
    8  # decline draws pre-drawn per ticket; later attempts reuse the last
)


@dataclass(frozen=True, slots=True)
class TicketStream:
    """All tickets of a run, sorted by creation time; row i is ticket i."""

    ticket_id: list[str]
    created_s: npt.NDArray[np.float64]
    lat_deg: npt.NDArray[np.float64]
    lon_deg: npt.NDArray[np.float64]
    priority: npt.NDArray[np.int64]
    category: npt.NDArray[np.int64]  # index into ``categories``
    skill: npt.NDArray[np.int64]  # index into ``skills``
    skill_level: npt.NDArray[np.int64]
    duration_est_s: npt.NDArray[np.float64]
    duration_actual_s: npt.NDArray[np.float64]
    response_due_s: npt.NDArray[np.float64]
    resolution_due_s: npt.NDArray[np.float64]
    tier: npt.NDArray[np.int64]
    cancel_at_s: npt.NDArray[np.float64]  # inf = never cancelled
    decline_u: npt.NDArray[np.float64]  # (n, MAX_DISPATCH_ATTEMPTS) uniforms
    categories: list[str]
    skills: list[str]
    pending: PendingDraws | None = None  # None: no ticket waits on the customer
    source: list[str | None] | None = None  # the replay's source role; None: unmapped

    @property
    def count(self) -> int:
        return int(self.created_s.shape[0])


@dataclass(frozen=True, slots=True)
class PendingDraws:
    """Each ticket's wait on the customer (``scenario.PendingWait``), drawn up front."""

    share: npt.NDArray[np.float64]  # work done when it goes PENDING; NaN = never waits
    before_work: npt.NDArray[np.bool_]  # goes PENDING as its technician takes it up
    wait_s: npt.NDArray[np.float64]  # how long it stays PENDING


def _pending_draws(
    sc: Scenario, category: npt.NDArray[np.int64], rng: np.random.Generator
) -> PendingDraws | None:
    """The waits of a synthetic stream's tickets, or None when no category has any. Drawn
    from a child of ``rng`` (``Generator.spawn``), so adding waits to a scenario leaves
    every other draw of the stream as it was."""
    cats = sc.arrivals.categories if sc.arrivals is not None else ()
    waits = [c.pending for c in cats]
    if not any(w is not None and w.probability > 0 for w in waits):
        return None
    (child,) = rng.spawn(1)
    n = category.size
    p = np.array([w.probability if w else 0.0 for w in waits])[category]
    mean = np.array([w.wait_mean_s if w else 1.0 for w in waits])[category]
    cv = np.array([w.wait_cv if w else 0.0 for w in waits])[category]
    before = np.array([bool(w and w.when == "before_work") for w in waits])[category]
    waits_now = child.random(n) < p
    share = np.where(before, 0.0, child.random(n))
    sigma2 = np.log1p(cv * cv)
    wait = mean * np.exp(child.normal(-sigma2 / 2, np.sqrt(sigma2)))
    return PendingDraws(
        share=np.where(waits_now, share, np.nan),
        before_work=before & waits_now,
        wait_s=np.asarray(wait, np.float64),
    )


@dataclass(frozen=True, slots=True)
class Roster:
    """All technicians of a run; row j is technician j."""

    tech_id: list[str]
    group: list[str]
    home_lat_deg: npt.NDArray[np.float64]
    home_lon_deg: npt.NDArray[np.float64]
    skill_levels: npt.NDArray[np.int64]  # (m, n_skills)
    shift_start_s: npt.NDArray[np.float64]  # seconds after midnight
    shift_length_s: npt.NDArray[np.float64]
    speed_kmh: npt.NDArray[np.float64]
    capacity: npt.NDArray[np.int64]
    first_lane: npt.NDArray[np.int64] | None = None
    """Row of each row's lane 0: rows sharing it are one technician's lanes (None: every
    row is a technician of its own)."""

    @property
    def count(self) -> int:
        return int(self.home_lat_deg.shape[0])

    def shifts(
        self, horizon_s: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Every on-shift interval that begins within the horizon, as ``(row, start, end)``
        arrays (virtual seconds): row ``j`` works ``[shift_start + d days, + shift_length)``
        each day ``d`` whose start is before ``horizon_s``, and a shift from the day before
        still running at t = 0 counts from 0. The one rule of when technicians work: the
        engine schedules these and the breach bound (``simulations.reach``) reads them."""
        rows: list[int] = []
        starts: list[float] = []
        ends: list[float] = []
        for j in range(self.count):
            first = float(self.shift_start_s[j])
            length = float(self.shift_length_s[j])
            if first + length - 86_400.0 > 0:  # yesterday's shift, still running
                rows.append(j)
                starts.append(0.0)
                ends.append(first + length - 86_400.0)
            start = first
            while start < horizon_s:
                rows.append(j)
                starts.append(start)
                ends.append(start + length)
                start += 86_400.0
        return (
            np.array(rows, np.int64),
            np.array(starts, np.float64),
            np.array(ends, np.float64),
        )

    def lanes_of(self, j: int) -> list[int]:
        """The rows of row ``j``'s technician (its lanes, ``solver.lanes``)."""
        if self.first_lane is None:
            return [j]
        return np.flatnonzero(self.first_lane == self.first_lane[j]).tolist()


SYNTHETIC_ORIGIN = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
"""The instant of virtual t = 0 of a synthetic scenario (a Monday, midnight UTC): where a
business-hours SLA calendar (``solver.business_time``) reads the virtual clock."""


def origin_s(sc: Scenario) -> float:
    """Epoch second of virtual t = 0: the replay's start (UTC when it names no zone), else
    ``SYNTHETIC_ORIGIN``."""
    if sc.replay is None:
        return SYNTHETIC_ORIGIN.timestamp()
    start = dt.datetime.fromisoformat(sc.replay.start)
    return (start if start.tzinfo else start.replace(tzinfo=dt.UTC)).timestamp()


def due_times(
    policy: Policy,
    priority: np.ndarray,
    created: np.ndarray,
    resolution_due: np.ndarray | None = None,
    origin: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Response and resolution due times per ticket by ``Policy.due_times`` (the one rule);
    ``resolution_due`` holds the stream's own due times (0 = none); ``origin``: the epoch
    second of virtual t = 0 (for business-hours calendars)."""
    given = np.zeros(len(created)) if resolution_due is None else resolution_due
    due = np.array(
        [
            policy.due_times(int(p), float(c), resolution_due=float(r), origin_s=origin)
            for p, c, r in zip(priority, created, given, strict=True)
        ],
        np.float64,
    ).reshape(len(created), 2)
    return due[:, 0], due[:, 1]


def _lognormal(
    rng: np.random.Generator,
    mean: npt.NDArray[np.float64] | float,
    cv: float,
    size: int,
) -> npt.NDArray[np.float64]:
    if cv <= 0:
        return np.broadcast_to(np.asarray(mean, np.float64), (size,)).astype(np.float64)
    sigma2 = math.log1p(cv * cv)
    mu = np.log(mean) - sigma2 / 2
    return np.asarray(rng.lognormal(mu, math.sqrt(sigma2), size), np.float64)


def sample_points(
    geo: Geography, n: int, rng: np.random.Generator, *, clusters: bool = True
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Points in the scenario's geography: a mixture of Gaussian clusters and a uniform disc."""
    cos_lat = math.cos(math.radians(geo.center_lat_deg))
    dx = np.empty(n)
    dy = np.empty(n)
    use_clusters = clusters and bool(geo.clusters)
    uniform = rng.random(n) < (geo.uniform_fraction if use_clusters else 1.0)
    k = int(uniform.sum())
    r = geo.radius_km * np.sqrt(rng.random(k))
    a = 2 * math.pi * rng.random(k)
    dx[uniform] = r * np.cos(a)
    dy[uniform] = r * np.sin(a)
    lat = np.full(n, geo.center_lat_deg)
    lon = np.full(n, geo.center_lon_deg)
    rest = np.flatnonzero(~uniform)
    if rest.size:
        w = np.array([c.weight for c in geo.clusters])
        which = rng.choice(len(geo.clusters), size=rest.size, p=w / w.sum())
        sd = np.array([c.sd_km for c in geo.clusters])[which]
        clat = np.array([c.lat_deg for c in geo.clusters])[which]
        clon = np.array([c.lon_deg for c in geo.clusters])[which]
        lat[rest] = clat
        lon[rest] = clon
        dx[rest] = rng.normal(0, 1, rest.size) * sd
        dy[rest] = rng.normal(0, 1, rest.size) * sd
    lat = lat + dy / KM_PER_DEG_LAT
    lon = lon + dx / (KM_PER_DEG_LAT * cos_lat)
    return lat, lon


def _synthetic(sc: Scenario, rng: np.random.Generator) -> TicketStream:
    arr = sc.arrivals
    assert arr is not None
    days = math.ceil(sc.horizon_s / 86_400)
    profile = np.asarray(arr.hourly_profile)
    lam = np.tile(arr.rate_per_day * profile, days)  # expected count per hour slot
    counts = rng.poisson(lam)
    hour_idx = np.repeat(np.arange(lam.size), counts)
    created = np.sort(hour_idx * 3_600.0 + rng.random(hour_idx.size) * 3_600.0)
    created = created[created < sc.horizon_s]
    n = created.size
    cats = arr.categories
    w = np.array([c.weight for c in cats])
    cat = rng.choice(len(cats), size=n, p=w / w.sum())
    skills = sorted({c.skill for c in cats} | {s for g in sc.groups for s in g.skills})
    skill_of_cat = np.array([skills.index(c.skill) for c in cats], np.int64)
    level_of_cat = np.array([c.skill_level for c in cats], np.int64)
    mix = np.array([c.priority_mix for c in cats])  # (n_cat, 4)
    cum = np.cumsum(mix, axis=1)[cat]
    priority = 1 + (rng.random(n)[:, None] > cum).sum(axis=1)
    priority = np.minimum(priority, 4).astype(np.int64)
    dur_mean = np.array([c.duration_mean_s for c in cats])[cat]
    dur_cv = np.array([c.duration_cv for c in cats])[cat]
    sigma2 = np.log1p(dur_cv**2)
    est = np.exp(rng.normal(np.log(dur_mean) - sigma2 / 2, np.sqrt(sigma2)))
    lat, lon = sample_points(sc.geography, n, rng)
    remote = np.array([c.location == "none" for c in cats], bool)[cat]
    lat[remote] = lon[remote] = np.nan  # no location (solver.geo): remote work
    response_due, resolution_due = due_times(
        sc.policy, priority, created, origin=origin_s(sc)
    )
    return _finish(
        sc,
        rng,
        ticket_id=[f"T{i:07d}" for i in range(n)],
        created=created,
        lat=lat,
        lon=lon,
        priority=priority,
        category=cat.astype(np.int64),
        skill=skill_of_cat[cat],
        level=level_of_cat[cat],
        est=est,
        response_due=response_due,
        resolution_due=resolution_due,
        categories=[c.name for c in cats],
        skills=skills,
    )


def replay_window(sc: Scenario) -> tuple[dt.datetime, dt.datetime]:
    """Where tickets arrive, on the file's wall clock: ``[start, start + duration_days)``,
    cut at the horizon."""
    rep = sc.replay
    assert rep is not None
    start = wall_clock(rep.start)
    assert start is not None
    end = min(
        start + dt.timedelta(days=rep.duration_days),
        start + dt.timedelta(seconds=sc.horizon_s),
    )
    return start, end


def load_replay_frame(sc: Scenario, seed: int) -> pl.DataFrame:
    """The scenario's replayed tickets (``simulations.replay`` schema) within the horizon;
    rows skipped or adjusted are logged once (``simulations.replay_report``).

    Raises
    ------
    ReplayError
        As :func:`read_replay`.
    """
    rep = sc.replay
    assert rep is not None
    replayed = read_replay(sc, seed)
    for text in (replayed.report.summary(), *replay_notes(sc, replayed)):
        log_once(text, str(rep.path))
    return replayed.frame


def read_replay(sc: Scenario, seed: int) -> Replayed:
    """The scenario's replay within the horizon, with its report (nothing logged).

    Raises
    ------
    ReplayError
        The file cannot be used as mapped, or no ticket is created in the window.
    """
    rep = sc.replay
    assert rep is not None
    start, end = replay_window(sc)
    zone = dt.datetime.fromisoformat(
        rep.start
    ).tzinfo  # of values written with an offset
    options = ReplayOptions(
        timestamp_format=rep.timestamp_format,
        date_format=rep.date_format,
        priority_rule="sla_window" if rep.format == "boston311" else "column",
        start=start.replace(tzinfo=zone),
        end=end.replace(tzinfo=zone),
        unknown_location=rep.unknown_location,
        unknown_lat_deg=rep.unknown_lat_deg,
        unknown_lon_deg=rep.unknown_lon_deg,
        seed=seed,
        work_time_unit=rep.work_time_unit,
        separator=rep.separator,
    )
    replayed = read_ticket_csv(rep.path, rep.columns, options)
    if replayed.frame.height == 0:
        raise ReplayError(_empty_window(replayed, rep.path.name, start, end))
    return replayed


def _empty_window(
    replayed: Replayed, name: str, start: dt.datetime, end: dt.datetime
) -> str:
    first, last = replayed.first_created, replayed.last_created
    span = (
        "none has a usable created time"
        if first is None or last is None
        else f"its tickets are created {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M}"
    )
    count = len(replayed.report.skipped_rows)
    skipped = f", {count:,} row(s) skipped" if count else ""
    return (
        f"replay.start: no ticket of {name} is created in [{start:%Y-%m-%d %H:%M}, "
        f"{end:%Y-%m-%d %H:%M}){skipped} ({span})"
    )


def replay_notes(sc: Scenario, replayed: Replayed) -> list[str]:
    """What a run makes of a loaded replay beyond its rows, one line each: the expected
    work time per category when it comes from the data (``simulations.replay_work``), the
    rows a horizon shorter than ``duration_days`` leaves out, and auto crews sized over
    days the file has no tickets for."""
    rep = sc.replay
    assert rep is not None
    notes = [
        work_time_note(
            category_work(replayed.frame, rep.duration_mean_s, rep.closed_quantile),
            rep.path.name,
            rep.closed_quantile,
        ),
        _beyond_horizon_note(sc, replayed),
        _sized_past_arrivals_note(sc, replayed),
    ]
    return [n for n in notes if n is not None]


SIZING_GAP_S = 18 * 3_600.0
"""How long before the end of the (horizon-cut) replay window the last ticket may arrive
before auto crews are said to be sized over days without arrivals (most of a day: a
day's own quiet night is no such day)."""


def _sized_past_arrivals_note(sc: Scenario, replayed: Replayed) -> str | None:
    """Auto crews are sized over the whole replay window (``_arrival_span_s``); when the
    file's tickets stop arriving most of a day (``SIZING_GAP_S``) or more before its end (``duration_days`` longer
    than the data), the crews are sized for fewer tickets a day than arrive: say so."""
    rep = sc.replay
    assert rep is not None
    if sc.auto_crews is None:
        return None
    start, end = replay_window(sc)
    created = replayed.created
    inside = created.filter((created >= start) & (created < end))
    if inside.is_empty():
        return None
    last = inside.max()
    assert isinstance(last, dt.datetime)
    gap_s = (end - last).total_seconds()
    if gap_s < SIZING_GAP_S:
        return None
    days = (end - start).total_seconds() / 86_400.0
    span = (last - start).total_seconds() / 86_400.0
    return (
        f"replay {rep.path.name}: the last ticket is created {last:%Y-%m-%d %H:%M}, "
        f"{gap_s / 86_400.0:.1f} day(s) before the end of the replay window "
        f"({end:%Y-%m-%d %H:%M}): auto crews are sized over the whole window "
        f"({days:g} days), for fewer tickets a day than arrive over the file's "
        f"{span:.1f} days; set duration_days to the file's span to size them on it"
    )


def _beyond_horizon_note(sc: Scenario, replayed: Replayed) -> str | None:
    """Rows created in ``[start, start + duration_days)`` but at or after the horizon."""
    rep = sc.replay
    assert rep is not None
    start, cut = replay_window(sc)
    end = start + dt.timedelta(days=rep.duration_days)
    if cut >= end:
        return None
    created = replayed.created
    beyond = created.filter((created >= cut) & (created < end)).len()
    if not beyond:
        return None
    return (
        f"replay {rep.path.name}: {beyond:,} row(s) created after the horizon "
        f"({sc.horizon_s:.0f} s after start: {cut:%Y-%m-%d %H:%M}) and before the end of "
        f"the replay window ({end:%Y-%m-%d %H:%M}, duration_days {rep.duration_days:g}) "
        f"are not replayed; --horizon-s {rep.duration_days * 86_400:.0f} covers the window"
    )


def _replayed(sc: Scenario, rng: np.random.Generator, seed: int) -> TicketStream:
    rep = sc.replay
    assert rep is not None
    df = load_replay_frame(sc, seed)
    n = df.height
    categories = sorted(set(df["category"].to_list()))
    skills = sorted(
        set(df["skill"].to_list()) | {s for g in sc.groups for s in g.skills}
    )
    cat_index = {c: i for i, c in enumerate(categories)}
    skill_index = {s: i for i, s in enumerate(skills)}
    created = df["created_s"].to_numpy().astype(np.float64)
    priority = df["priority"].to_numpy().astype(np.int64)
    real_due = np.nan_to_num(df["resolution_due_s"].to_numpy().astype(np.float64))
    response_due, resolution_due = due_times(
        sc.policy, priority, created, real_due, origin=origin_s(sc)
    )
    expected = expected_work_s(df, rep.duration_mean_s, rep.closed_quantile)
    est = _lognormal(rng, expected, rep.duration_cv, n)
    return _finish(
        sc,
        rng,
        ticket_id=df["ticket_id"].to_list(),
        created=created,
        lat=df["lat_deg"].to_numpy().astype(np.float64),
        lon=df["lon_deg"].to_numpy().astype(np.float64),
        priority=priority,
        category=np.array([cat_index[c] for c in df["category"].to_list()], np.int64),
        skill=np.array([skill_index[s] for s in df["skill"].to_list()], np.int64),
        level=np.full(n, rep.skill_level, np.int64),
        est=est,
        response_due=response_due,
        resolution_due=resolution_due,
        categories=categories,
        skills=skills,
        source=df["source"].to_list() if "source" in rep.columns else None,
    )


def _finish(sc: Scenario, rng: np.random.Generator, **kw: object) -> TicketStream:
    created = kw["created"]
    assert isinstance(created, np.ndarray)
    n = created.size
    b = sc.behaviour
    est = np.asarray(kw["est"], np.float64)
    actual = est * _lognormal(rng, 1.0, b.actual_duration_cv, n)
    cancels = rng.random(n) < b.cancel_probability
    delay = rng.exponential(b.cancel_delay_mean_s, n)
    cancel_at = np.where(cancels, created + delay, np.inf)
    tiers = np.asarray(b.tier_mix)
    tier = rng.choice(tiers.size, size=n, p=tiers).astype(np.int64)
    decline_u = rng.random((n, MAX_DISPATCH_ATTEMPTS))
    return TicketStream(
        ticket_id=list(kw["ticket_id"]),  # type: ignore[call-overload]
        created_s=created.astype(np.float64),
        lat_deg=np.asarray(kw["lat"], np.float64),
        lon_deg=np.asarray(kw["lon"], np.float64),
        priority=np.asarray(kw["priority"], np.int64),
        category=np.asarray(kw["category"], np.int64),
        skill=np.asarray(kw["skill"], np.int64),
        skill_level=np.asarray(kw["level"], np.int64),
        duration_est_s=est,
        duration_actual_s=actual,
        response_due_s=np.asarray(kw["response_due"], np.float64),
        resolution_due_s=np.asarray(kw["resolution_due"], np.float64),
        tier=tier,
        cancel_at_s=cancel_at,
        decline_u=decline_u,
        categories=list(kw["categories"]),  # type: ignore[call-overload]
        skills=list(kw["skills"]),  # type: ignore[call-overload]
        pending=_pending_draws(sc, np.asarray(kw["category"], np.int64), rng),
        source=kw.get("source"),  # type: ignore[arg-type]
    )


def build_stream(sc: Scenario, rng: np.random.Generator, seed: int = 0) -> TicketStream:
    """Draw (or replay) every ticket of the run."""
    return _synthetic(sc, rng) if sc.arrivals is not None else _replayed(sc, rng, seed)


def auto_crew_plan(
    skills: Sequence[str],
    need: Sequence[float],
    *,
    min_per_skill: int = 1,
    max_per_skill: int = 50,
) -> tuple[dict[str, int], list[tuple[str, ...]]]:
    """Dedicated technicians per skill and the skill sets of shared technicians.

    ``need`` is each skill's workload in technicians (fractional). See ``build_roster``.
    """
    dedicated: dict[str, int] = {}
    rest: list[tuple[float, str]] = []
    for s, x in zip(skills, need, strict=True):
        n = min(int(np.floor(x + 1e-9)), max_per_skill)
        frac = x - n if n < max_per_skill else 0.0
        dedicated[s] = n
        if frac > 1e-9 or n == 0:
            rest.append((max(frac, 0.0), s))
    rest.sort(key=lambda fs: (-fs[0], fs[1]))
    bins: list[list[str]] = []
    load: list[float] = []
    for frac, s in rest:
        for b in range(len(bins)):
            if load[b] + frac <= 1.0 + 1e-9:
                bins[b].append(s)
                load[b] += frac
                break
        else:
            bins.append([s])
            load.append(frac)
    holders = dict(dedicated)
    for members in bins:
        for name in members:
            holders[name] += 1
    for name in skills:
        if holders[name] < min_per_skill:
            dedicated[name] += min_per_skill - holders[name]
    return dedicated, [tuple(sorted(b)) for b in bins]


def build_roster(
    sc: Scenario, stream: TicketStream, rng: np.random.Generator
) -> Roster:
    """Technicians of the run: the scenario's groups, plus auto-sized crews for a replay.

    Auto crews (replay): a skill's need is ``hours of work per day / (shift hours x target
    utilization)`` technicians (fractional), days counted over the replay's arrival window
    (``replay_window``: not the horizon, which may run on after the last arrival), where a
    ticket's work is its estimated duration plus ``travel_allowance_s`` (none for a ticket
    without location: nobody travels to it). Each skill gets ``floor(need)`` dedicated technicians
    (clipped to ``max_per_skill``); the fractional remainders are packed, first-fit
    decreasing in need with ties by skill name, onto shared technicians holding every skill
    packed onto them (each at most one technician's worth). So the crew total is about
    ``total need`` and utilization about the target, instead of one mostly idle technician
    per low-volume queue. ``min_per_skill`` (if > 1) adds dedicated technicians up to that
    many holders of the skill. Deterministic: no randomness in the sizing.
    """
    skills = stream.skills
    ids: list[str] = []
    groups: list[str] = []
    levels: list[npt.NDArray[np.int64]] = []
    start: list[float] = []
    length: list[float] = []
    speed: list[float] = []
    cap: list[int] = []
    homes: list[str] = []
    first_lane: list[int] = []  # row of the technician's lane 0 (itself when 1 lane)
    for g in sc.groups:
        row = np.zeros(len(skills), np.int64)
        for s, lvl in g.skills.items():
            row[skills.index(s)] = lvl
        for i in range(g.count):
            lane0 = len(ids)
            # concurrency N: N lanes side by side, the queue capacity split over them
            for lane, places in enumerate(lane_capacities(g.capacity, g.concurrency)):
                ids.append(f"{g.name}-{i:04d}" + (f"/{lane}" if lane else ""))
                groups.append(g.name)
                levels.append(row)
                start.append(g.shift_start_h * 3_600.0)
                length.append(g.shift_hours * 3_600.0)
                speed.append(g.speed_kmh)
                cap.append(places)
                homes.append(g.home)
                first_lane.append(lane0)
    a = sc.auto_crews
    if a is not None:
        days = max(_arrival_span_s(sc) / 86_400.0, 1e-9)
        # nobody travels to a ticket without location (a help desk): no allowance
        travel_s = np.where(np.isnan(stream.lat_deg), 0.0, a.travel_allowance_s)
        work = np.bincount(
            stream.skill,
            weights=stream.duration_est_s + travel_s,
            minlength=len(skills),
        )
        per_day_s = work / days
        need = per_day_s / (a.shift_hours * 3_600.0 * a.target_utilization)
        used = np.bincount(stream.skill, minlength=len(skills)) > 0
        dedicated, shared = auto_crew_plan(
            [skills[i] for i in range(len(skills)) if used[i]],
            [float(need[i]) for i in range(len(skills)) if used[i]],
            min_per_skill=a.min_per_skill,
            max_per_skill=a.max_per_skill,
        )

        def add(tech_id: str, group: str, held: Sequence[str]) -> None:
            row = np.zeros(len(skills), np.int64)
            for name in held:
                row[skills.index(name)] = a.skill_level
            first_lane.append(len(ids))
            ids.append(tech_id)
            groups.append(group)
            levels.append(row)
            start.append(a.shift_start_h * 3_600.0)
            length.append(a.shift_hours * 3_600.0)
            speed.append(a.speed_kmh)
            cap.append(a.capacity)
            homes.append("skill")

        for s, n in dedicated.items():
            for i in range(n):
                add(f"{s}-{i:03d}", s, (s,))
        for i, held in enumerate(shared):
            add(f"shared-{i:03d}", "shared", held)
    m = len(ids)
    home_lat, home_lon = _homes(sc, stream, rng, homes, levels)
    same_home = np.asarray(first_lane, np.int64)  # a technician's lanes share its home
    home_lat, home_lon = home_lat[same_home], home_lon[same_home]
    return Roster(
        tech_id=ids,
        group=groups,
        home_lat_deg=home_lat,
        home_lon_deg=home_lon,
        skill_levels=np.array(levels, np.int64).reshape(m, len(skills)),
        shift_start_s=np.array(start, np.float64),
        shift_length_s=np.array(length, np.float64),
        speed_kmh=np.array(speed, np.float64),
        capacity=np.array(cap, np.int64),
        first_lane=same_home,
    )


def skills_nobody_holds(stream: TicketStream, roster: Roster) -> list[tuple[str, int]]:
    """Skills some tickets need at a level no technician of the roster holds, with how many
    tickets need each (most first, then by name): nobody can ever take those tickets."""
    best = roster.skill_levels.max(axis=0, initial=0)
    stranded = stream.skill_level > best[stream.skill]
    counts = np.bincount(stream.skill[stranded], minlength=len(stream.skills))
    held_by_none = [(stream.skills[i], int(c)) for i, c in enumerate(counts) if c]
    return sorted(held_by_none, key=lambda sc: (-sc[1], sc[0]))


def _arrival_span_s(sc: Scenario) -> float:
    """Seconds over which the stream's tickets arrive: the replay window (a horizon longer
    than the replay adds no work), else the horizon."""
    if sc.replay is None:
        return sc.horizon_s
    start, end = replay_window(sc)
    return (end - start).total_seconds()


def _homes(
    sc: Scenario,
    stream: TicketStream,
    rng: np.random.Generator,
    homes: Sequence[str],
    levels: Sequence[npt.NDArray[np.int64]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Home location of each roster row by its group's ``home`` kind."""
    m = len(homes)
    home_lat = np.empty(m)
    home_lon = np.empty(m)
    for kind in ("clusters", "uniform", "center", "none"):
        idx = np.flatnonzero(np.array([h == kind for h in homes], bool))
        if idx.size:
            if kind == "none":  # help desk agents: no location (solver.geo)
                home_lat[idx] = home_lon[idx] = np.nan
            elif kind == "center":
                home_lat[idx] = sc.geography.center_lat_deg
                home_lon[idx] = sc.geography.center_lon_deg
            else:
                home_lat[idx], home_lon[idx] = sample_points(
                    sc.geography, idx.size, rng, clusters=kind == "clusters"
                )
    skill_idx = np.flatnonzero(np.array([h == "skill" for h in homes], bool))
    # A crew is based where its skill's work is: a random ticket location of that skill.
    for j in skill_idx:
        pool = np.flatnonzero(np.isin(stream.skill, np.flatnonzero(levels[int(j)])))
        pick = pool[rng.integers(pool.size)]
        home_lat[j], home_lon[j] = stream.lat_deg[pick], stream.lon_deg[pick]
    return home_lat, home_lon
