#!/usr/bin/env bash
# `make bench-peers`: kefu's encoder and search beside onnxruntime, hnswlib and faiss,
# on the same questions and vectors (bench/peers/peers.py; the Makefile builds
# target/release/kefu first).
#
# Makes a throwaway venv under the cargo target dir (kept while
# bench/peers/requirements.txt is unchanged), pip installs the requirements
# (one by one if the set fails, so a package this platform lacks is reported and
# its rows skipped), and runs the script with any arguments given ($PEERS_ARGS
# from make). Markdown goes to stdout, JSON to $TARGET/bench-peers.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/tools/scripts/venv.sh"
PYTHON="${PYTHON:-python3}"
TARGET="$(venv_target "$ROOT")"
VENV="$TARGET/bench-peers-venv"
REQS="$ROOT/bench/peers/requirements.txt"

say() { printf 'bench-peers: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

command -v "$PYTHON" >/dev/null || fail "$PYTHON not found; install python3 (3.9 or later)"

stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  venv_create "$PYTHON" "$VENV"
  pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  say "installing bench/peers/requirements.txt into $VENV"
  if ! "${pip[@]}" -r "$REQS"; then
    say "the set did not install; trying each package alone"
    while read -r req; do
      "${pip[@]}" "$req" || say "MISSING: $req did not install here; the script skips what needs it"
    done < <(grep -Ev '^[[:space:]]*(#|$)' "$REQS")
  fi
  echo "$want" >"$stamp"
fi

cd "$ROOT"
"$VENV/bin/python" bench/peers/peers.py \
  --kefu "$TARGET/release/kefu" --work "$TARGET/bench-peers" --json-out "$TARGET/bench-peers.json" "$@"
