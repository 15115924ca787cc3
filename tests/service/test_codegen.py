"""The committed generated code in dispatcher/pb matches a fresh generation from proto/."""

from __future__ import annotations

from dispatcher.cli import codegen
from dispatcher.pb import dispatch_pb2 as pb


def test_generated_code_is_up_to_date() -> None:
    """Regenerating into a temp dir gives byte-identical files (else run ./dev proto)."""
    stale = codegen.stale_files()
    assert stale == [], f"dispatcher/pb is stale: {stale}; run ./dev proto"


def test_every_proto_service_is_in_package_dispatch_v1() -> None:
    """The contract's services all live in protobuf package dispatch.v1."""
    from dispatcher.pb import dispatch_pb2

    names = [s.full_name for s in dispatch_pb2.DESCRIPTOR.services_by_name.values()]
    assert names
    assert all(n.startswith("dispatch.v1.") for n in names)


def test_proto_declares_package_options_for_other_languages() -> None:
    """go/java/csharp/php/ruby/objc generators get a package of their own (not protoc's
    defaults from the proto package); the generated Python carries them."""
    opts = pb.DESCRIPTOR.GetOptions()
    assert opts.go_package.endswith("/dispatch/v1;dispatchv1")
    assert opts.java_package == "com.dispatch.v1"
    assert opts.java_multiple_files
    assert opts.java_outer_classname == "DispatchProto"
    assert opts.csharp_namespace == "Dispatch.V1"
    assert opts.php_namespace == "Dispatch\\V1"
    assert opts.ruby_package == "Dispatch::V1"
    assert opts.objc_class_prefix == "DXX"
