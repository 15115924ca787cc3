"""The gRPC edge: servicers, protobuf <-> domain conversion, call observation, auth, health, server."""
