"""The dispatch policy as plain data: one model for the live service and the simulator.

A policy holds what the optimizer weighs (``CostWeights``), the SLA targets per priority,
the escalation and duplicate rules, how often and how hard to solve, and which regions
an escalated ticket may widen to. It is validated on construction (``PolicyError`` names the
offending field as a dotted path) and converts to and from a plain dict (JSON in the
service's store, protobuf via the dict at the API edge) and a TOML file (what
``dispatcher sim tune`` writes and ``dispatcher policy apply`` loads).

The file format (``schema_version = 2``) is the dict form plus three header keys::

    schema_version = 2
    name = "tuned-city"             # optional free text
    description = "..."             # optional free text

    [weights]                       # any subset of solver.CostWeights
    travel = 1.0
    [solver]                        # cadence_s, debounce_ms, time_limit_s, candidates_k,
    candidates_k = 16               #   allow_overtime, all_pairs, seed, batch
    [sla.P1]                        # one table per priority P1..P4
    response_s = 3600.0
    resolution_s = 14400.0
    calendar = "desk"               # optional: count working seconds of [calendars.desk]
    [calendars.desk]                # business hours (solver.business_time.BusinessCalendar)
    time_zone = "Europe/Berlin"
    days = [1, 2, 3, 4, 5]          # ISO weekdays
    start = "09:00"
    end = "17:00"
    holidays = ["2026-12-25"]
    [[escalations]]                 # EscalationRule fields
    name = "p1-not-accepted-10min"
    [duplicates]                    # DuplicateRule fields
    [neighbours]                    # region = ["other", ...]

Missing sections and keys take the defaults below; unknown keys are errors (a typo must not
silently fall back to a default). Files of ``schema_version = 1`` (written before the model
was unified: the service's extra sections under ``[extra]``, and the older solver defaults
``cadence_s = 60``, ``candidates_k = 8``, ``time_limit_s = 10``) load unchanged.

Pure: the standard library, ``tomli_w`` and ``solver.model``; no I/O except
``load_policy_file`` / ``write_policy_file``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from solver.business_time import (
    BusinessCalendar,
    CalendarError,
    add_business_seconds,
    business_seconds_between,
)
from solver.model import CostWeights, SolveParams

SCHEMA_VERSION = 2
PRIORITIES = (1, 2, 3, 4)
_WEIGHT_NAMES = frozenset(f.name for f in dataclasses.fields(CostWeights))

ESCALATION_CONDITIONS = (
    "not_assigned",
    "not_accepted",
    "not_started",
    "not_resolved",
    "at_risk",
)
"""When a rule fires: the ticket has not yet reached that stage ``after_s`` after submit
(``at_risk``: it was signalled SLA at risk and work has not started)."""

DEFAULT_SUPERVISOR_TARGET = "supervisors"
"""The group a rule's supervisor notice goes to when the rule names none."""

SUPERVISOR_OVERRIDE = "supervisor-override"
"""The name a supervisor override (``solver.declines.OVERRIDE_RULE``) is recorded under,
among a ticket's fired rules and as its TICKET_ESCALATED event's reason; reserved, no
policy rule may take it."""

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_GROUP_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")
_SKILL_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,64}$")
EMAIL_MAX = 254

LEGACY_KEYS = frozenset({"supervisor_stream"})
"""Keys of older stored policies and files, accepted and ignored (supervisor notices are
events on the region's stream now, addressed by each rule's ``supervisor_target``)."""


class PolicyError(ValueError):
    """A policy failed validation: ``field`` is the offending field (dotted path),
    ``message`` what is wrong with it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """SLA targets for one priority, in seconds after submit: elapsed seconds, or working
    seconds of the policy's calendar named ``calendar`` (``solver.business_time``)."""

    response_s: float
    resolution_s: float
    calendar: str = ""  # "" = the clock always runs


