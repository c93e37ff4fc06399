#!/usr/bin/env bash
# N kefu answer replicas over one index root and one router replica that owns the
# routing log, behind nginx (gRPC with HTTP/2 keepalive, and REST). Loopback only.
#
#   KEFU_INDEX=data/index deploy/replicas.sh start   # start everything, wait until ready
#   deploy/replicas.sh status                        # who runs, which version each serves
#   deploy/replicas.sh stop                          # drain and stop everything it started
#
# Settings (environment):
#   KEFU_INDEX          index root to serve (start only; required)
#   KEFU_MODEL_DIR      model folder [models/all-MiniLM-L6-v2]
#   REPLICAS            answer replicas [3]
#   KEFU_DEPLOY_RUN     run dir: pid and log files, nginx.conf, topology.env [deploy/run]
#   KEFU_DEPLOY_PORT    first of the loopback ports used [47100]
#   KEFU_DEPLOY_ROUTING routing log directory of the router [$KEFU_DEPLOY_RUN/routing]
#   KEFU_BIN            where kefu-server is [target/release]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${KEFU_DEPLOY_RUN:-$REPO/deploy/run}
BIN=${KEFU_BIN:-$REPO/target/release}
# Seconds a process may take to become ready, or to drain on stop.
READY_SECS=120
STOP_SECS=20

die() { echo "replicas.sh: $*" >&2; exit 1; }

# The one place the port layout is decided; the other scripts read topology.env.
write_topology() {
    local base=${KEFU_DEPLOY_PORT:-47100} n=${REPLICAS:-3} i
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "REPLICAS=$n: give a number of answer replicas, at least 1"
    [[ -n ${KEFU_INDEX:-} ]] || die "KEFU_INDEX is not set: name the index root to serve (kefu build --out DIR)"
    [[ -e $KEFU_INDEX/current ]] || die "$KEFU_INDEX has no 'current' file: build it first with kefu build --out $KEFU_INDEX"
    {
        echo "# written by deploy/replicas.sh start; read by rolling-reload.sh and check.sh"
        echo "INDEX=$(cd "$KEFU_INDEX" && pwd)"
        echo "MODEL=$(cd "${KEFU_MODEL_DIR:-$REPO/models/all-MiniLM-L6-v2}" && pwd)"
        echo "LB_GRPC=127.0.0.1:$base"
        echo "LB_HTTP=127.0.0.1:$((base + 1))"
        echo "NAMES=(router$(for ((i = 1; i <= n; i++)); do printf ' answer-%d' "$i"; done))"
        echo "GRPC=(127.0.0.1:$((base + 2))$(for ((i = 1; i <= n; i++)); do printf ' 127.0.0.1:%d' $((base + 10 + 2 * i)); done))"
        echo "HTTP=(127.0.0.1:$((base + 3))$(for ((i = 1; i <= n; i++)); do printf ' 127.0.0.1:%d' $((base + 11 + 2 * i)); done))"
    } >"$RUN/topology.env"
}

load_topology() {
    [[ -f $RUN/topology.env ]] || die "nothing started in $RUN (no topology.env); run deploy/replicas.sh start"
    # shellcheck source=/dev/null
    source "$RUN/topology.env"
}

