#!/usr/bin/env bash
# Rolling reload of the processes deploy/replicas.sh started: optionally build a new
# index version into the shared root (kefu build writes it and flips `current`), then
# switch the replicas one at a time with Admin/Reload on each one's own HTTP port,
# waiting for each to report the new version before touching the next. The swap is in
# process (in-flight calls finish on the old version), so no replica leaves nginx.
#
#   deploy/rolling-reload.sh --kb datasets/kb.jsonl   # build a new version, then roll it out
#   deploy/rolling-reload.sh                          # roll out what `current` names now
#   deploy/rolling-reload.sh --version v1795612529    # roll out (or back to) that version
#
# Reads $KEFU_DEPLOY_RUN/topology.env [deploy/run]; kefu from $KEFU_BIN [target/release].
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${KEFU_DEPLOY_RUN:-$REPO/deploy/run}
BIN=${KEFU_BIN:-$REPO/target/release}
# Seconds one replica may take to report the new version.
SWITCH_SECS=60

die() { echo "rolling-reload.sh: $*" >&2; exit 1; }

kb="" version=""
while (($#)); do
    case $1 in
        --kb) kb=${2:?--kb needs a file}; shift 2 ;;
        --version) version=${2:?--version needs a version name}; shift 2 ;;
        *) die "unknown argument $1 (usage: rolling-reload.sh [--kb FILE] [--version NAME])" ;;
    esac
done
[[ -f $RUN/topology.env ]] || die "nothing started in $RUN; run deploy/replicas.sh start first"
# shellcheck source=/dev/null
source "$RUN/topology.env"

if [[ -n $kb ]]; then
    [[ -n $version ]] && die "give --kb (build a new version) or --version (an existing one), not both"
    [[ -x $BIN/kefu ]] || die "no $BIN/kefu: build it with cargo build --release -p kefu"
    echo "building a new version of $INDEX from $kb"
    "$BIN/kefu" build --kb "$kb" --out "$INDEX" --model "$MODEL" >"$RUN/build.log" 2>&1 ||
        { tail -n 5 "$RUN/build.log" >&2; die "kefu build failed (log: $RUN/build.log); nothing was reloaded"; }
fi
if [[ -z $version ]]; then
    version=$(tr -d '[:space:]' <"$INDEX/current")
fi
[[ -d $INDEX/$version ]] || die "no version $version under $INDEX"

# Answer replicas first, the router (it reads the index only to infer categories) last.
order=()
for ((i = 1; i < ${#NAMES[@]}; i++)); do order+=("$i"); done
order+=(0)
for i in "${order[@]}"; do
    name=${NAMES[$i]} addr=${HTTP[$i]}
    before=$(curl -fsS "http://$addr/v1/admin/info" | jq -r .indexVersion) ||
        die "$name ($addr) does not answer /v1/admin/info; replicas before it are on $version, the rest unchanged"
    reply=$(curl -sS -X POST -H 'content-type: application/json' \
        -d "{\"version\": \"$version\"}" -w '\n%{http_code}' "http://$addr/v1/admin/reload") ||
        die "$name ($addr): the reload call failed; replicas before it are on $version, the rest on their old version"
    [[ ${reply##*$'\n'} == 200 ]] ||
        die "$name ($addr) refused $version: ${reply%$'\n'*}; replicas before it are on $version, the rest on their old version"
    for ((t = 0; t < SWITCH_SECS * 5; t++)); do
        now=$(curl -fsS "http://$addr/v1/admin/info" | jq -r .indexVersion) || now=""
        [[ $now == "$version" ]] && break
        sleep 0.2
    done
    [[ $now == "$version" ]] || die "$name ($addr) still reports ${now:-nothing} after ${SWITCH_SECS}s, not $version"
    echo "$name  $addr  $before -> $now"
done
echo "all ${#NAMES[@]} replicas serve $version"
