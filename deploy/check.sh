#!/usr/bin/env bash
# `make deploy-check`: 3 answer replicas + a router behind nginx on loopback, kefu-load
# through nginx (Ask, with Route calls mixed in for the router) while a rolling reload
# builds and rolls out a new index version; then the same load straight to one replica.
# Fails (exit 1) on any failed call, a replica that served no calls, or a reload that
# did not reach every replica. Bounded in time; stops and removes everything it
# started, on failure too.
#
# Settings: CARGO [cargo], KEFU_DEPLOY_PORT [47100], DEPLOY_CHECK_CONCURRENCY [8],
# DEPLOY_CHECK_DIRECT_SECS [10].
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
CARGO=${CARGO:-cargo}
BIN=$REPO/target/release
MODEL=$REPO/models/all-MiniLM-L6-v2
CONCURRENCY=${DEPLOY_CHECK_CONCURRENCY:-8}
DIRECT_SECS=${DEPLOY_CHECK_DIRECT_SECS:-10}
# The load through nginx runs until the reload is done plus this, and never longer than
# LOAD_MAX_SECS (kefu-load's own bound) — a stuck reload cannot hang the check.
AFTER_RELOAD_SECS=3
LOAD_MAX_SECS=300
# Every Nth call through nginx is a Routing/Route (to the router).
ROUTE_EVERY=20

export KEFU_DEPLOY_RUN KEFU_BIN=$BIN REPLICAS=3
KEFU_DEPLOY_RUN=$(mktemp -d /tmp/kefu-deploy-check.XXXXXX)
RUN=$KEFU_DEPLOY_RUN
load_pid=""
cleanup() {
    local rc=$?
    [[ -n $load_pid ]] && kill -INT "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
    bash deploy/replicas.sh stop >/dev/null 2>&1 || true
    if ((rc != 0)); then
        echo "deploy-check FAILED; logs kept in $RUN.logs" >&2
        mkdir -p "$RUN.logs" && cp "$RUN"/*.log "$RUN"/*.txt "$RUN"/nginx.conf "$RUN.logs/" 2>/dev/null || true
    fi
    rm -rf "$RUN"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "deploy-check: $*" >&2; exit 1; }
summary() { grep '^summary ' "$1" | sed 's/^summary //'; }
field() { summary "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

[[ -f $MODEL/model.safetensors ]] || fail "no model in $MODEL: run make model"
echo "== building release binaries"
$CARGO build --release -p kefu -p kefu-server
$CARGO build --release -p kefu-bench --bin kefu-load

echo "== building the sample index into $RUN/index"
"$BIN/kefu" build --kb datasets/kb.jsonl --out "$RUN/index" --model "$MODEL" >"$RUN/build.log" 2>&1 ||
    { tail -n 5 "$RUN/build.log" >&2; fail "kefu build failed"; }
first=$(tr -d '[:space:]' <"$RUN/index/current")

echo "== starting 3 answer replicas, the router and nginx"
KEFU_INDEX=$RUN/index KEFU_MODEL_DIR=$MODEL bash deploy/replicas.sh start
# shellcheck source=/dev/null
source "$RUN/topology.env"

echo "== kefu-load through nginx ($LB_GRPC) during a rolling reload"
"$BIN/kefu-load" --addr "$LB_GRPC" --concurrency "$CONCURRENCY" --duration "$LOAD_MAX_SECS" --requests 100000000 \
    --route-every "$ROUTE_EVERY" >"$RUN/load-nginx.txt" 2>&1 &
load_pid=$!
sleep 2
kill -0 "$load_pid" 2>/dev/null || { cat "$RUN/load-nginx.txt" >&2; fail "kefu-load stopped before the reload"; }
# A new version can share the first one's second; wait until its name would differ.
while [[ v$(date +%s) == "$first" ]]; do sleep 0.2; done
bash deploy/rolling-reload.sh --kb datasets/kb.jsonl | tee "$RUN/reload.txt"
second=$(tr -d '[:space:]' <"$RUN/index/current")
[[ $second != "$first" ]] || fail "the rolling reload built no new version"
sleep "$AFTER_RELOAD_SECS"
kill -0 "$load_pid" 2>/dev/null || fail "the load ended before the reload did (raise LOAD_MAX_SECS)"
kill -INT "$load_pid"
wait "$load_pid" || { cat "$RUN/load-nginx.txt" >&2; fail "kefu-load through nginx failed"; }
load_pid=""
cat "$RUN/load-nginx.txt"

# Calls each answer replica served, from its own /metrics (every RPC, every status).
per_replica=()
for ((i = 1; i < ${#NAMES[@]}; i++)); do
    n=$(curl -fsS "http://${HTTP[$i]}/metrics" |
        awk '/^kefu_requests_total\{/ && /Ask/ { s += $NF } END { printf "%d", s }')
    per_replica+=("${NAMES[$i]}=$n")
    ((n > 0)) || fail "${NAMES[$i]} served no Ask calls: nginx did not spread the load"
done
routes=$(grep -E '^Route OK: ' "$RUN/load-nginx.txt" | sed 's/.*: //' || true)

echo "== the same load straight to ${NAMES[1]} (${GRPC[1]}), Ask only, ${DIRECT_SECS}s"
"$BIN/kefu-load" --addr "${GRPC[1]}" --concurrency "$CONCURRENCY" --duration "$DIRECT_SECS" \
    >"$RUN/load-direct.txt" 2>&1 || { cat "$RUN/load-direct.txt" >&2; fail "kefu-load direct failed"; }
cat "$RUN/load-direct.txt"

echo
echo "== deploy-check report"
echo "replicas:        3 answer + 1 router behind nginx (gRPC $LB_GRPC, HTTP $LB_HTTP)"
echo "rolling reload:  $first -> $second on every replica, under load"
echo "through nginx:   $(summary "$RUN/load-nginx.txt") (Route calls OK: ${routes:-0})"
echo "answer replicas: ${per_replica[*]} Ask calls"
echo "direct:          $(summary "$RUN/load-direct.txt")"
echo "(latencies from a shared, busy machine are not figures: rerun on a quiet one)"
failed=$(($(field "$RUN/load-nginx.txt" failed) + $(field "$RUN/load-direct.txt" failed)))
((failed == 0)) || fail "$failed calls failed"
((${routes:-0} > 0)) || fail "no Route call reached the router through nginx"
echo "deploy-check: PASS"
