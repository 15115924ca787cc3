"""Scenario files: TOML with units in the key names, validated into frozen dataclasses.

A scenario says where (geography), who (technician groups, or crews sized automatically
for a replay), what arrives (a synthetic stream or a replayed CSV), the policy the
optimizer runs with (``[weights]``, ``[solver]``, ``[sla.P*]`` exactly as in a policy
file, see ``solver.policy``; read as a ``schema_version = 1`` document) and how long to run. Every error is a
:class:`ScenarioError` whose message starts with the dotted path of the offending field,
e.g. ``technicians.groups[1].speed_kmh: must be a finite number > 0, got 0``.

The shipped scenarios in ``simulations/scenarios/`` document every key; ``smoke.toml`` is
the shortest complete example.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulations.replay_columns import (
    BOSTON311_COLUMNS,
    CLOSED_QUANTILE,
    ROLES,
    SEPARATORS,
    UNKNOWN_LOCATION_CHOICES,
    WORK_TIME_UNITS_S,
    mapping_gap,
)
from simulations.scenario_files import resolve_scenario_path
from solver.lanes import MAX_CONCURRENCY
from solver.policy import Policy, PolicyError, policy_from_document

DATA_DIR = Path(__file__).parent / "data"


class ScenarioError(ValueError):
    """A scenario file is invalid; the message starts with the dotted field path."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True, slots=True)
class Cluster:
    lat_deg: float
    lon_deg: float
    sd_km: float
    weight: float


@dataclass(frozen=True, slots=True)
class Geography:
    center_lat_deg: float
    center_lon_deg: float
    radius_km: float
    clusters: tuple[Cluster, ...] = ()
    uniform_fraction: float = 1.0  # share of points drawn uniformly in the disc


PENDING_WHEN = ("before_work", "during_work")
"""When a ticket that waits on the customer goes PENDING: as its technician takes it up,
before any work (``before_work``), or after a uniformly drawn share of its work
(``during_work``)."""


@dataclass(frozen=True, slots=True)
class PendingWait:
    """Per category: the share of tickets that wait on the customer once (PENDING: out of
    every queue and solve, SLA clock stopped), when, and how long (lognormal)."""

    probability: float
    when: str  # one of PENDING_WHEN
    wait_mean_s: float
    wait_cv: float


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    weight: float
    skill: str
    skill_level: int
    duration_mean_s: float
    duration_cv: float
    priority_mix: tuple[float, float, float, float]
    location: str = "site"  # "site" (drawn from the geography) | "none" (remote work)
    pending: PendingWait | None = None  # waits on the customer (PENDING), if any


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Synthetic ticket stream (a non-homogeneous Poisson process)."""

    rate_per_day: float
    hourly_profile: tuple[float, ...]  # 24 relative weights, normalised here
    categories: tuple[Category, ...]


@dataclass(frozen=True, slots=True)
class Replay:
    """A replayed CSV stream with a column mapping."""

    path: Path
    format: str  # "boston311" (priority derived from the SLA window) or "csv"
    start: str  # ISO date-time; virtual t=0 is this instant
    duration_days: float
    columns: dict[str, str]
    timestamp_format: str
    date_format: str | None  # a date-only due time; None = timestamp_format's date part
    unknown_location: str  # "drop" | "keep" | "sample"
    unknown_lat_deg: float | None  # the source's no-geocode point, if it has one
    unknown_lon_deg: float | None
    duration_mean_s: float  # expected work time where the data has none (no work_time)
    duration_cv: float
    skill_level: int
    work_time_unit: str = "min"  # unit of the work_time column: s | min | h
    closed_quantile: float = (
        CLOSED_QUANTILE  # of closed - created: a category's work time
    )
    separator: str = ","  # of the file's fields: , ; \t |


@dataclass(frozen=True, slots=True)
class TechnicianGroup:
    name: str
    count: int
    skills: dict[str, int]
    shift_start_h: float
    shift_hours: float
    speed_kmh: float
    capacity: int
    home: str  # "clusters" | "uniform" | "center" | "none" (no location: help desk agents)
    concurrency: int = 1  # tickets each works at once (solver.lanes), <= capacity


@dataclass(frozen=True, slots=True)
class AutoCrews:
    """Replay only: crews per skill sized to a target utilization (see ``streams.build_roster``)."""

    target_utilization: float
    min_per_skill: int
    max_per_skill: int
    shift_start_h: float
    shift_hours: float
    speed_kmh: float
    capacity: int
    skill_level: int
    travel_allowance_s: float  # assumed travel per ticket when sizing crews


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Randomness in what people do."""

    actual_duration_cv: float = (
        0.3  # actual work time = estimate x lognormal(mean 1, this cv)
    )
    cancel_probability: float = 0.02
    cancel_delay_mean_s: float = 3_600.0
    decline_probability: float = 0.02  # per dispatch of a ticket to a technician
    tier_mix: tuple[float, ...] = (1.0,)  # share of customer tiers 0, 1, ...


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    horizon_s: float
    seed: int
    geography: Geography
    arrivals: Arrivals | None
    replay: Replay | None
    groups: tuple[TechnicianGroup, ...]
    auto_crews: AutoCrews | None
    behaviour: Behaviour
    policy: Policy
    debounce_s: float  # a state change triggers a solve after this delay
    sample_every_s: float  # backlog sampling interval
    source: Path | None = field(default=None, compare=False)


