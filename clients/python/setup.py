"""Builds kefu-client, generating kefu's gRPC stubs from the server's .proto files.

The stubs are never checked in: every build runs grpcio-tools' protoc on the
.proto files the server itself is built from, so client and server cannot drift.
They are looked for, in order, in $KEFU_PROTO_DIR, in proto/ beside this file
(where an sdist carries them) and in ../../server/proto (a kefu checkout: pip
builds a local directory in place, so `pip install ./clients/python` finds them).
"""

import os
import re
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
PROTO_PACKAGE = Path("kefu", "v1")
GENERATED = Path("kefu_client", "v1")
# Used only when grpcio-tools is not installed while reading metadata (a non-isolated build).
FALLBACK_REQUIREMENTS = ["grpcio>=1.66", "protobuf>=5.27"]


def proto_root() -> Path:
    """The directory holding kefu/v1/*.proto, or a build error that says where it looked."""
    candidates = []
    if os.environ.get("KEFU_PROTO_DIR"):
        candidates.append(Path(os.environ["KEFU_PROTO_DIR"]).resolve())
    candidates += [HERE / "proto", HERE.parent.parent / "server" / "proto"]
    for root in candidates:
        if any((root / PROTO_PACKAGE).glob("*.proto")):
            return root
    looked = ", ".join(str(c / PROTO_PACKAGE) for c in candidates)
    raise SystemExit(
        f"kefu-client: cannot find kefu's .proto files (kefu/v1/*.proto); looked in {looked}. "
        "Install from a kefu checkout (`pip install ./clients/python`, which pip builds in place) "
        "or set KEFU_PROTO_DIR to the checkout's server/proto."
    )


def generate(out: Path) -> None:
    """Writes kefu_client/v1/*_pb2.py, *_pb2.pyi and *_pb2_grpc.py under `out`, imports made relative."""
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError as e:
        raise SystemExit(f"kefu-client: building needs grpcio-tools ({e}); pip installs it as a build requirement")
    root = proto_root()
    files = sorted(p.relative_to(root).as_posix() for p in (root / PROTO_PACKAGE).glob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [f"-I{root}", f"-I{well_known}", f"--python_out={tmp}", f"--pyi_out={tmp}", f"--grpc_python_out={tmp}"]
        rc = protoc.main(["grpc_tools.protoc", *args, *files])
        if rc != 0:
            raise SystemExit(f"kefu-client: protoc failed (exit {rc}) on {', '.join(files)} under {root}")
        dest = out / GENERATED
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "__init__.py").write_text('"""kefu.v1 messages and stubs, generated from server/proto at build time."""\n')
        for f in sorted((Path(tmp) / PROTO_PACKAGE).iterdir()):
            # protoc writes `from kefu.v1 import x_pb2`; the stubs live in kefu_client.v1 instead.
            text = re.sub(r"^from kefu\.v1 import ", "from . import ", f.read_text(), flags=re.M)
            if re.search(r"^\s*(from|import) kefu\b", text, flags=re.M):
                raise SystemExit(f"kefu-client: {f.name} imports kefu.* in a form this build cannot relocate")
            (dest / f.name).write_text(text)


def runtime_requirements() -> list:
    """grpcio and protobuf as bounded by the grpcio-tools that generates the stubs (they check both)."""
    try:
        reqs = metadata.requires("grpcio-tools") or []
    except metadata.PackageNotFoundError:
        return FALLBACK_REQUIREMENTS
    keep = [r for r in reqs if re.match(r"(grpcio|protobuf)\s*[<>=!~]", r) and ";" not in r]
    return keep or FALLBACK_REQUIREMENTS


class BuildPyWithStubs(build_py):
    """build_py that also generates the stubs: into the build, or into the source tree when editable."""

    def run(self):
        super().run()
        if not self.dry_run:
            generate(HERE if self.editable_mode else Path(self.build_lib))


class SdistWithProtos(sdist):
    """An sdist carries the .proto files in proto/, so it builds away from the kefu checkout."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        root = proto_root()
        if root != HERE / "proto":
            shutil.copytree(root / PROTO_PACKAGE, Path(base_dir, "proto", PROTO_PACKAGE), dirs_exist_ok=True)


setup(
    install_requires=runtime_requirements(),
    cmdclass={"build_py": BuildPyWithStubs, "sdist": SdistWithProtos},
)
