"""Policy file: round trip, defaults, and errors that name the field."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from simulations.policy_file import (
    DEFAULT_SLA_TARGETS,
    PolicyFile,
    PolicyFileError,
    SlaTarget,
    load_policy_file,
    policy_from_toml,
    policy_to_toml,
    write_policy_file,
)
from solver.model import CostWeights, SolveParams

if TYPE_CHECKING:
    from pathlib import Path


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    """What write_policy_file writes, load_policy_file reads back equal."""
    policy = PolicyFile(
        solve_params=SolveParams(
            weights=CostWeights(travel=1.5, lateness=22.25, balance=17.0),
            candidates_k=8,
            time_limit_s=2.5,
            allow_overtime=True,
            seed=3,
        ),
        sla_targets={**DEFAULT_SLA_TARGETS, 1: SlaTarget(600.0, 7200.0)},
        cadence_s=15.0,
        name='tuned "city"',
        extra={"debounce_ms": 50, "escalations": [{"priority": 1, "after_s": 600.0}]},
    )
    path = tmp_path / "p" / "policy.toml"
    write_policy_file(path, policy)
    assert load_policy_file(path) == policy


def test_empty_document_gives_defaults() -> None:
    """Only schema_version is required; everything else falls back to the defaults."""
    p = policy_from_toml("schema_version = 1\n")
    assert p.solve_params == SolveParams()
    assert p.sla_targets == DEFAULT_SLA_TARGETS
    assert policy_from_toml(policy_to_toml(p)) == p


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("schema_version = 2", "schema_version"),
        ("schema_version = 1\n[weights]\ntravle = 1.0", "weights.travle"),
        ("schema_version = 1\n[weights]\ntravel = -1.0", "weights.travel"),
        ("schema_version = 1\n[weights]\ntravel = 'x'", "weights.travel"),
        ("schema_version = 1\n[solver]\ncandidates_k = 0", "solver.candidates_k"),
        ("schema_version = 1\n[solver]\ntime_limit_s = 0", "solver.time_limit_s"),
        ("schema_version = 1\n[solver]\nall_pairs = 1", "solver.all_pairs"),
        ("schema_version = 1\n[sla.P5]\nresponse_s = 1.0", "sla.P5"),
        (
            "schema_version = 1\n[sla.P1]\nresponse_s = 100.0\nresolution_s = 50.0",
            "sla.P1.resolution_s",
        ),
        ("schema_version = 1\nfoo = 1", "foo"),
        ("schema_version = ", "(file)"),
    ],
)
def test_bad_field_is_named(text: str, field: str) -> None:
    """A bad document raises PolicyFileError whose message starts with the field."""
    with pytest.raises(PolicyFileError) as info:
        policy_from_toml(text)
    assert info.value.field == field
    assert str(info.value).startswith(field + ":")


def test_weights_section_covers_every_cost_weight() -> None:
    """The written file lists every CostWeights field, so a reader sees the full policy."""
    text = policy_to_toml(PolicyFile())
    for f in dataclasses.fields(CostWeights):
        assert f"\n{f.name} = " in text
