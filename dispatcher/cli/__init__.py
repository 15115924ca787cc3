"""Command-line entry points: ``dispatcher serve``, ``dispatcher policy``, stub generation."""
