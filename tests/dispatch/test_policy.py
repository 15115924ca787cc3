"""Policy: validation naming the field, the simulator's file loads unchanged, versioned store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dispatcher.policy import (
    EscalationRule,
    Policy,
    PolicyConflict,
    PolicyError,
    PolicyStore,
    SlaTarget,
    load_policy_file,
    policy_from_json,
    policy_from_toml,
    policy_to_json,
    policy_to_toml,
)
from simulations.policy_file import PolicyFile, write_policy_file
from solver.model import CostWeights, SolveParams

if TYPE_CHECKING:
    from pathlib import Path

    import redis.asyncio as aioredis


def test_defaults_round_trip_json_and_toml() -> None:
    """A policy survives JSON (Redis) and TOML (policy file) round trips unchanged."""
    policy = Policy(neighbours={"north": ("south",)})
    assert policy_from_json(policy_to_json(policy)) == policy
    assert policy_from_toml(policy_to_toml(policy)) == policy


def test_simulator_policy_file_loads_unchanged(tmp_path: Path) -> None:
    """A file written by the simulator's tuner (no [extra]) loads with its weights and SLA."""
    doc = PolicyFile(
        solve_params=SolveParams(weights=CostWeights(travel=2.5), candidates_k=8),
        cadence_s=30.0,
        name="tuned",
    )
    path = tmp_path / "policy.toml"
    write_policy_file(path, doc)
    policy = load_policy_file(path)
    assert policy.weights.travel == 2.5
    assert policy.solver.candidates_k == 8
    assert policy.solver.cadence_s == 30.0
    assert policy.sla[1].response_s == doc.sla_targets[1].response_s


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("schema_version = 1\n[weights]\ntravel = -1\n", "weights.travel"),
        (
            "schema_version = 1\n[sla.P1]\nresponse_s = 10\nresolution_s = 5\n",
            "sla.P1.resolution_s",
        ),
        ("schema_version = 1\n[extra]\nbogus = 1\n", "extra.bogus"),
        (
            'schema_version = 1\n[extra]\nescalations = [{name = "x", condition = "never"}]\n',
            "escalations[0].condition",
        ),
    ],
)
def test_invalid_policy_names_field(text: str, field: str) -> None:
    """Validation errors name the offending field."""
    with pytest.raises(PolicyError) as info:
        policy_from_toml(text)
    assert info.value.field == field


def test_duplicate_rule_names_rejected() -> None:
    """Two escalation rules may not share a name."""
    rule = EscalationRule(name="a")
    with pytest.raises(PolicyError, match="escalations"):
        Policy(escalations=(rule, rule))


async def test_store_versions_and_history(redis_client: aioredis.Redis) -> None:
    """Updates bump the version, record who and when, and keep the history newest first."""
    store = PolicyStore(redis_client)
    assert (await store.get("acme")).version == 0
    v1 = await store.update("acme", Policy(), updated_by="alice")
    faster = Policy(sla={1: SlaTarget(60.0, 600.0)})
    v2 = await store.update("acme", faster, updated_by="bob", expected_version=1)
    assert (v1.version, v2.version) == (1, 2)
    current = await store.get("acme")
    assert current.policy == faster
    assert current.updated_by == "bob"
    assert current.updated_at_ms > 0
    assert [h.updated_by for h in await store.history("acme")] == ["bob", "alice"]
    with pytest.raises(PolicyConflict):
        await store.update("acme", Policy(), updated_by="carol", expected_version=1)
    # a region override wins over the tenant policy; other regions see the tenant's
    await store.update("acme", Policy(), updated_by="dave", scope="north")
    assert (await store.effective("acme", "north")).scope == "north"
    assert (await store.effective("acme", "south")).policy == faster
    assert (await store.get("other")).version == 0
