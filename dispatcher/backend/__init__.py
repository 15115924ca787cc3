"""Redis connections: cluster-aware client helpers, observed clients, embedded servers and clusters."""

from dispatcher.backend.embedded import EmbeddedRedis
from dispatcher.backend.serve_process import ServeProcess, start_serve

__all__ = ["EmbeddedRedis", "ServeProcess", "start_serve"]
# (``backend.embedded_cluster`` runs as ``python -m``: it is not imported here)
