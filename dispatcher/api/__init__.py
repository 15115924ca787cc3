"""The gRPC edge: servicers, protobuf <-> domain conversion, call observation, auth, health, server."""

from dispatcher.api.server import ServerBindError, create_server

__all__ = ["ServerBindError", "create_server"]
