#!/usr/bin/env bash
# Overload attack on loopback: starts the given kefu-server binary on the sample
# index, runs kefu-load with 200 and then 1 500 callers of new questions (each
# for a bounded time, without and with a per-call deadline) and prints a table.
# Run it once with an old build ("before") and once with a new one ("after").
#
#   tools/scripts/attack-overload.sh SERVER_BIN [SECONDS] [DEADLINE_MS]
#
# Environment: KEFU_BIN (kefu, builds the index; default target/release/kefu),
# KEFU_LOAD (default target/release/kefu-load), KEFU_MODEL_DIR (default
# models/all-MiniLM-L6-v2), KEFU_ATTACK_PORT (gRPC port, default 50161),
# KEFU_ATTACK_CALLERS (default "200 1500"), KEFU_ATTACK_BACKOFF_MS (a refused
# caller's pause before its next call, default 0: retry at once).
set -euo pipefail

server=${1:?usage: attack-overload.sh SERVER_BIN [SECONDS] [DEADLINE_MS]}
seconds=${2:-10}
deadline_ms=${3:-50}
kefu=${KEFU_BIN:-target/release/kefu}
load=${KEFU_LOAD:-target/release/kefu-load}
model=${KEFU_MODEL_DIR:-models/all-MiniLM-L6-v2}
port=${KEFU_ATTACK_PORT:-50161}
callers=${KEFU_ATTACK_CALLERS:-200 1500}
backoff=${KEFU_ATTACK_BACKOFF_MS:-0}
addr=127.0.0.1:$port

for bin in "$server" "$kefu" "$load"; do
    [[ -x $bin ]] || { echo "attack-overload: $bin is not an executable (make release?)" >&2; exit 2; }
done

work=$(mktemp -d)
pid=
cleanup() {
    if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$kefu" build --kb datasets/kb.jsonl --out "$work/index" --model "$model" >/dev/null
"$server" --index "$work/index" --model "$model" --listen "$addr" --metrics 127.0.0.1:0 \
    --routing-dir "$work/routing" >"$work/server.log" 2>&1 &
pid=$!

# Ready when one call answers (at most 60 s).
for _ in $(seq 120); do
    if "$load" --addr "$addr" --concurrency 1 --requests 1 --duration 5 2>/dev/null | grep -q '^OK: 1'; then
        break
    fi
    kill -0 "$pid" 2>/dev/null || { echo "attack-overload: server exited:" >&2; cat "$work/server.log" >&2; exit 1; }
    sleep 0.5
done

echo "server: $server ($(git -C "$(dirname "$server")" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "| callers | deadline | calls | OK | p50 | p99 | first error | errors |"
echo "|---|---|---|---|---|---|---|---|"
for n in $callers; do
    for d in none "$deadline_ms"; do
        args=(--addr "$addr" --concurrency "$n" --duration "$seconds" --unique --markdown-row --backoff-ms "$backoff")
        [[ $d == none ]] || args+=(--deadline-ms "$d")
        "$load" "${args[@]}" | grep '^| '
        sleep 1
    done
done
