"""The dispatch service: gRPC API, Redis state store, solve loop, metrics and CLI."""
