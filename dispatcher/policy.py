"""Dispatch policy: weights, SLA targets, escalation and duplicate rules, solver settings.

A policy belongs to a tenant and may be overridden per region. It is validated on
construction, stored in Redis as JSON with a version, who changed it and when, and every
version is kept in a history list. The solve loop reads the current policy at the start of
every solve, so a change takes effect at the next solve. A policy file written by the
simulator's tuner (``simulations.policy_file``) loads unchanged through ``load_policy_file``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from solver.model import CostWeights, SolveParams

if TYPE_CHECKING:
    from pathlib import Path

    import redis.asyncio as aioredis

    from simulations.policy_file import PolicyFile

TENANT_SCOPE = ""
"""Scope of the tenant-wide policy; a region name scopes a per-region override."""

HISTORY_MAX = 1000
"""Versions kept per tenant and scope."""

ESCALATION_CONDITIONS = ("not_assigned", "not_accepted", "not_started", "not_resolved")
"""When a rule fires: the ticket has not yet reached that stage ``after_s`` after submit."""


class PolicyError(ValueError):
    """A policy failed validation; ``field`` names the offending field (dotted path)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class PolicyConflict(Exception):
    """An update named an expected version that is no longer current."""


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """SLA targets for one priority, in seconds after submit."""

    response_s: float
    resolution_s: float


@dataclass(frozen=True, slots=True)
class EscalationRule:
    """If a ticket of ``priority`` (0 = any) is still ``condition`` ``after_s`` after submit:
    raise its priority by ``raise_priority`` steps (P1 is the ceiling), widen it to the
    neighbouring regions, and/or notify a supervisor stream. Fires once per ticket."""

    name: str
    priority: int = 1
    condition: str = "not_accepted"
    after_s: float = 600.0
    raise_priority: int = 1
    widen_to_neighbours: bool = True
    notify_supervisor: bool = True


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
    """How often and how hard the live service solves."""

    cadence_s: float = 5.0  # a solve at least this often per region (the clock moves)
    debounce_ms: float = 5.0  # wait this long after a change for more changes
    time_limit_s: float = 2.0
    candidates_k: int = 16
    allow_overtime: bool = False


def _default_sla() -> dict[int, SlaTarget]:
    # The same defaults as simulations.policy_file.DEFAULT_SLA_TARGETS.
    return {
        1: SlaTarget(response_s=3600.0, resolution_s=4 * 3600.0),
        2: SlaTarget(response_s=4 * 3600.0, resolution_s=8 * 3600.0),
        3: SlaTarget(response_s=8 * 3600.0, resolution_s=24 * 3600.0),
        4: SlaTarget(response_s=24 * 3600.0, resolution_s=72 * 3600.0),
    }


def _default_escalations() -> tuple[EscalationRule, ...]:
    return (EscalationRule(name="p1-not-accepted-10min"),)


