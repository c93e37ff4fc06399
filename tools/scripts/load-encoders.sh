#!/bin/bash
# The server end to end for each encoder setting (docs/performance.md, "Open loop"):
# precision, threads per worker, workers — the highest rate of new questions with OK
# p99 <= 50 ms, cache hits at 1 000/s, and for int8 with two workers 3 000/s past
# saturation. CONFIGS="int8 1 2,f32 2 1" picks settings. Loopback only, bounded in time
# (about 6 minutes). Needs release builds: cargo build --release -p kefu -p kefu-server -p kefu-bench
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release}
OUT=${OUT:-target/load-encoders}
ADDR=127.0.0.1:50071
METRICS=127.0.0.1:9471
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$BIN/kefu" build --kb datasets/kb.jsonl --out "$work/index" > /dev/null
configs=("f32 2 1" "f32 1 2" "int8 2 1" "int8 1 2")
if [ -n "${CONFIGS:-}" ]; then IFS=, read -ra configs <<< "$CONFIGS"; fi
for cfg in "${configs[@]}"; do
  set -- $cfg
  tag="$1-$2t-$3w"
  "$BIN/kefu-server" --index "$work/index" --listen $ADDR --metrics $METRICS \
    --routing-dir "$work/routing-$tag" --precision "$1" --encoder-threads "$2" --encoder-workers "$3" > "$OUT/server-$tag.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do curl -sf $METRICS/readyz > /dev/null && break; sleep 0.5; done
  "$BIN/kefu-load" --addr $ADDR --find-max-rate --p99-ms 50 --repeat-share 0 --deadline-ms 200 \
    --start-rate 200 --step-secs 5 --json > "$OUT/max-$tag.json"
  "$BIN/kefu-load" --addr $ADDR --rate 1000 --duration-secs 10 --repeat-share 1 --json > "$OUT/repeats-$tag.json"
  if [ "$tag" = "int8-1t-2w" ]; then
    "$BIN/kefu-load" --addr $ADDR --rate 3000 --duration-secs 10 --repeat-share 0 --deadline-ms 200 \
      --json > "$OUT/saturated-$tag.json"
  fi
  curl -s $METRICS/metrics | grep -E '^kefu_encoder_(batch_size|queue_wait_seconds|pass_duration_seconds)_(sum|count)' \
    > "$OUT/metrics-$tag.txt"
  kill $pid; wait $pid 2>/dev/null || true
  python3 - "$OUT" "$tag" <<'PY'
import json, sys
out, tag = sys.argv[1], sys.argv[2]
best = json.load(open(f"{out}/max-{tag}.json"))["best_rate"]
rep = json.load(open(f"{out}/repeats-{tag}.json"))["latency_us"]
m = dict(l.rsplit(" ", 1) for l in open(f"{out}/metrics-{tag}.txt").read().splitlines())
g = lambda k: float(m[f'{k}{{lane="interactive"}}'])
per_q = g("kefu_encoder_pass_duration_seconds_sum") / max(g("kefu_encoder_batch_size_sum"), 1) * 1e3
batch = g("kefu_encoder_batch_size_sum") / max(g("kefu_encoder_batch_size_count"), 1)
print(f"| {tag} | {best:.0f} | {batch:.1f} | {per_q:.1f} ms | {rep['p50']/1e3:.2f} / {rep['p99']/1e3:.2f} ms |")
PY
done
echo "JSON reports in $OUT"
