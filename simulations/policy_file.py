"""Policy file: the TOML document the tuner writes and the service loads unchanged.

Pure (no I/O except the two ``*_file`` helpers) and dependency-light: it imports only the
standard library and ``solver.model``, so the service can import it without pulling in the
simulator.

Schema (version 1)::

    schema_version = 1              # required, int
    name = "tuned-city-2026-11-25"  # optional, free text
    description = "..."             # optional, free text

    [weights]                       # optional; any subset of solver.CostWeights fields (floats)
    travel = 1.0
    lateness = 10.0
    # waiting, skill_surplus, balance, preference, tier, stability, unassigned

    [solver]                        # optional; solver.SolveParams fields except weights,
    candidates_k = 16               #   plus the service's solve cadence
    all_pairs = false
    time_limit_s = 10.0
    allow_overtime = false
    seed = 0
    cadence_s = 60.0                # the solve loop's at-least-every tick, seconds

    [sla.P1]                        # optional; one table per priority P1..P4
    response_s = 3600.0             # work must start within this many seconds of submission
    resolution_s = 14400.0          # work must end within this many seconds of submission

    [extra]                         # optional; free-form, kept verbatim (e.g. escalation rules)

Missing keys fall back to the defaults of ``CostWeights``, ``SolveParams`` and
``DEFAULT_SLA_TARGETS``. Unknown keys inside ``weights``, ``solver`` and ``sla.*`` are
errors (a typo must not silently fall back to a default), and so are unknown top-level keys.
Every error is a :class:`PolicyFileError` whose message names the offending field, e.g.
``weights.travel: must be a finite number >= 0, got -1``.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solver.model import CostWeights, SolveParams

SCHEMA_VERSION = 1
PRIORITIES = (1, 2, 3, 4)


class PolicyFileError(ValueError):
    """A policy document is invalid; the message starts with the dotted field name."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """SLA target of one priority, as durations from submission."""

    response_s: float
    resolution_s: float


DEFAULT_SLA_TARGETS: dict[int, SlaTarget] = {
    1: SlaTarget(response_s=3_600.0, resolution_s=4 * 3_600.0),
    2: SlaTarget(response_s=4 * 3_600.0, resolution_s=8 * 3_600.0),
    3: SlaTarget(response_s=8 * 3_600.0, resolution_s=24 * 3_600.0),
    4: SlaTarget(response_s=24 * 3_600.0, resolution_s=72 * 3_600.0),
}
DEFAULT_CADENCE_S = 60.0


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """A parsed policy document.

    Attributes
    ----------
    solve_params
        Solver settings with the weights inside (``solve_params.weights``).
    sla_targets
        Priority (1..4) -> :class:`SlaTarget`; always has all four priorities.
    cadence_s
        The solve loop's cadence tick in seconds.
    name, description
        Free text.
    extra
        The ``[extra]`` table, verbatim.
    """

    solve_params: SolveParams = field(default_factory=SolveParams)
    sla_targets: dict[int, SlaTarget] = field(
        default_factory=lambda: dict(DEFAULT_SLA_TARGETS)
    )
    cadence_s: float = DEFAULT_CADENCE_S
    name: str = ""
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def weights(self) -> CostWeights:
        return self.solve_params.weights


_WEIGHT_FIELDS = {f.name for f in dataclasses.fields(CostWeights)}
_SOLVER_FIELDS: dict[str, type] = {
    "candidates_k": int,
    "all_pairs": bool,
    "time_limit_s": float,
    "allow_overtime": bool,
    "seed": int,
    "cadence_s": float,
}
_TOP_LEVEL = {
    "schema_version",
    "name",
    "description",
    "weights",
    "solver",
    "sla",
    "extra",
}


def _number(
    value: Any, name: str, *, minimum: float = 0.0, strict: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyFileError(name, f"must be a number, got {value!r}")
    v = float(value)
    ok = math.isfinite(v) and (v > minimum if strict else v >= minimum)
    if not ok:
        op = ">" if strict else ">="
        raise PolicyFileError(
            name, f"must be a finite number {op} {minimum:g}, got {value!r}"
        )
    return v


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise PolicyFileError(key, f"must be a table, got {type(value).__name__}")
    return value


def policy_from_dict(doc: dict[str, Any]) -> PolicyFile:
    """Validate a parsed TOML document (a dict) and build a :class:`PolicyFile`.

    Raises
    ------
    PolicyFileError
        Naming the first invalid field.
    """
    for key in doc:
        if key not in _TOP_LEVEL:
            raise PolicyFileError(
                key, f"unknown key (allowed: {', '.join(sorted(_TOP_LEVEL))})"
            )
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise PolicyFileError(
            "schema_version", f"must be {SCHEMA_VERSION}, got {version!r}"
        )
    for key in ("name", "description"):
        if not isinstance(doc.get(key, ""), str):
            raise PolicyFileError(key, "must be a string")

    weights_doc = _table(doc, "weights")
    weights: dict[str, float] = {}
    for key, value in weights_doc.items():
        if key not in _WEIGHT_FIELDS:
            raise PolicyFileError(
                f"weights.{key}",
                f"unknown weight (known: {', '.join(sorted(_WEIGHT_FIELDS))})",
            )
        weights[key] = _number(value, f"weights.{key}")

    solver_doc = _table(doc, "solver")
    solver_kwargs: dict[str, Any] = {}
    for key, value in solver_doc.items():
        kind = _SOLVER_FIELDS.get(key)
        name = f"solver.{key}"
        if kind is None:
            raise PolicyFileError(
                name, f"unknown setting (known: {', '.join(sorted(_SOLVER_FIELDS))})"
            )
        if kind is bool:
            if not isinstance(value, bool):
                raise PolicyFileError(name, f"must be true or false, got {value!r}")
            solver_kwargs[key] = value
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise PolicyFileError(name, f"must be an integer, got {value!r}")
            if key == "candidates_k" and value < 1:
                raise PolicyFileError(name, f"must be >= 1, got {value}")
            solver_kwargs[key] = value
        else:
            solver_kwargs[key] = _number(value, name, strict=True)
    cadence_s = solver_kwargs.pop("cadence_s", DEFAULT_CADENCE_S)
    try:
        params = SolveParams(weights=CostWeights(**weights), **solver_kwargs)
    except ValueError as exc:  # SolveParams' own validation
        raise PolicyFileError("solver", str(exc)) from exc

    sla_doc = _table(doc, "sla")
    targets = dict(DEFAULT_SLA_TARGETS)
    for key, value in sla_doc.items():
        if key not in {f"P{p}" for p in PRIORITIES}:
            raise PolicyFileError(f"sla.{key}", "unknown priority (use P1, P2, P3, P4)")
        if not isinstance(value, dict):
            raise PolicyFileError(f"sla.{key}", "must be a table")
        p = int(key[1:])
        for sub in value:
            if sub not in {"response_s", "resolution_s"}:
                raise PolicyFileError(
                    f"sla.{key}.{sub}", "unknown key (use response_s, resolution_s)"
                )
        base = targets[p]
        response_s = _number(
            value.get("response_s", base.response_s),
            f"sla.{key}.response_s",
            strict=True,
        )
        resolution_s = _number(
            value.get("resolution_s", base.resolution_s),
            f"sla.{key}.resolution_s",
            strict=True,
        )
        if resolution_s < response_s:
            raise PolicyFileError(
                f"sla.{key}.resolution_s",
                f"must be >= response_s ({response_s:g}), got {resolution_s:g}",
            )
        targets[p] = SlaTarget(response_s=response_s, resolution_s=resolution_s)

    extra = _table(doc, "extra")
    return PolicyFile(
        solve_params=params,
        sla_targets=targets,
        cadence_s=cadence_s,
        name=str(doc.get("name", "")),
        description=str(doc.get("description", "")),
        extra=dict(extra),
    )


def policy_from_toml(text: str) -> PolicyFile:
    """Parse and validate a policy document given as TOML text (no I/O)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError("(file)", f"not valid TOML: {exc}") from exc
    return policy_from_dict(doc)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def policy_to_toml(policy: PolicyFile) -> str:
    """Serialise to TOML text; ``policy_from_toml(policy_to_toml(p)) == p``."""
    params = policy.solve_params
    lines = [f"schema_version = {SCHEMA_VERSION}"]
    if policy.name:
        lines.append(f"name = {_toml_value(policy.name)}")
    if policy.description:
        lines.append(f"description = {_toml_value(policy.description)}")
    lines += ["", "[weights]"]
    for f in dataclasses.fields(CostWeights):
        lines.append(
            f"{f.name} = {_toml_value(float(getattr(params.weights, f.name)))}"
        )
    lines += ["", "[solver]"]
    for key in _SOLVER_FIELDS:
        value = policy.cadence_s if key == "cadence_s" else getattr(params, key)
        lines.append(f"{key} = {_toml_value(value)}")
    for p in PRIORITIES:
        t = policy.sla_targets[p]
        lines += [
            "",
            f"[sla.P{p}]",
            f"response_s = {_toml_value(float(t.response_s))}",
            f"resolution_s = {_toml_value(float(t.resolution_s))}",
        ]
    if policy.extra:
        lines += ["", "[extra]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in policy.extra.items()]
    return "\n".join(lines) + "\n"


def load_policy_file(path: str | Path) -> PolicyFile:
    """Read and validate a policy file.

    Parameters
    ----------
    path
        A TOML file in the schema above.

    Returns
    -------
    PolicyFile
        ``.solve_params`` (a ``SolveParams`` with its ``CostWeights``), ``.sla_targets``
        (priority -> ``SlaTarget``), ``.cadence_s``, ``.name``, ``.extra``.

    Raises
    ------
    PolicyFileError
        The file is not valid TOML or a field is invalid (the message names it).
    """
    return policy_from_toml(Path(path).read_text(encoding="utf-8"))


def write_policy_file(path: str | Path, policy: PolicyFile) -> None:
    """Write ``policy`` as TOML to ``path`` (parent directories created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(policy_to_toml(policy), encoding="utf-8")