@dataclass(frozen=True, slots=True)
class Policy:
    """The whole policy of one tenant (or one region of it)."""

    weights: CostWeights = field(default_factory=CostWeights)
    sla: dict[int, SlaTarget] = field(default_factory=_default_sla)
    escalations: tuple[EscalationRule, ...] = field(
        default_factory=_default_escalations
    )
    duplicates: DuplicateRule = field(default_factory=DuplicateRule)
    solver: SolverSettings = field(default_factory=SolverSettings)
    neighbours: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Region -> regions an escalated ticket may widen to."""
    supervisor_stream: str = "supervisor"

    def __post_init__(self) -> None:
        validate(self)

    def sla_for(self, priority: int) -> SlaTarget:
        """The SLA target of a priority (the nearest defined one when missing)."""
        if priority in self.sla:
            return self.sla[priority]
        best = min(self.sla, key=lambda p: (abs(p - priority), p))
        return self.sla[best]

    def solve_params(self, seed: int = 0) -> SolveParams:
        return SolveParams(
            weights=self.weights,
            candidates_k=self.solver.candidates_k,
            time_limit_s=self.solver.time_limit_s,
            allow_overtime=self.solver.allow_overtime,
            seed=seed,
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


def validate(policy: Policy) -> None:
    """Raise ``PolicyError`` naming the first invalid field."""
    for f in dataclasses.fields(CostWeights):
        _finite(f"weights.{f.name}", getattr(policy.weights, f.name), nonneg=True)
    if not policy.sla:
        raise PolicyError("sla", "at least one priority needs a target")
    for prio, target in policy.sla.items():
        if prio not in (1, 2, 3, 4):
            raise PolicyError(f"sla.P{prio}", "priority must be 1..4")
        _finite(f"sla.P{prio}.response_s", target.response_s, positive=True)
        _finite(f"sla.P{prio}.resolution_s", target.resolution_s, positive=True)
        if target.resolution_s < target.response_s:
            raise PolicyError(f"sla.P{prio}.resolution_s", "must be >= response_s")
    names: set[str] = set()
    for i, rule in enumerate(policy.escalations):
        where = f"escalations[{i}]"
        if not rule.name or rule.name in names:
            raise PolicyError(f"{where}.name", "must be non-empty and unique")
        names.add(rule.name)
        if rule.priority not in (0, 1, 2, 3, 4):
            raise PolicyError(f"{where}.priority", "must be 0 (any) or 1..4")
        if rule.condition not in ESCALATION_CONDITIONS:
            raise PolicyError(
                f"{where}.condition", f"must be one of {ESCALATION_CONDITIONS}"
            )
        _finite(f"{where}.after_s", rule.after_s, nonneg=True)
        if not 0 <= rule.raise_priority <= 3:
            raise PolicyError(f"{where}.raise_priority", "must be 0..3")
    _finite("duplicates.radius_m", policy.duplicates.radius_m, nonneg=True)
    _finite("duplicates.window_s", policy.duplicates.window_s, nonneg=True)
    s = policy.solver
    _finite("solver.cadence_s", s.cadence_s, positive=True)
    _finite("solver.debounce_ms", s.debounce_ms, nonneg=True)
    _finite("solver.time_limit_s", s.time_limit_s, positive=True)
    if s.debounce_ms > 10_000:
        raise PolicyError("solver.debounce_ms", "must be <= 10000")
    if not isinstance(s.candidates_k, int) or s.candidates_k < 1:
        raise PolicyError("solver.candidates_k", "must be an integer >= 1")


# --- plain-data form (JSON in Redis, TOML on disk, pb via JSON) --------------------------


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    return {
        "weights": dataclasses.asdict(policy.weights),
        "sla": {f"P{p}": dataclasses.asdict(t) for p, t in sorted(policy.sla.items())},
        "escalations": [dataclasses.asdict(r) for r in policy.escalations],
        "duplicates": dataclasses.asdict(policy.duplicates),
        "solver": dataclasses.asdict(policy.solver),
        "neighbours": {k: list(v) for k, v in sorted(policy.neighbours.items())},
        "supervisor_stream": policy.supervisor_stream,
    }


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


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    """Build and validate a policy; missing sections fall back to defaults."""
    known = {f.name for f in dataclasses.fields(Policy)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise PolicyError(unknown[0], "unknown field")
    kwargs: dict[str, Any] = {}
    if "weights" in data:
        kwargs["weights"] = _build(CostWeights, data["weights"], "weights")
    if "sla" in data:
        sla_data = data["sla"]
        if not isinstance(sla_data, Mapping):
            raise PolicyError("sla", "must be a table")
        kwargs["sla"] = {
            _priority(k): _build(SlaTarget, v, f"sla.{k}") for k, v in sla_data.items()
        }
    if "escalations" in data:
        if not isinstance(data["escalations"], list):
            raise PolicyError("escalations", "must be a list")
        kwargs["escalations"] = tuple(
            _build(EscalationRule, r, f"escalations[{i}]")
            for i, r in enumerate(data["escalations"])
        )
    if "duplicates" in data:
        kwargs["duplicates"] = _build(DuplicateRule, data["duplicates"], "duplicates")
    if "solver" in data:
        kwargs["solver"] = _build(SolverSettings, data["solver"], "solver")
    if "neighbours" in data:
        kwargs["neighbours"] = {
            str(k): tuple(map(str, v)) for k, v in data["neighbours"].items()
        }
    if "supervisor_stream" in data:
        kwargs["supervisor_stream"] = str(data["supervisor_stream"])
    return Policy(**kwargs)


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


def policy_from_file_doc(doc: PolicyFile) -> Policy:
    """Convert the simulator's policy file (``simulations.policy_file``) to a ``Policy``.

    Weights, solver settings, cadence and SLA targets map one to one; escalation rules,
    the duplicate rule, neighbours, ``debounce_ms`` and ``supervisor_stream`` live in the
    file's free-form ``[extra]`` table (absent: the defaults). ``[solver] all_pairs`` and
    ``seed`` are simulator-only knobs the service has no setting for (it always solves over
    ``candidates_k`` candidate pairs, seed 0): anything but their defaults (``false``, ``0``,
    what ``dispatcher sim tune`` writes) is refused rather than silently dropped.
    """
    extra = dict(doc.extra)
    params = doc.solve_params
    if params.all_pairs:
        raise PolicyError(
            "solver.all_pairs",
            "the service has no all-pairs mode (it solves over candidates_k candidate "
            "pairs); set it to false or remove it",
        )
    if params.seed != 0:
        raise PolicyError(
            "solver.seed",
            f"the service always solves with seed 0, got {params.seed}; set it to 0 or "
            "remove it",
        )
    solver_data: dict[str, Any] = {
        "cadence_s": doc.cadence_s,
        "time_limit_s": params.time_limit_s,
        "candidates_k": params.candidates_k,
        "allow_overtime": params.allow_overtime,
    }
    if "debounce_ms" in extra:
        solver_data["debounce_ms"] = extra.pop("debounce_ms")
    data: dict[str, Any] = {
        "weights": dataclasses.asdict(params.weights),
        "sla": {f"P{p}": dataclasses.asdict(t) for p, t in doc.sla_targets.items()},
        "solver": solver_data,
    }
    for key in ("escalations", "duplicates", "neighbours", "supervisor_stream"):
        if key in extra:
            data[key] = extra.pop(key)
    if extra:
        raise PolicyError(f"extra.{sorted(extra)[0]}", "unknown key for the service")
    return policy_from_dict(data)


def policy_to_file_doc(policy: Policy, name: str = "") -> PolicyFile:
    """The inverse of ``policy_from_file_doc``: a document ``write_policy_file`` can write."""
    from simulations.policy_file import PolicyFile as _PolicyFile
    from simulations.policy_file import SlaTarget as _FileSla

    d = policy_to_dict(policy)
    extra: dict[str, Any] = {
        "debounce_ms": policy.solver.debounce_ms,
        "escalations": d["escalations"],
        "duplicates": d["duplicates"],
        "supervisor_stream": policy.supervisor_stream,
    }
    if policy.neighbours:
        extra["neighbours"] = d["neighbours"]
    return _PolicyFile(
        solve_params=policy.solve_params(),
        sla_targets={
            p: _FileSla(t.response_s, t.resolution_s) for p, t in policy.sla.items()
        },
        cadence_s=policy.solver.cadence_s,
        name=name,
        extra=extra,
    )


def load_policy_file(path: str | Path) -> Policy:
    """Load a policy file in the simulator's format (what ``dispatcher sim tune`` writes).

    Raises ``PolicyError`` naming the field (the file module's own error is re-raised as one).
    """
    from simulations.policy_file import PolicyFileError
    from simulations.policy_file import load_policy_file as _load

    try:
        doc = _load(path)
    except PolicyFileError as exc:
        raise PolicyError(exc.field, str(exc).split(": ", 1)[-1]) from exc
    return policy_from_file_doc(doc)


def policy_from_toml(text: str) -> Policy:
    """Parse a policy document (the simulator's file format) given as TOML text."""
    from simulations.policy_file import PolicyFileError
    from simulations.policy_file import policy_from_toml as _parse

    try:
        doc = _parse(text)
    except PolicyFileError as exc:
        raise PolicyError(exc.field, str(exc).split(": ", 1)[-1]) from exc
    return policy_from_file_doc(doc)


def policy_to_toml(policy: Policy) -> str:
    from simulations.policy_file import policy_to_toml as _write

    return _write(policy_to_file_doc(policy))


# --- versioned store ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One stored version of a policy."""

    tenant: str
    scope: str  # TENANT_SCOPE or a region
    version: int
    policy: Policy
    updated_by: str
    updated_at_ms: int
    comment: str = ""


def _current_key(tenant: str, scope: str) -> str:
    return f"dispatch:{{{tenant}}}:policy:{scope or '_tenant'}"


def _history_key(tenant: str, scope: str) -> str:
    return f"dispatch:{{{tenant}}}:policy:{scope or '_tenant'}:history"


# KEYS[1] current, KEYS[2] history; ARGV[1] expected version (-1 = any), ARGV[2] record
# JSON without version, ARGV[3] history cap. Returns the new version or -1 on conflict.
_UPDATE = """
local cur = redis.call('GET', KEYS[1])
local version = 0
if cur then version = cjson.decode(cur)['version'] end
local expected = tonumber(ARGV[1])
if expected >= 0 and expected ~= version then return -1 end
local rec = cjson.decode(ARGV[2])
rec['version'] = version + 1
local text = cjson.encode(rec)
redis.call('SET', KEYS[1], text)
redis.call('RPUSH', KEYS[2], text)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
return version + 1
"""


def _version_from_record(tenant: str, scope: str, text: str | bytes) -> PolicyVersion:
    rec = json.loads(text)
    return PolicyVersion(
        tenant=tenant,
        scope=scope,
        version=int(rec["version"]),
        policy=policy_from_json(rec["policy"]),
        updated_by=str(rec.get("updated_by", "")),
        updated_at_ms=int(rec.get("updated_at_ms", 0)),
        comment=str(rec.get("comment", "")),
    )


class PolicyStore:
    """Versioned policies in Redis; an unset policy reads as the defaults (version 0)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._update = redis.register_script(_UPDATE)
        self._parsed: dict[tuple[str, str], tuple[str | bytes, PolicyVersion]] = {}
        self._default = Policy()

    def _decode(self, tenant: str, scope: str, text: str | bytes) -> PolicyVersion:
        """Parse a stored record, reusing the last parse of the same text (the solve loop
        reads the policy every cycle; parsing and validating it each time is wasted work)."""
        key = (tenant, scope)
        hit = self._parsed.get(key)
        if hit is not None and hit[0] == text:
            return hit[1]
        version = _version_from_record(tenant, scope, text)
        if len(self._parsed) > 10_000:
            self._parsed.clear()
        self._parsed[key] = (text, version)
        return version

    async def get(self, tenant: str, scope: str = TENANT_SCOPE) -> PolicyVersion:
        """The policy stored for exactly this scope (defaults when none)."""
        text = await self._redis.get(_current_key(tenant, scope))
        if text is None:
            return PolicyVersion(tenant, scope, 0, self._default, "", 0)
        return self._decode(tenant, scope, text)

    async def effective(self, tenant: str, region: str) -> PolicyVersion:
        """The region's override when there is one, else the tenant's policy (one MGET: both
        keys carry the tenant's hash tag)."""
        override, base = await self._redis.mget(
            _current_key(tenant, region), _current_key(tenant, TENANT_SCOPE)
        )
        if override is not None:
            return self._decode(tenant, region, override)
        if base is not None:
            return self._decode(tenant, TENANT_SCOPE, base)
        return PolicyVersion(tenant, TENANT_SCOPE, 0, self._default, "", 0)

    async def update(
        self,
        tenant: str,
        policy: Policy,
        *,
        updated_by: str,
        scope: str = TENANT_SCOPE,
        expected_version: int | None = None,
        comment: str = "",
    ) -> PolicyVersion:
        """Store a validated policy as the next version; ``PolicyConflict`` on a lost race."""
        validate(policy)
        now_ms = int(time.time() * 1000)
        record = {
            "policy": policy_to_json(policy),
            "updated_by": updated_by,
            "updated_at_ms": now_ms,
            "comment": comment,
        }
        version = int(
            await self._update(
                keys=[_current_key(tenant, scope), _history_key(tenant, scope)],
                args=[
                    -1 if expected_version is None else expected_version,
                    json.dumps(record),
                    HISTORY_MAX,
                ],
            )
        )
        if version < 0:
            raise PolicyConflict(
                f"policy of {tenant!r} changed; expected version {expected_version}"
            )
        return PolicyVersion(
            tenant, scope, version, policy, updated_by, now_ms, comment
        )

    async def history(
        self, tenant: str, scope: str = TENANT_SCOPE, limit: int = 100
    ) -> list[PolicyVersion]:
        """Stored versions, newest first."""
        texts = await self._redis.lrange(
            _history_key(tenant, scope), -max(1, limit), -1
        )
        return [_version_from_record(tenant, scope, t) for t in reversed(texts)]
