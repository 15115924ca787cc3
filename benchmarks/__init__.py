"""Benchmarks that print figures and write JSON under benchmarks/results/: run one with
``./dev bench NAME`` (``python -m benchmarks.NAME`` from the repository root)."""
