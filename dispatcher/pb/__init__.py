"""Generated protobuf and gRPC code for dispatch.v1; never edited by hand (see `./dev proto`)."""
