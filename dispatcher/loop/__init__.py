"""The continuous solve loop: region leases, snapshots, solver workers, SLA and duplicate steps."""
