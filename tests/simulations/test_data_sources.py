"""Data shipped with the repository states its own provenance (a clone has no /work/shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p
    for d in ("tests/data", "simulations/data", "data")
    if (ROOT / d).is_dir()
    for p in (ROOT / d).rglob("SOURCE.md")
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_source_notes_do_not_point_outside_the_repository(path: Path) -> None:
    """No SOURCE.md sends the reader to the build machine's shared folder."""
    text = path.read_text()
    assert "/work/shared" not in text
    assert "../shared" not in text


def test_orlib_source_names_the_original_and_the_commits() -> None:
    """OR-Library (Beasley) plus the two mirror repositories at their commits."""
    text = (ROOT / "tests/data/orlib/SOURCE.md").read_text()
    assert "OR-Library" in text
    assert "Beasley" in text
    assert "github.com/tiago-rodrigues1/hospital-match" in text
    assert "55796bed512c6f600745ebeddaec849e1bed425c" in text
    assert "github.com/NicolasCorvol/Metaheuristic" in text
    assert "e2e2868d93e7630365161d138e7c86d68d66ae00" in text
