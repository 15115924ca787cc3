"""Where the shipped scenario files are, by name (no import of the solver: the CLI lists
them while it builds its parser)."""

from __future__ import annotations

from pathlib import Path

SCENARIO_DIR = Path(__file__).parent / "scenarios"


def shipped_scenarios() -> list[str]:
    """The names of the scenarios shipped in ``simulations/scenarios/``, sorted."""
    return sorted(q.stem for q in SCENARIO_DIR.glob("*.toml"))


def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """A path as given, or the name of a shipped scenario (:func:`shipped_scenarios`)."""
    p = Path(name_or_path)
    if p.exists():
        return p
    shipped = SCENARIO_DIR / f"{name_or_path}.toml"
    if shipped.exists():
        return shipped
    known = ", ".join(shipped_scenarios())
    raise FileNotFoundError(
        f"no scenario file {str(name_or_path)!r} (shipped: {known})"
    )