# True when something accepts connections on host:port.
listening() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# The pid in a pid file, if that process is still the one we started.
live_pid() {
    local file=$RUN/$1.pid pid
    [[ -f $file ]] || return 1
    pid=$(<"$file")
    [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE 'kefu-server|nginx' && echo "$pid"
}

need_nginx() {
    if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
            echo "nginx is missing: installing Debian's package"
            DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >"$RUN/apt.log" 2>&1 ||
                die "apt-get install -y nginx failed; see $RUN/apt.log"
        else
            die "nginx is missing: install Debian's package as root (apt-get install -y nginx), then run this again"
        fi
    fi
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

wait_ready() { # name http-addr
    local name=$1 addr=$2 t
    for ((t = 0; t < READY_SECS * 2; t++)); do
        curl -fsS -o /dev/null "http://$addr/readyz" 2>/dev/null && return 0
        if [[ $name != nginx ]] && ! live_pid "$name" >/dev/null; then
            tail -n 20 "$RUN/$name.log" >&2 || true
            die "$name exited before it was ready (log above, in $RUN/$name.log)"
        fi
        sleep 0.5
    done
    die "$name was not ready on http://$addr/readyz within ${READY_SECS}s (log: $RUN/$name.log)"
}

start_server() { # index-of-replica extra-args...
    local i=$1 name; shift
    name=${NAMES[$i]}
    nohup "$BIN/kefu-server" --index "$INDEX" --model "$MODEL" --listen "${GRPC[$i]}" \
        --metrics "${HTTP[$i]}" --watch-secs 0 "$@" >"$RUN/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
}

render_nginx() {
    local conf answers_grpc="" answers_http="" i user_line=""
    for ((i = 1; i < ${#NAMES[@]}; i++)); do
        answers_grpc+="        server ${GRPC[$i]};"$'\n'
        answers_http+="        server ${HTTP[$i]};"$'\n'
    done
    # nginx started by root drops its workers to nobody, who may not write the run dir.
    [[ $(id -u) == 0 ]] && user_line="user root;"
    conf=$(<"$REPO/deploy/nginx.conf.template")
    conf=${conf//@USER_LINE@/$user_line}
    conf=${conf//@RUN@/$RUN}
    conf=${conf//@LB_GRPC@/$LB_GRPC}
    conf=${conf//@LB_HTTP@/$LB_HTTP}
    conf=${conf//@ROUTER_GRPC@/${GRPC[0]}}
    conf=${conf//@ROUTER_HTTP@/${HTTP[0]}}
    conf=${conf//@ANSWERS_GRPC@/${answers_grpc%$'\n'}}
    conf=${conf//@ANSWERS_HTTP@/${answers_http%$'\n'}}
    echo "$conf" >"$RUN/nginx.conf"
    mkdir -p "$RUN/nginx-tmp"
}

start() {
    mkdir -p "$RUN"
    RUN=$(cd "$RUN" && pwd)
    for f in "$RUN"/*.pid; do
        [[ -e $f ]] && live_pid "$(basename "$f" .pid)" >/dev/null &&
            die "already running in $RUN ($(basename "$f" .pid)); run deploy/replicas.sh stop first"
    done
    [[ -x $BIN/kefu-server ]] || die "no $BIN/kefu-server: build it with cargo build --release -p kefu-server"
    need_nginx
    write_topology
    load_topology
    local i addr
    for addr in "$LB_GRPC" "$LB_HTTP" "${GRPC[@]}" "${HTTP[@]}"; do
        listening "$addr" && die "$addr is in use; set KEFU_DEPLOY_PORT to another first port"
    done
    start_server 0 --routing-dir "${KEFU_DEPLOY_ROUTING:-$RUN/routing}"
    for ((i = 1; i < ${#NAMES[@]}; i++)); do
        start_server "$i" --router "${GRPC[0]}"
    done
    for ((i = 0; i < ${#NAMES[@]}; i++)); do
        wait_ready "${NAMES[$i]}" "${HTTP[$i]}"
    done
    render_nginx
    "$NGINX" -t -q -p "$RUN" -e "$RUN/nginx-error.log" -c "$RUN/nginx.conf" ||
        die "nginx refused $RUN/nginx.conf (see above)"
    "$NGINX" -p "$RUN" -e "$RUN/nginx-error.log" -c "$RUN/nginx.conf"
    wait_ready nginx "$LB_HTTP"
    echo "kefu: ${#NAMES[@]} processes behind nginx (run dir $RUN)"
    echo "  gRPC  $LB_GRPC  (kefu.v1.Routing/* -> router ${GRPC[0]}; the rest -> answer replicas)"
    echo "  HTTP  $LB_HTTP  (/v1/routing/* -> router ${HTTP[0]}; the rest -> answer replicas)"
    for ((i = 0; i < ${#NAMES[@]}; i++)); do
        echo "  ${NAMES[$i]}  gRPC ${GRPC[$i]}  HTTP ${HTTP[$i]}  log $RUN/${NAMES[$i]}.log"
    done
}

stop_one() { # name signal
    local pid t
    pid=$(live_pid "$1") || { rm -f "$RUN/$1.pid"; return 0; }
    kill "-$2" "$pid" 2>/dev/null || true
    for ((t = 0; t < STOP_SECS * 10; t++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "replicas.sh: $1 (pid $pid) did not stop within ${STOP_SECS}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$1.pid"
}

stop() {
    [[ -d $RUN ]] || { echo "nothing to stop ($RUN does not exist)"; return 0; }
    # nginx first (QUIT: finish the calls it has), then the replicas drain theirs (TERM).
    stop_one nginx QUIT
    local f
    for f in "$RUN"/*.pid; do
        [[ -e $f ]] && stop_one "$(basename "$f" .pid)" TERM
    done
    echo "stopped everything started in $RUN"
}

status() {
    load_topology
    local i v
    for ((i = 0; i < ${#NAMES[@]}; i++)); do
        if live_pid "${NAMES[$i]}" >/dev/null; then
            v=$(curl -fsS "http://${HTTP[$i]}/v1/admin/info" 2>/dev/null | jq -r .indexVersion 2>/dev/null || echo "?")
            echo "${NAMES[$i]}  running  gRPC ${GRPC[$i]}  serving $v"
        else
            echo "${NAMES[$i]}  stopped"
        fi
    done
    if live_pid nginx >/dev/null; then echo "nginx  running  gRPC $LB_GRPC  HTTP $LB_HTTP"; else echo "nginx  stopped"; fi
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: deploy/replicas.sh start|stop|status (settings in the header of this file)" ;;
esac