@dataclass(frozen=True, slots=True)
class EscalationRule:
    """If a ticket of ``priority`` (0 = any) is still ``condition`` ``after_s`` after submit:
    raise its priority by ``raise_priority`` steps (P1 is the ceiling), widen it to the
    neighbouring regions, notify ``supervisor_target`` (an email address or a group id)
    with a SUPERVISOR_NOTIFIED event, and/or move it to the next support tier: its
    requirement of skill ``tier_skill`` becomes at least ``tier_level`` (e.g. skill
    "desk", level 2 = second line), so only that tier may take it. Fires once per ticket."""

    name: str
    priority: int = 1
    condition: str = "not_accepted"
    after_s: float = 600.0
    raise_priority: int = 1
    widen_to_neighbours: bool = True
    notify_supervisor: bool = True
    supervisor_target: str = DEFAULT_SUPERVISOR_TARGET
    tier_skill: str = ""  # "" = no tier change
    tier_level: int = 0  # 1..10 when tier_skill is set


@dataclass(frozen=True, slots=True)
class DuplicateRule:
    """A new ticket matching an open one (same asset, or same category within
    ``radius_m`` and ``window_s``) is linked instead of dispatched."""

    enabled: bool = True
    by_asset: bool = True
    radius_m: float = 50.0
    window_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class SolverSettings:
    """How often and how hard to solve.

    ``all_pairs`` and ``seed`` are the simulator's knobs: the live service always solves
    over ``candidates_k`` candidates with seed 0 and refuses a policy that sets them.

    ``batch``: batch (one-shot) planning, for a plan made once and judged once (a day
    planned in one go from a snapshot; ``benchmarks.static_snapshot``): polish also
    inserts and replaces tickets (``solver.SolveParams.batch``), within
    ``time_limit_s``. Off by default, and off for the live loop and the simulator, which
    re-plan every few seconds: there a ticket left out is planned again at the next
    solve, and filling every place raised breaches (simulations/README.md).
    """

    cadence_s: float = 5.0  # a solve at least this often per region (the clock moves)
    debounce_ms: float = 5.0  # wait this long after a change for more changes
    time_limit_s: float = 2.0
    candidates_k: int = 16
    allow_overtime: bool = False
    all_pairs: bool = False
    seed: int = 0
    batch: bool = False


DEFAULT_SLA: Mapping[int, SlaTarget] = {
    1: SlaTarget(response_s=3600.0, resolution_s=4 * 3600.0),
    2: SlaTarget(response_s=4 * 3600.0, resolution_s=8 * 3600.0),
    3: SlaTarget(response_s=8 * 3600.0, resolution_s=24 * 3600.0),
    4: SlaTarget(response_s=24 * 3600.0, resolution_s=72 * 3600.0),
}


def _default_escalations() -> tuple[EscalationRule, ...]:
    return (EscalationRule(name="p1-not-accepted-10min"),)


