"""Redis connections: cluster-aware client helpers, observed clients, embedded servers and clusters."""
