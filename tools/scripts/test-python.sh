#!/usr/bin/env bash
# `make test-python`: the Python client's tests, against a real kefu-server.
#
# Creates a throwaway venv under the cargo target dir, pip installs
# ./clients/python into it (pip's build generates the stubs from server/proto)
# with pytest, and runs clients/python/tests, which build an index with
# target/debug/kefu and start target/debug/kefu-server on loopback (the Makefile
# builds both first). Skips, saying so, only where python3 is missing; a
# python3 without venv support on Debian gets python3-venv when run as root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/tools/scripts/venv.sh"
PYTHON="${PYTHON:-python3}"
TARGET="$(venv_target "$ROOT")"
VENV="$TARGET/py-venv"

say() { printf 'test-python: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

if ! command -v "$PYTHON" >/dev/null; then
  say "SKIPPED: $PYTHON not found, so the Python client (clients/python) is not tested; install python3 (3.9 or later) to run it"
  exit 0
fi

venv_create "$PYTHON" "$VENV"

cd "$ROOT"
# pip builds ./clients/python in place; a build/ left by an older tree must not leak into the wheel.
rm -rf clients/python/build
say "installing ./clients/python and pytest into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check ./clients/python pytest
KEFU_BIN_DIR="$TARGET/debug" "$VENV/bin/python" -m pytest -p no:cacheprovider clients/python/tests