@dataclass(frozen=True, slots=True)
class Policy:
    """The whole policy of one tenant (or one region of it, or one simulated scenario)."""

    weights: CostWeights = field(default_factory=CostWeights)
    sla: dict[int, SlaTarget] = field(default_factory=lambda: dict(DEFAULT_SLA))
    escalations: tuple[EscalationRule, ...] = field(
        default_factory=_default_escalations
    )
    duplicates: DuplicateRule = field(default_factory=DuplicateRule)
    solver: SolverSettings = field(default_factory=SolverSettings)
    neighbours: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Region -> regions an escalated ticket may widen to."""
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    """Named business-hours calendars the SLA targets may count in."""
    name: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        validate(self)

    def sla_for(self, priority: int) -> SlaTarget:
        """The SLA target of a priority (the nearest defined one when missing)."""
        if priority in self.sla:
            return self.sla[priority]
        best = min(self.sla, key=lambda p: (abs(p - priority), p))
        return self.sla[best]

    def due_times(
        self,
        priority: int,
        created: float,
        response_due: float = 0,
        resolution_due: float = 0,
        *,
        per_second: float = 1.0,
        origin_s: float = 0.0,
    ) -> tuple[float, float]:
        """The SLA due-time rule (its one owner): a ticket's own due times where it has them
        (0 = none), else its submit time plus this policy's target for its priority.

        Times are in the unit of ``created`` (``per_second`` of them per second: 1000 for
        milliseconds). A derived due time never contradicts a given one: a derived
        resolution is not before a given response, a derived response not after a given
        resolution (two derived ones are ordered by the targets' own validation).
        """
        target = self.sla_for(priority)
        response = response_due or self._after(target, created, target.response_s,
                                               per_second, origin_s)  # fmt: skip
        resolution = resolution_due or self._after(
            target, created, target.resolution_s, per_second, origin_s
        )
        if response_due and not resolution_due:
            resolution = max(resolution, response)
        elif resolution_due and not response_due:
            response = min(response, resolution)
        return response, resolution

    def resumed_due_times(
        self,
        priority: int,
        due: tuple[float, float],
        paused: float,
        resumed: float,
        *,
        per_second: float = 1.0,
        origin_s: float = 0.0,
    ) -> tuple[float, float]:
        """The pause rule (its one owner): a ticket's (response, resolution) due times after
        its clock stood still from ``paused`` to ``resumed`` (a PENDING wait). Each moves
        later by the clock time the wait took: elapsed time, or the working seconds of the
        priority's calendar (the clock left at the pause is counted on from the resume).
        A due time already past at the pause, 0 (none) or infinite, stays. Times in the
        unit of ``per_second`` per second, like :meth:`due_times` (``origin_s``: the epoch
        second of time 0, for a calendar)."""
        target = self.sla_for(priority)
        cal = self.calendars.get(target.calendar) if target.calendar else None

        def moved(d: float) -> float:
            if not d or d <= paused or not math.isfinite(d):
                return d
            if cal is None:
                return d + (resumed - paused)

            def epoch(x: float) -> float:
                return origin_s + x / per_second

            left = business_seconds_between(cal, epoch(paused), epoch(d))
            end = add_business_seconds(cal, epoch(resumed), left)
            return (end - origin_s) * per_second

        return moved(due[0]), moved(due[1])

    def _after(
        self,
        target: SlaTarget,
        created: float,
        seconds: float,
        per_second: float,
        origin_s: float,
    ) -> float:
        """``seconds`` of the target's clock after ``created`` (its unit; ``origin_s``:
        the epoch second of ``created = 0``, for a calendar)."""
        if not target.calendar:
            return created + seconds * per_second
        start = origin_s + created / per_second
        end = add_business_seconds(self.calendars[target.calendar], start, seconds)
        return (end - origin_s) * per_second

    def solve_params(self, seed: int | None = None) -> SolveParams:
        """The solver's parameters (``seed`` overrides the policy's)."""
        s = self.solver
        return SolveParams(
            weights=self.weights,
            candidates_k=s.candidates_k,
            all_pairs=s.all_pairs,
            time_limit_s=s.time_limit_s,
            allow_overtime=s.allow_overtime,
            seed=s.seed if seed is None else seed,
            batch=s.batch,
        )


def _finite(
    name: str, value: float, *, positive: bool = False, nonneg: bool = False
) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
    ):
        raise PolicyError(name, f"must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise PolicyError(name, f"must be > 0, got {value}")
    if nonneg and value < 0:
        raise PolicyError(name, f"must be >= 0, got {value}")


def _flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise PolicyError(name, f"must be true or false, got {value!r}")


def _integer(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PolicyError(name, f"must be an integer >= {minimum}, got {value!r}")


def is_email(target: str) -> bool:
    """A supervisor target that is an email address (else it is a group id)."""
    return len(target) <= EMAIL_MAX and bool(_EMAIL_RE.match(target))


def _check_supervisor_target(name: str, rule: EscalationRule) -> None:
    target = rule.supervisor_target
    if not isinstance(target, str):
        raise PolicyError(name, f"must be a string, got {target!r}")
    if not target:
        if rule.notify_supervisor:
            raise PolicyError(name, "is required when notify_supervisor is set")
        return
    if "@" in target:
        if not is_email(target):
            raise PolicyError(name, f"{target!r} is not an email address")
    elif not _GROUP_RE.match(target):
        raise PolicyError(
            name,
            f"{target!r} is neither an email address nor a group id "
            "(1..128 characters from [A-Za-z0-9._:/-])",
        )


def _check_calendars(policy: Policy) -> None:
    """Every SLA target's calendar is defined; calendar names follow the group-id rule."""
    for prio, target in policy.sla.items():
        if not isinstance(target.calendar, str):
            raise PolicyError(f"sla.P{prio}.calendar", "must be a string")
        if target.calendar and target.calendar not in policy.calendars:
            raise PolicyError(f"sla.P{prio}.calendar", "names no calendar in calendars")
    for name, cal in policy.calendars.items():
        if not isinstance(name, str) or not _GROUP_RE.match(name):
            raise PolicyError(
                f"calendars.{name}", "name must be 1..128 of [A-Za-z0-9._:/-]"
            )
        if not isinstance(cal, BusinessCalendar):
            raise PolicyError(f"calendars.{name}", "must be a calendar table")


