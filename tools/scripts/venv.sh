# Sourced by the scripts that run Python in a throwaway venv under the cargo target
# dir (test-python.sh, bench-peers.sh); the caller defines say() and fail().
#
# venv_target ROOT      prints the cargo target dir ($CARGO_TARGET_DIR or ROOT/target), absolute
# venv_create PY DIR    (re)creates a venv at DIR with interpreter PY; a python3 without
#                       venv support on Debian gets python3-venv when run as root

venv_target() {
  local target="${CARGO_TARGET_DIR:-target}"
  case "$target" in /*) ;; *) target="$1/$target" ;; esac
  printf '%s\n' "$target"
}

venv_create() {
  local python="$1" dir="$2"
  _venv_make() { rm -rf "$dir" && "$python" -m venv "$dir"; }
  _venv_make && return 0
  # Debian ships ensurepip, which venv needs, apart from python3: in python3-venv.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "'$python -m venv' failed; installing Debian's python3-venv"
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    _venv_make || fail "'$python -m venv $dir' still fails after installing python3-venv"
  else
    fail "'$python -m venv $dir' failed; install venv support (Debian: apt-get install python3-venv) and retry"
  fi
}
