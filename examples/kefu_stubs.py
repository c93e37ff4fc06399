"""Shared by the examples: kefu's Python stubs, generated from server/proto at run time."""
import importlib
import os
import sys
import tempfile

PROTO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server", "proto")


def load(*names):
    """Generates stubs for kefu/v1/{names}.proto and imports them: (answers_pb2, answers_pb2_grpc)."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="kefu-stubs-")
    files = [os.path.join("kefu", "v1", f"{n}.proto") for n in names]
    rc = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"--python_out={out}", f"--grpc_python_out={out}", *files])
    if rc != 0:
        sys.exit(f"protoc failed ({rc})")
    sys.path.insert(0, out)
    return importlib.import_module("kefu.v1.answers_pb2"), importlib.import_module("kefu.v1.answers_pb2_grpc")