def _check_tier(where: str, rule: EscalationRule) -> None:
    if not isinstance(rule.tier_skill, str) or (
        rule.tier_skill and not _SKILL_RE.match(rule.tier_skill)
    ):
        raise PolicyError(
            f"{where}.tier_skill", "must be a skill name (1..64 of [A-Za-z0-9._:/-])"
        )
    if rule.tier_skill:
        _integer(f"{where}.tier_level", rule.tier_level, 1)
        if rule.tier_level > 10:
            raise PolicyError(f"{where}.tier_level", "must be 1..10")
    elif rule.tier_level:
        raise PolicyError(f"{where}.tier_level", "needs tier_skill")


def _check_sla(policy: Policy) -> None:
    if not policy.sla:
        raise PolicyError("sla", "at least one priority needs a target")
    for prio, target in policy.sla.items():
        if prio not in PRIORITIES:
            raise PolicyError(f"sla.P{prio}", "priority must be 1..4")
        _finite(f"sla.P{prio}.response_s", target.response_s, positive=True)
        _finite(f"sla.P{prio}.resolution_s", target.resolution_s, positive=True)
        if target.resolution_s < target.response_s:
            raise PolicyError(f"sla.P{prio}.resolution_s", "must be >= response_s")


def _check_escalation(where: str, rule: EscalationRule, taken: set[str]) -> None:
    """One escalation rule; ``taken``: the names of the rules before it."""
    if not isinstance(rule.name, str) or not rule.name or rule.name in taken:
        raise PolicyError(f"{where}.name", "must be non-empty and unique")
    if rule.name == SUPERVISOR_OVERRIDE:
        raise PolicyError(
            f"{where}.name",
            f"{SUPERVISOR_OVERRIDE!r} is reserved (the supervisor override)",
        )
    if rule.priority not in (0, *PRIORITIES):
        raise PolicyError(f"{where}.priority", "must be 0 (any) or 1..4")
    if rule.condition not in ESCALATION_CONDITIONS:
        raise PolicyError(
            f"{where}.condition", f"must be one of {ESCALATION_CONDITIONS}"
        )
    _finite(f"{where}.after_s", rule.after_s, nonneg=True)
    if not 0 <= rule.raise_priority <= 3:
        raise PolicyError(f"{where}.raise_priority", "must be 0..3")
    _check_supervisor_target(f"{where}.supervisor_target", rule)
    _check_tier(where, rule)


def validate(policy: Policy) -> None:
    """Raise ``PolicyError`` naming the first invalid field."""
    for f in dataclasses.fields(CostWeights):
        _finite(f"weights.{f.name}", getattr(policy.weights, f.name), nonneg=True)
    _check_sla(policy)
    _check_calendars(policy)
    names: set[str] = set()
    for i, rule in enumerate(policy.escalations):
        _check_escalation(f"escalations[{i}]", rule, names)
        names.add(rule.name)
    _finite("duplicates.radius_m", policy.duplicates.radius_m, nonneg=True)
    _finite("duplicates.window_s", policy.duplicates.window_s, nonneg=True)
    s = policy.solver
    _finite("solver.cadence_s", s.cadence_s, positive=True)
    _finite("solver.debounce_ms", s.debounce_ms, nonneg=True)
    _finite("solver.time_limit_s", s.time_limit_s, positive=True)
    if s.debounce_ms > 10_000:
        raise PolicyError("solver.debounce_ms", "must be <= 10000")
    _integer("solver.candidates_k", s.candidates_k, 1)
    _integer("solver.seed", s.seed, 0)
    _flag("solver.allow_overtime", s.allow_overtime)
    _flag("solver.all_pairs", s.all_pairs)
    _flag("solver.batch", s.batch)
    for key in ("name", "description"):
        if not isinstance(getattr(policy, key), str):
            raise PolicyError(key, "must be a string")


