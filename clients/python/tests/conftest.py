"""A real kefu-server for the tests: the sample KB's index built by `kefu build`,
served on loopback ports the server picks itself, torn down after the session.

The binaries come from $KEFU_BIN_DIR (default: <repo>/target/debug) and the model
from $KEFU_TEST_MODEL (default: <repo>/models/all-MiniLM-L6-v2); `make test-python`
builds the one and fetches the other.
"""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from kefu_client import Kefu

REPO = Path(__file__).resolve().parents[3]
BIN_DIR = Path(os.environ.get("KEFU_BIN_DIR", REPO / "target" / "debug"))
MODEL = Path(os.environ.get("KEFU_TEST_MODEL", REPO / "models" / "all-MiniLM-L6-v2"))
START_SECONDS = 60


@dataclass(frozen=True)
class Server:
    """Where the test server listens, and its files."""

    grpc_addr: str
    http_addr: str
    root: Path


def _env():
    # The server reads KEFU_* settings; the caller's must not leak into the test server.
    return {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}


def _binary(name):
    path = BIN_DIR / name
    if not path.is_file():
        pytest.exit(f"{path} is missing: run `cargo build -p kefu -p kefu-server` (make test-python does)", returncode=2)
    return str(path)


def _listening(log_path):
    """The gRPC and HTTP addresses from the server's JSON log, once both are logged."""
    grpc_addr = http_addr = None
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            fields = json.loads(line).get("fields", {})
        except ValueError:
            continue
        grpc_addr = fields.get("grpc_addr", grpc_addr)
        http_addr = fields.get("bound", http_addr)
    return grpc_addr, http_addr


def _ready(http_addr):
    try:
        with urllib.request.urlopen(f"http://{http_addr}/readyz", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    kefu, kefu_server = _binary("kefu"), _binary("kefu-server")
    if not (MODEL / "model.safetensors").is_file():
        pytest.exit(f"{MODEL} has no model.safetensors: run `make model`", returncode=2)
    root = tmp_path_factory.mktemp("kefu")
    index = root / "index"
    build = subprocess.run(
        # The cache `cargo test` fills (target/tmp/embed-cache): the KB is not embedded again.
        [kefu, "build", "--kb", str(REPO / "datasets" / "kb.jsonl"), "--out", str(index), "--model", str(MODEL),
         "--embed-cache", str(BIN_DIR.parent / "tmp" / "embed-cache")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, f"kefu build failed:\n{build.stderr}"

    log_path = root / "server.log"
    args = [kefu_server, "--index", str(index), "--model", str(MODEL), "--listen", "127.0.0.1:0"]
    args += ["--metrics", "127.0.0.1:0", "--routing-dir", str(root / "routing"), "--log-format", "json"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, env=_env(), cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"kefu-server exited with {proc.returncode}:\n{log_path.read_text()}")
            grpc_addr, http_addr = _listening(log_path)
            if grpc_addr and http_addr and _ready(http_addr):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"kefu-server not ready after {START_SECONDS} s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Server(grpc_addr, http_addr, root)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def kefu(server):
    with Kefu(server.grpc_addr, timeout=30.0) as k:
        yield k