# --------------------------------------------------------------------------- helpers


class _Table:
    """A TOML table with its dotted path, for error messages and unknown-key checks."""

    def __init__(self, doc: Any, path: str) -> None:
        if not isinstance(doc, dict):
            raise ScenarioError(
                path or "(file)", f"must be a table, got {type(doc).__name__}"
            )
        self.doc = doc
        self.path = path
        self.used: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.doc

    def raw(self, key: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.doc:
            if default is ...:
                raise ScenarioError(self.name(key), "required")
            return default
        return self.doc[key]

    def num(
        self,
        key: str,
        default: Any = ...,
        *,
        minimum: float | None = None,
        strict: bool = False,
        maximum: float | None = None,
    ) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(self.name(key), f"must be a number, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise ScenarioError(self.name(key), f"must be finite, got {value!r}")
        if minimum is not None and (v <= minimum if strict else v < minimum):
            op = ">" if strict else ">="
            raise ScenarioError(
                self.name(key),
                f"must be a finite number {op} {minimum:g}, got {value!r}",
            )
        if maximum is not None and v > maximum:
            raise ScenarioError(
                self.name(key), f"must be <= {maximum:g}, got {value!r}"
            )
        return v

    def integer(
        self,
        key: str,
        default: Any = ...,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(self.name(key), f"must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise ScenarioError(self.name(key), f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ScenarioError(self.name(key), f"must be <= {maximum}, got {value}")
        return value

    def string(
        self, key: str, default: Any = ..., *, choices: tuple[str, ...] | None = None
    ) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str):
            raise ScenarioError(self.name(key), f"must be a string, got {value!r}")
        if choices is not None and value not in choices:
            # a choice that is not a word (a separator: ',' or a tab) is quoted
            shown = ", ".join(c if c.isidentifier() else repr(c) for c in choices)
            raise ScenarioError(
                self.name(key), f"must be one of {shown}, got {value!r}"
            )
        return value

    def sub(self, key: str, default: Any = ...) -> _Table:
        return _Table(self.raw(key, default), self.name(key))

    def nums(
        self, key: str, default: Any = ..., *, length: int | None = None
    ) -> tuple[float, ...]:
        value = self.raw(key, default)
        if not isinstance(value, list) or not value:
            raise ScenarioError(
                self.name(key), f"must be a non-empty list of numbers, got {value!r}"
            )
        out = []
        for i, v in enumerate(value):
            if (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or not math.isfinite(v)
                or v < 0
            ):
                raise ScenarioError(
                    f"{self.name(key)}[{i}]", f"must be a finite number >= 0, got {v!r}"
                )
            out.append(float(v))
        if length is not None and len(out) != length:
            raise ScenarioError(
                self.name(key), f"must have {length} entries, got {len(out)}"
            )
        if sum(out) <= 0:
            raise ScenarioError(self.name(key), "must not be all zeros")
        return tuple(out)

    def done(self, ignore: tuple[str, ...] = ()) -> None:
        for key in self.doc:
            if key not in self.used and key not in ignore:
                raise ScenarioError(self.name(key), "unknown key")


# --------------------------------------------------------------------------- parsing


def _geography(t: _Table) -> Geography:
    clusters = []
    raw = t.raw("clusters", [])
    if not isinstance(raw, list):
        raise ScenarioError(
            t.name("clusters"), "must be an array of tables ([[geography.clusters]])"
        )
    for i, c in enumerate(raw):
        ct = _Table(c, f"{t.name('clusters')}[{i}]")
        clusters.append(
            Cluster(
                lat_deg=ct.num("lat_deg", minimum=-90, maximum=90),
                lon_deg=ct.num("lon_deg", minimum=-180, maximum=180),
                sd_km=ct.num("sd_km", minimum=0, strict=True),
                weight=ct.num("weight", 1.0, minimum=0, strict=True),
            )
        )
        ct.done()
    geo = Geography(
        center_lat_deg=t.num("center_lat_deg", minimum=-90, maximum=90),
        center_lon_deg=t.num("center_lon_deg", minimum=-180, maximum=180),
        radius_km=t.num("radius_km", minimum=0, strict=True),
        clusters=tuple(clusters),
        uniform_fraction=t.num(
            "uniform_fraction", 1.0 if not clusters else 0.2, minimum=0, maximum=1
        ),
    )
    t.done()
    return geo


def _arrivals(t: _Table) -> Arrivals:
    cats_t = t.sub("categories")
    cats = []
    for name in cats_t.doc:
        ct = cats_t.sub(name)
        mix = ct.nums("priority_mix", length=4)
        total = sum(mix)
        cats.append(
            Category(
                name=name,
                weight=ct.num("weight", 1.0, minimum=0, strict=True),
                skill=ct.string("skill"),
                skill_level=ct.integer("skill_level", 1, minimum=1),
                duration_mean_s=ct.num("duration_mean_s", minimum=0, strict=True),
                duration_cv=ct.num("duration_cv", 0.5, minimum=0),
                priority_mix=(
                    mix[0] / total,
                    mix[1] / total,
                    mix[2] / total,
                    mix[3] / total,
                ),
                location=ct.string("location", "site", choices=("site", "none")),
                pending=_pending(ct.sub("pending")) if ct.has("pending") else None,
            )
        )
        ct.done()
    if not cats:
        raise ScenarioError(cats_t.path, "needs at least one category")
    profile = t.nums("hourly_profile", [1.0] * 24, length=24)
    arr = Arrivals(
        rate_per_day=t.num("rate_per_day", minimum=0, strict=True),
        hourly_profile=tuple(v / sum(profile) for v in profile),
        categories=tuple(cats),
    )
    t.done()
    return arr


def _pending(t: _Table) -> PendingWait:
    wait = PendingWait(
        probability=t.num("probability", minimum=0, maximum=1),
        when=t.string("when", "during_work", choices=PENDING_WHEN),
        wait_mean_s=t.num("wait_mean_s", minimum=0, strict=True),
        wait_cv=t.num("wait_cv", 1.0, minimum=0),
    )
    t.done()
    return wait


def _replay(t: _Table, base: Path) -> Replay:
    path_s = t.string("path")
    path = Path(path_s) if Path(path_s).is_absolute() else (base / path_s).resolve()
    if not path.exists():
        raise ScenarioError(t.name("path"), f"file not found: {path}")
    if path.is_dir():
        raise ScenarioError(t.name("path"), f"is a directory, not a CSV file: {path}")
    fmt = t.string("format", "boston311", choices=("boston311", "csv"))
    columns = _replay_columns(t.sub("columns", {}), fmt)
    start = t.string("start")
    try:
        dt.datetime.fromisoformat(start)
    except ValueError as exc:
        raise ScenarioError(
            t.name("start"), f"must be an ISO date-time, got {start!r}"
        ) from exc
    boston = fmt == "boston311"
    rep = Replay(
        path=path,
        format=fmt,
        start=start,
        duration_days=t.num("duration_days", minimum=0, strict=True),
        columns=columns,
        timestamp_format=t.string("timestamp_format", "%m/%d/%Y %I:%M:%S %p"),
        date_format=t.string("date_format") if t.has("date_format") else None,
        unknown_location=t.string(
            "unknown_location", "drop", choices=UNKNOWN_LOCATION_CHOICES
        ),
        unknown_lat_deg=_optional_num(
            t, "unknown_lat_deg", 42.3594 if boston else None
        ),
        unknown_lon_deg=_optional_num(
            t, "unknown_lon_deg", -71.0587 if boston else None
        ),
        duration_mean_s=t.num("duration_mean_s", minimum=0, strict=True),
        duration_cv=t.num("duration_cv", 0.5, minimum=0),
        skill_level=t.integer("skill_level", 1, minimum=1),
        work_time_unit=t.string(
            "work_time_unit", "min", choices=tuple(WORK_TIME_UNITS_S)
        ),
        closed_quantile=t.num(
            "closed_quantile", CLOSED_QUANTILE, minimum=0, strict=True, maximum=1
        ),
        separator=t.string("separator", ",", choices=SEPARATORS),
    )
    if (rep.unknown_lat_deg is None) != (rep.unknown_lon_deg is None):
        raise ScenarioError(
            t.name("unknown_lat_deg"), "needs unknown_lon_deg too (both or neither)"
        )
    t.done()
    return rep


def _replay_columns(t: _Table, fmt: str) -> dict[str, str]:
    """Role -> source column: ``[replay.columns]``, over the Boston 311 defaults for
    ``format = "boston311"``."""
    columns = dict(BOSTON311_COLUMNS) if fmt == "boston311" else {}
    for key in list(t.doc):
        if key not in ROLES:
            raise ScenarioError(
                t.name(key), f"unknown column role (known: {', '.join(ROLES)})"
            )
        columns[key] = t.string(key)
        if not columns[key].strip():
            raise ScenarioError(t.name(key), "must name a column of the file")
    if fmt == "csv" and "priority" not in columns:
        raise ScenarioError(
            t.name("priority"), 'required for format = "csv" (boston311 derives it)'
        )
    gap = mapping_gap(columns, "column" if fmt == "csv" else "sla_window")
    if gap is not None:
        raise ScenarioError(t.path, gap)
    return columns


def _optional_num(t: _Table, key: str, default: float | None) -> float | None:
    if not t.has(key) and default is None:
        return None
    return t.num(key, default)


def _shift(t: _Table) -> tuple[float, float]:
    start = t.num("shift_start_h", 8.0, minimum=0, maximum=24)
    hours = t.num("shift_hours", 8.0, minimum=0, strict=True, maximum=24)
    return start, hours


def _groups(t: _Table) -> tuple[TechnicianGroup, ...]:
    raw = t.raw("groups", [])
    if not isinstance(raw, list):
        raise ScenarioError(
            t.name("groups"), "must be an array of tables ([[technicians.groups]])"
        )
    groups = []
    for i, g in enumerate(raw):
        gt = _Table(g, f"{t.name('groups')}[{i}]")
        skills_t = gt.sub("skills")
        skills = {k: skills_t.integer(k, minimum=1) for k in list(skills_t.doc)}
        if not skills:
            raise ScenarioError(
                skills_t.path, "needs at least one skill (name = level)"
            )
        start, hours = _shift(gt)
        groups.append(
            TechnicianGroup(
                name=gt.string("name", f"group{i}"),
                count=gt.integer("count", minimum=1),
                skills=skills,
                shift_start_h=start,
                shift_hours=hours,
                speed_kmh=gt.num("speed_kmh", 30.0, minimum=0, strict=True),
                capacity=gt.integer("capacity", 3, minimum=1),
                concurrency=gt.integer(
                    "concurrency", 1, minimum=1, maximum=MAX_CONCURRENCY
                ),
                home=gt.string(
                    "home",
                    "clusters",
                    choices=("clusters", "uniform", "center", "none"),
                ),
            )
        )
        gt.done()
    return tuple(groups)


def _auto(t: _Table) -> AutoCrews:
    start, hours = _shift(t)
    a = AutoCrews(
        target_utilization=t.num(
            "target_utilization", 0.7, minimum=0, strict=True, maximum=1
        ),
        min_per_skill=t.integer("min_per_skill", 1, minimum=0),
        max_per_skill=t.integer("max_per_skill", 50, minimum=1),
        shift_start_h=start,
        shift_hours=hours,
        speed_kmh=t.num("speed_kmh", 30.0, minimum=0, strict=True),
        capacity=t.integer("capacity", 3, minimum=1),
        skill_level=t.integer("skill_level", 1, minimum=1),
        travel_allowance_s=t.num("travel_allowance_s", 900.0, minimum=0),
    )
    t.done()
    return a


def _behaviour(t: _Table) -> Behaviour:
    tiers = t.nums("tier_mix", [1.0])
    b = Behaviour(
        actual_duration_cv=t.num("actual_duration_cv", 0.3, minimum=0),
        cancel_probability=t.num("cancel_probability", 0.02, minimum=0, maximum=1),
        cancel_delay_mean_s=t.num(
            "cancel_delay_mean_s", 3_600.0, minimum=0, strict=True
        ),
        decline_probability=t.num("decline_probability", 0.02, minimum=0, maximum=0.99),
        tier_mix=tuple(v / sum(tiers) for v in tiers),
    )
    t.done()
    return b


def _check_tiers(
    policy: Policy, groups: tuple[TechnicianGroup, ...], auto: AutoCrews | None
) -> None:
    """Every tier an escalation rule moves a ticket to is held by some technician group."""
    if auto is not None:
        return  # crews per replayed skill: a tier skill is checked when the run starts
    for i, rule in enumerate(policy.escalations):
        if rule.tier_skill and not any(
            g.skills.get(rule.tier_skill, 0) >= rule.tier_level for g in groups
        ):
            raise ScenarioError(
                f"escalations[{i}].tier_skill",
                f"no technician group holds {rule.tier_skill!r} at level "
                f">= {rule.tier_level}",
            )


def scenario_from_dict(
    doc: dict[str, Any], base_dir: Path | None = None, source: Path | None = None
) -> Scenario:
    """Validate a parsed TOML document into a :class:`Scenario`.

    Parameters
    ----------
    doc
        The parsed TOML.
    base_dir
        Directory that relative ``replay.path`` values are resolved against.

    Raises
    ------
    ScenarioError
        Naming the first invalid field.
    """
    base = base_dir or Path.cwd()
    top = _Table(doc, "")
    sim = top.sub("simulation")
    name = sim.string("name", source.stem if source else "scenario")
    horizon_s = sim.num("horizon_s", minimum=0, strict=True)
    seed = sim.integer("seed", 0, minimum=0)
    debounce_s = sim.num("debounce_s", 30.0, minimum=0)
    sample_every_s = sim.num("sample_every_s", 900.0, minimum=0, strict=True)
    description = sim.string("description", "")
    sim.done()

    geography = _geography(top.sub("geography"))
    has_arr, has_rep = top.has("arrivals"), top.has("replay")
    if has_arr == has_rep:
        raise ScenarioError(
            "arrivals", "exactly one of [arrivals] (synthetic) or [replay] is required"
        )
    arrivals = _arrivals(top.sub("arrivals")) if has_arr else None
    replay = _replay(top.sub("replay"), base) if has_rep else None

    tech = top.sub("technicians")
    groups = _groups(tech)
    auto = _auto(tech.sub("auto")) if tech.has("auto") else None
    tech.done()
    if not groups and auto is None:
        raise ScenarioError(
            "technicians", "needs [[technicians.groups]] or [technicians.auto]"
        )
    if auto is not None and replay is None:
        raise ScenarioError(
            "technicians.auto",
            "only valid with [replay] (crews are sized from the replayed stream)",
        )
    if arrivals is not None:
        held = {s for g in groups for s in g.skills}
        for c in arrivals.categories:
            if c.skill not in held and auto is None:
                raise ScenarioError(
                    f"arrivals.categories.{c.name}.skill",
                    f"no technician group holds skill {c.skill!r}",
                )

    behaviour = _behaviour(top.sub("behaviour", {}))

    # A scenario simulates the escalation rules it names (none without [[escalations]],
    # not the policy file's default rule).
    policy_doc: dict[str, Any] = {"schema_version": 1, "escalations": []}
    for key in ("weights", "solver", "sla", "calendars", "escalations"):
        if key in doc:
            policy_doc[key] = top.raw(key)
    try:
        policy = policy_from_document(policy_doc)
    except PolicyError as exc:
        raise ScenarioError(exc.field, exc.message) from exc
    top.done()
    _check_tiers(policy, groups, auto)

    return Scenario(
        name=name,
        description=description,
        horizon_s=horizon_s,
        seed=seed,
        geography=geography,
        arrivals=arrivals,
        replay=replay,
        groups=groups,
        auto_crews=auto,
        behaviour=behaviour,
        policy=policy,
        debounce_s=debounce_s,
        sample_every_s=sample_every_s,
        source=source,
    )


def load_run_scenario(
    name_or_path: str | Path,
    *,
    policy_file: str | Path | None = None,
    horizon_s: float | None = None,
    replay_file: str | Path | None = None,
) -> Scenario:
    """A scenario as a run uses it: ``replay_file`` (see :func:`load_scenario`) replaces
    its stream, ``policy_file`` (a policy TOML/JSON) its policy, ``horizon_s`` its horizon
    (checked: a positive finite number of seconds).

    Raises
    ------
    ScenarioError
        As :func:`load_scenario`, or for a bad ``horizon_s``.
    """
    import dataclasses

    from solver.policy import load_policy_file

    sc = load_scenario(name_or_path, replay_file=replay_file)
    if policy_file:
        sc = dataclasses.replace(sc, policy=load_policy_file(policy_file))
    if horizon_s is not None:
        if not horizon_s > 0 or horizon_s == math.inf:
            raise ScenarioError(
                "horizon_s", f"must be a positive number of seconds, got {horizon_s:g}"
            )
        sc = dataclasses.replace(sc, horizon_s=float(horizon_s))
    return sc


def load_scenario(
    name_or_path: str | Path, *, replay_file: str | Path | None = None
) -> Scenario:
    """Read and validate a scenario file (a path, or a shipped scenario's name).

    ``replay_file``: a TOML file holding one ``[replay]`` table (with ``[replay.columns]``,
    the keys of a scenario's ``[replay]``; ``path`` relative to that file). It replaces the
    scenario's stream (``[replay]`` or ``[arrivals]``): your own CSV on the scenario's
    crews, behaviour and policy.

    Raises
    ------
    ScenarioError
        A file is not valid TOML or a field is invalid (the message names it; for the
        replay file, after its path).
    FileNotFoundError
        No such file or shipped scenario.
    """
    path = resolve_scenario_path(name_or_path)
    doc = _read_toml(path)
    if replay_file is not None:
        doc = {k: v for k, v in doc.items() if k not in ("arrivals", "replay")}
        doc["replay"] = _replay_table(Path(replay_file))
    try:
        return scenario_from_dict(doc, base_dir=path.parent, source=path)
    except ScenarioError as exc:
        if replay_file is None or not exc.field.startswith("replay"):
            raise
        raise ScenarioError(str(replay_file), str(exc)) from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(str(path), f"not valid TOML: {exc}") from exc


def _replay_table(replay_file: Path) -> Any:
    """The ``[replay]`` table of a replay file, its ``path`` made absolute."""
    if not replay_file.is_file():
        raise FileNotFoundError(f"no replay file {str(replay_file)!r}")
    doc = _read_toml(replay_file)
    extra = sorted(set(doc) - {"replay"})
    if extra or "replay" not in doc:
        raise ScenarioError(
            str(replay_file),
            "must hold one [replay] table and nothing else"
            + (f" (found {', '.join(extra)})" if extra else ""),
        )
    table = doc["replay"]
    if isinstance(table, dict) and isinstance(table.get("path"), str):
        table["path"] = str((replay_file.parent / table["path"]).resolve())
    return table