# --- plain-data form (JSON in Redis, TOML on disk, pb via this dict) ---------------------


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """The plain-data form; ``policy_from_dict(policy_to_dict(p)) == p``."""
    data: dict[str, Any] = {
        "weights": dataclasses.asdict(policy.weights),
        "sla": {f"P{p}": dataclasses.asdict(t) for p, t in sorted(policy.sla.items())},
        "escalations": [dataclasses.asdict(r) for r in policy.escalations],
        "duplicates": dataclasses.asdict(policy.duplicates),
        "solver": dataclasses.asdict(policy.solver),
        "neighbours": {k: list(v) for k, v in sorted(policy.neighbours.items())},
        "calendars": {
            k: {
                **dataclasses.asdict(c),
                "days": list(c.days),
                "holidays": list(c.holidays),
            }
            for k, c in sorted(policy.calendars.items())
        },
    }
    for target in data["sla"].values():
        if not target["calendar"]:
            del target["calendar"]  # the common case stays as before
    for key in ("name", "description"):
        if getattr(policy, key):
            data[key] = getattr(policy, key)
    return data


def _build(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise PolicyError(where, "must be a table")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise PolicyError(f"{where}.{unknown[0]}", "unknown field")
    try:
        return cls(**dict(data))
    except TypeError as exc:
        raise PolicyError(where, str(exc)) from exc


def _priority(key: Any) -> int:
    text = str(key).strip().upper().removeprefix("P")
    if not text.isdigit():
        raise PolicyError(f"sla.{key}", "priority key must be P1..P4 or 1..4")
    return int(text)


def _neighbours(data: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(data, Mapping):
        raise PolicyError("neighbours", "must be a table of region -> [regions]")
    out: dict[str, tuple[str, ...]] = {}
    for region, others in data.items():
        if not isinstance(others, list | tuple) or not all(
            isinstance(o, str) for o in others
        ):
            raise PolicyError(f"neighbours.{region}", "must be a list of region names")
        out[str(region)] = tuple(others)
    return out


def _escalations(rules: Any) -> tuple[EscalationRule, ...]:
    if not isinstance(rules, list | tuple):
        raise PolicyError("escalations", "must be a list")
    return tuple(
        _build(EscalationRule, r, f"escalations[{i}]") for i, r in enumerate(rules)
    )


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    """Build and validate a policy; missing sections and keys take the defaults (a given
    ``sla`` table replaces the whole table: priorities it leaves out use the nearest one)."""
    base = Policy()
    known = {f.name for f in dataclasses.fields(Policy)}
    unknown = sorted(set(data) - known - LEGACY_KEYS)
    if unknown:
        raise PolicyError(unknown[0], "unknown field")
    kwargs: dict[str, Any] = {}
    if "weights" in data:
        for name, value in _table(data, "weights").items():
            if name in _WEIGHT_NAMES:
                _finite(f"weights.{name}", value, nonneg=True)
    for key, cls in (
        ("weights", CostWeights),
        ("duplicates", DuplicateRule),
        ("solver", SolverSettings),
    ):
        if key in data:
            merged = {**dataclasses.asdict(getattr(base, key)), **_table(data, key)}
            kwargs[key] = _build(cls, merged, key)
    if "sla" in data:
        kwargs["sla"] = {
            _priority(k): _build(SlaTarget, v, f"sla.{k}")
            for k, v in _table(data, "sla").items()
        }
    if "escalations" in data:
        kwargs["escalations"] = _escalations(data["escalations"])
    if "neighbours" in data:
        kwargs["neighbours"] = _neighbours(data["neighbours"])
    if "calendars" in data:
        kwargs["calendars"] = {
            str(k): _calendar(v, f"calendars.{k}")
            for k, v in _table(data, "calendars").items()
        }
    for key in ("name", "description"):
        if key in data:
            kwargs[key] = data[key]
    return dataclasses.replace(base, **kwargs)


def _calendar(data: Any, where: str) -> BusinessCalendar:
    if not isinstance(data, Mapping):
        raise PolicyError(where, "must be a table")
    body = dict(data)
    for key in ("days", "holidays"):
        if key in body:
            if not isinstance(body[key], list | tuple):
                raise PolicyError(f"{where}.{key}", "must be a list")
            body[key] = tuple(body[key])
    try:
        cal: BusinessCalendar = _build(BusinessCalendar, body, where)
    except CalendarError as exc:
        raise PolicyError(
            f"{where}.{exc.field.removeprefix('calendar.')}", exc.message
        ) from exc
    return cal


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data[key]
    if not isinstance(value, Mapping):
        raise PolicyError(key, "must be a table")
    return value


def policy_to_json(policy: Policy) -> str:
    return json.dumps(policy_to_dict(policy), sort_keys=True)


def policy_from_json(text: str) -> Policy:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError("policy", f"not valid JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise PolicyError("policy", "must be an object")
    return policy_from_dict(data)


# --- TOML files --------------------------------------------------------------------------

LEGACY_SOLVER_DEFAULTS: Mapping[str, Any] = {
    "cadence_s": 60.0,
    "candidates_k": 8,
    "time_limit_s": 10.0,
}
"""Solver defaults of a ``schema_version = 1`` file (the simulator's older defaults)."""

_LEGACY_EXTRA = ("escalations", "duplicates", "neighbours", "supervisor_stream")


def _from_schema_1(doc: dict[str, Any]) -> dict[str, Any]:
    """A version 1 document in the version 2 layout: ``[extra]`` unfolded, the older solver
    defaults, and each ``[sla.Pn]`` merged over that priority's default target (version 1
    always had all four priorities)."""
    extra = doc.pop("extra", {})
    if not isinstance(extra, dict):
        raise PolicyError("extra", "must be a table")
    extra = dict(extra)
    solver = dict(LEGACY_SOLVER_DEFAULTS)
    solver.update(_table(doc, "solver") if "solver" in doc else {})
    if "debounce_ms" in extra:
        solver["debounce_ms"] = extra.pop("debounce_ms")
    doc["solver"] = solver
    sla = {f"P{p}": dataclasses.asdict(t) for p, t in DEFAULT_SLA.items()}
    for key, target in (_table(doc, "sla") if "sla" in doc else {}).items():
        if key not in sla:
            raise PolicyError(f"sla.{key}", "unknown priority (use P1, P2, P3, P4)")
        if not isinstance(target, Mapping):
            raise PolicyError(f"sla.{key}", "must be a table")
        sla[key] = {**sla[key], **target}
    doc["sla"] = sla
    for key in _LEGACY_EXTRA:
        if key in extra:
            doc[key] = extra.pop(key)
    if extra:
        raise PolicyError(f"extra.{sorted(extra)[0]}", "unknown key")
    return doc


def policy_from_document(doc: Mapping[str, Any]) -> Policy:
    """A parsed policy file (a dict with its ``schema_version``) as a validated policy."""
    body = dict(doc)
    version = body.pop("schema_version", None)
    if version == 1:
        body = _from_schema_1(body)
    elif version != SCHEMA_VERSION:
        raise PolicyError(
            "schema_version", f"must be 1 or {SCHEMA_VERSION}, got {version!r}"
        )
    return policy_from_dict(body)


def policy_from_toml(text: str) -> Policy:
    """Parse and validate a policy document given as TOML text (no I/O)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError("(file)", f"not valid TOML: {exc}") from exc
    return policy_from_document(doc)


def policy_to_toml(policy: Policy) -> str:
    """Serialise to TOML text; ``policy_from_toml(policy_to_toml(p)) == p``."""
    data = policy_to_dict(policy)
    header = {"schema_version": SCHEMA_VERSION}
    for key in ("name", "description"):
        if key in data:
            header[key] = data.pop(key)
    for key in ("neighbours", "calendars"):
        if not data[key]:
            del data[key]
    return tomli_w.dumps({**header, **data})


def load_policy_file(path: str | Path) -> Policy:
    """Read and validate a policy file (``PolicyError`` names the field)."""
    return policy_from_toml(Path(path).read_text(encoding="utf-8"))


def write_policy_file(path: str | Path, policy: Policy) -> None:
    """Write ``policy`` as TOML to ``path`` (parent directories created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(policy_to_toml(policy), encoding="utf-8")
