# shellcheck shell=bash disable=SC2034
# bench/lib.sh - shared helpers for bench/proxy.sh and bench/idle.sh.
# Sourced, not run.  Expects `set -euo pipefail` in the caller.
#
# Process model: every process started here is recorded in BENCH_PIDS and
# stopped (TERM, then KILL after 3 s) by bench_cleanup, which the callers
# install as an EXIT/INT/TERM trap.  Nothing is killed by name.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-build}
case $BUILD in /*) BUILD_DIR=$BUILD ;; *) BUILD_DIR=$ROOT/$BUILD ;; esac

# Ports (all on 127.0.0.1).  Far from the defaults (8080/9000/9090) so a
# benchmark can run while someone else's `make run` or e2e test is up.
ORIGIN_PORT=${ORIGIN_PORT:-19000}
BULWARK_PORT=${BULWARK_PORT:-19081}
BULWARK_ADMIN_PORT=${BULWARK_ADMIN_PORT:-19089}
NGINX_PORT=${NGINX_PORT:-19082}
HAPROXY_PORT=${HAPROXY_PORT:-19083}

# CPU pinning.  With 2 cores: the proxy under test owns CPU 0; the origin and
# the load generator share CPU 1.  With 1 core everything shares CPU 0.
if [ "$(nproc)" -ge 2 ]; then
    PROXY_CPU=${PROXY_CPU:-0}
    LOAD_CPU=${LOAD_CPU:-1}
else
    PROXY_CPU=${PROXY_CPU:-0}
    LOAD_CPU=${LOAD_CPU:-0}
fi

# ORIGIN_IMPL=bulwark-origin (default) or nginx: a stand-in origin (nginx
# answering /api/hello itself, with an X-Origin-Name header), for when
# bulwark-origin does not build.
ORIGIN_IMPL=${ORIGIN_IMPL:-bulwark-origin}
ORIGIN_NAME=${ORIGIN_NAME:-bench}

BENCH_PIDS=()
BENCH_TMP=$(mktemp -d /tmp/bulwark-bench.XXXXXX)
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

bench_cleanup() {
    local rc=$? pid i alive
    trap - EXIT INT TERM
    for pid in "${BENCH_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for i in $(seq 30); do
        alive=0
        for pid in "${BENCH_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for pid in "${BENCH_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        log "kept $BENCH_TMP"
    else
        rm -rf "$BENCH_TMP"
    fi
    exit $rc
}

# Stop one process started by us (and forget it).
bench_stop() {
    local pid=$1 i p keep=()
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    BENCH_PIDS=("${keep[@]}")
}

# Install what is missing (Debian, root only).
bench_need_tools() {
    local missing=() cmd pkg
    for pair in nginx:nginx-light haproxy:haproxy wrk:wrk curl:curl python3:python3 taskset:util-linux; do
        cmd=${pair%%:*} pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
    done
    [ ${#missing[@]} = 0 ] && return 0
    if [ "$(id -u)" = 0 ]; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
            || die "apt-get install ${missing[*]} failed"
    else
        die "missing packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
    fi
}
export PATH=$PATH:/usr/sbin:/sbin

# Build bulwark (quietly).  Sets BULWARK_OK=1 when both binaries exist.
bench_build() {
    BULWARK_OK=0
    if make -C "$ROOT" BUILD="$BUILD" -j"$(nproc)" all >"$BENCH_TMP/make.log" 2>&1; then
        BULWARK_OK=1
    else
        log "make failed (last lines below; full log in $BENCH_TMP/make.log)"
        tail -5 "$BENCH_TMP/make.log" >&2
        # `all` includes unit tests; the two binaries may still be there.
        make -C "$ROOT" BUILD="$BUILD" "$BUILD/bulwark" "$BUILD/bulwark-origin" >>"$BENCH_TMP/make.log" 2>&1 \
            && BULWARK_OK=1 || true
    fi
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
# Install the tools, build bulwark, and check that every proxy asked for in
# PROXY_LIST (and the origin) can run.  $1: the calling script, for hints.
bench_preflight() {
    local script=$1 p
    bench_need_tools
    log "building bulwark (make -C $ROOT all)"
    bench_build
    for p in "${PROXY_LIST[@]}"; do
        case $p in
        bulwark)
            [ "$BULWARK_OK" = 1 ] && [ -x "$BUILD_DIR/bulwark" ] \
                || die "bulwark does not build (see above); to measure the peers only: PROXIES=\"nginx haproxy\" ORIGIN_IMPL=nginx $script" ;;
        nginx | haproxy) ;;
        *) die "unknown proxy '$p' in PROXIES" ;;
        esac
    done
    if [ "$ORIGIN_IMPL" = bulwark-origin ] && [ ! -x "$BUILD_DIR/bulwark-origin" ]; then
        die "$BUILD_DIR/bulwark-origin not built; to use a stand-in origin: ORIGIN_IMPL=nginx $script"
    fi
}

wait_port() {
    local port=$1 t=${2:-10} i
    for i in $(seq $((t * 10))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_ports_free() {
    local p
    for p in "$@"; do
        port_free "$p" || die "port 127.0.0.1:$p is already in use (set ORIGIN_PORT/BULWARK_PORT/NGINX_PORT/HAPROXY_PORT)"
    done
}

# ---- origin ---------------------------------------------------------------

start_origin() {
    local port=$ORIGIN_PORT
    case $ORIGIN_IMPL in
    bulwark-origin)
        [ -x "$BUILD_DIR/bulwark-origin" ] || die "$BUILD_DIR/bulwark-origin not built (or set ORIGIN_IMPL=nginx)"
        # The origin runs one thread per connection: give it fds for the
        # proxies' pooled upstream connections.
        ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$LOAD_CPU" "$BUILD_DIR/bulwark-origin" \
            --listen "127.0.0.1:$port" --name "$ORIGIN_NAME" --quiet ) \
            >"$BENCH_TMP/origin.out" 2>&1 &
        ORIGIN_PID=$!
        ;;
    nginx)
        local d=$BENCH_TMP/origin
        mkdir -p "$d/logs"
        cat >"$d/nginx.conf" <<EOF
$(nginx_user_line)
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/logs/error.log crit;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        location / {
            default_type application/json;
            add_header X-Origin-Name $ORIGIN_NAME always;
            return 200 '{"hello":"world","origin":"$ORIGIN_NAME"}\n';
        }
    }
}
EOF
        taskset -c "$LOAD_CPU" nginx -e "$d/logs/error.log" -p "$d" -c "$d/nginx.conf" \
            >"$BENCH_TMP/origin.out" 2>&1 &
        ORIGIN_PID=$!
        ;;
    *) die "ORIGIN_IMPL must be bulwark-origin or nginx" ;;
    esac
    BENCH_PIDS+=("$ORIGIN_PID")
    wait_port "$port" 10 || { cat "$BENCH_TMP/origin.out" >&2; die "origin ($ORIGIN_IMPL) did not start on :$port"; }
    log "origin $ORIGIN_IMPL on 127.0.0.1:$port (pid $ORIGIN_PID, cpu $LOAD_CPU)"
}

# ---- proxies --------------------------------------------------------------
# Each start_* takes MODE: "bench" (throughput) or "idle" (many idle
# keep-alive clients: high fd limits, long keep-alive timeouts).  Each sets
# <NAME>_PID to the pid to stop.

nginx_user_line() { [ "$(id -u)" = 0 ] && echo "user root;" || true; }

# bulwark's answers other than 200 since start (noattack mode's admin port).
bulwark_non200() {
    curl -s -m 5 "http://127.0.0.1:$BULWARK_ADMIN_PORT/metrics" |
        awk '/^bulwark_requests_total\{/ && !/code="200"/ {n += $NF} END {print n + 0}'
}

start_bulwark() {
    local mode=$1 port=$BULWARK_PORT
    [ -x "$BUILD_DIR/bulwark" ] || die "$BUILD_DIR/bulwark not built"
    if [ "$mode" = idle ]; then
        # Quick mode caps accepted connections at 10000 per worker, and has no
        # flag for it: use a config file (same settings as quick mode).
        cat >"$BENCH_TMP/bulwark-idle.conf" <<EOF
listen 127.0.0.1:$port;
admin off;
max_connections 20000;
site _ {
    origin 127.0.0.1:$ORIGIN_PORT;
}
EOF
        ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$PROXY_CPU" "$BUILD_DIR/bulwark" \
            -c "$BENCH_TMP/bulwark-idle.conf" --workers 1 --admin off --access-log off ) \
            >"$BENCH_TMP/bulwark.out" 2>&1 &
    elif [ "$mode" = noattack ]; then
        # Throughput runs: one client at 200k req/s *is* a flood to the
        # shield, which would challenge it (and wrk counts a 307 as a
        # success).  The shield stays on and does all its per-request work
        # (features, token, rules, the detector's ring and thread); only its
        # surge floor is out of reach.  The admin port lets proxy.sh check
        # that every answer was the origin's 200.
        cat >"$BENCH_TMP/bulwark-noattack.conf" <<EOF
listen 127.0.0.1:$port;
admin 127.0.0.1:$BULWARK_ADMIN_PORT;
workers 1;
access_log off;
shield_sensitivity 6 floor=100000000;
event_coalesce ${COALESCE:-100us};
site _ {
    origin 127.0.0.1:$ORIGIN_PORT;
    shield ${SHIELD:-on};
}
EOF
        ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$PROXY_CPU" "$BUILD_DIR/bulwark" \
            -c "$BENCH_TMP/bulwark-noattack.conf" ) >"$BENCH_TMP/bulwark.out" 2>&1 &
    else
        ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$PROXY_CPU" "$BUILD_DIR/bulwark" \
            --listen "127.0.0.1:$port" --origin "127.0.0.1:$ORIGIN_PORT" \
            --workers 1 --admin off --access-log off ) \
            >"$BENCH_TMP/bulwark.out" 2>&1 &
    fi
    BULWARK_PID=$!
    BENCH_PIDS+=("$BULWARK_PID")
    wait_port "$port" 10 || { cat "$BENCH_TMP/bulwark.out" >&2; die "bulwark did not start on :$port"; }
}

start_nginx() {
    local mode=$1 port=$NGINX_PORT d=$BENCH_TMP/nginx
    local wc=4096 extra_main="" ka="keepalive_timeout 75s; keepalive_requests 1000000;"
    if [ "$mode" = idle ]; then
        wc=20000
        extra_main="worker_rlimit_nofile 20000;"
        ka="keepalive_timeout 120s; keepalive_requests 1000000;"
    fi
    mkdir -p "$d/logs"
    cat >"$d/nginx.conf" <<EOF
$(nginx_user_line)
worker_processes 1;
$extra_main
daemon off;
pid $d/nginx.pid;
error_log $d/logs/error.log crit;
events { worker_connections $wc; }
http {
    access_log off;
    $ka
    upstream o {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://o;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The header work bulwark does on every request.
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header Forwarded "for=\$remote_addr;proto=\$scheme;host=\"\$host\"";
            proxy_set_header X-Request-Id \$request_id;
            add_header X-Request-Id \$request_id always;
        }
    }
}
EOF
    ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$PROXY_CPU" nginx -e "$d/logs/error.log" -p "$d" -c "$d/nginx.conf" ) \
        >"$BENCH_TMP/nginx.out" 2>&1 &
    NGINX_PID=$!
    BENCH_PIDS+=("$NGINX_PID")
    wait_port "$port" 10 || { cat "$BENCH_TMP/nginx.out" "$d/logs/error.log" >&2; die "nginx did not start on :$port"; }
}

start_haproxy() {
    local mode=$1 port=$HAPROXY_PORT f=$BENCH_TMP/haproxy.cfg
    local maxconn=4096 tclient=60s tka=60s
    if [ "$mode" = idle ]; then
        # HAProxy wants 2*maxconn+extra fds and, with strict-limits (on by
        # default), refuses to start when the hard limit (20000 here) is
        # below that: maxconn would be capped near 9990.  An idle client
        # needs only one fd (the origin side is pooled), so turn
        # strict-limits off: it warns and runs with the 20000 it gets.
        maxconn=19000 tclient=120s tka=120s
    fi
    cat >"$f" <<EOF
global
    nbthread 1
    maxconn $maxconn
    $( [ "$mode" = idle ] && echo "no strict-limits" )
defaults
    mode http
    maxconn $maxconn
    timeout connect 3s
    timeout client $tclient
    timeout server 60s
    timeout http-keep-alive $tka
    http-reuse always
    option http-keep-alive
    # The header work bulwark does on every request.
    option forwardfor
    unique-id-format %{+X}o%Ts%rt
    unique-id-header X-Request-Id
frontend f
    bind 127.0.0.1:$port
    http-request set-header X-Forwarded-Proto http
    http-request set-header Forwarded "for=%[src];proto=http;host=\"%[req.hdr(host)]\""
    http-response set-header X-Request-Id %[unique-id]
    default_backend b
backend b
    server s1 127.0.0.1:$ORIGIN_PORT
EOF
    ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$PROXY_CPU" haproxy -f "$f" -db ) \
        >"$BENCH_TMP/haproxy.out" 2>&1 &
    HAPROXY_PID=$!
    BENCH_PIDS+=("$HAPROXY_PID")
    wait_port "$port" 10 || { cat "$BENCH_TMP/haproxy.out" >&2; die "haproxy did not start on :$port"; }
}

# ---- measuring ------------------------------------------------------------

# pids_of NAME: the pids whose CPU/RSS count for that proxy.
#   nginx: master + workers (the master is idle; summed to be safe)
pids_of() {
    case $1 in
    bulwark) echo "$BULWARK_PID" ;;
    haproxy) echo "$HAPROXY_PID" ;;
    nginx) echo "$NGINX_PID" "$(pgrep -P "$NGINX_PID" | tr '\n' ' ' || true)" ;;
    esac
}

# The nginx worker (first child of the master).
nginx_worker() { pgrep -P "$NGINX_PID" | head -1; }

# cpu_ticks PID...: utime+stime (fields 14, 15 of /proc/PID/stat, all
# threads), summed.  Fields are counted after the ")" closing the comm.
cpu_ticks() {
    local pid total=0 rest
    for pid in "$@"; do
        rest=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        # after "comm) ": field 3 is state, so utime = $12, stime = $13
        total=$((total + $(echo "$rest" | awk '{print $12 + $13}')))
    done
    echo $total
}

# cpu_busy_ticks CPU: busy ticks of one CPU since boot (/proc/stat: user nice
# system irq softirq steal; not idle, iowait).  Compared with the proxy's own
# ticks it shows how much else ran on the proxy's CPU (loopback softirq work,
# and any other load on a shared machine).
cpu_busy_ticks() {
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

port_of() {
    case $1 in
    bulwark) echo "$BULWARK_PORT" ;;
    nginx) echo "$NGINX_PORT" ;;
    haproxy) echo "$HAPROXY_PORT" ;;
    esac
}

# verify_proxy NAME PATH: one request must come back 200 from our origin.
verify_proxy() {
    local name=$1 path=$2 port hdr status
    port=$(port_of "$name")
    hdr=$(curl -s -m 5 -o /dev/null -D - "http://127.0.0.1:$port$path" | tr -d '\r') || true
    status=$(echo "$hdr" | awk 'NR==1 {print $2}')
    if [ "$status" != 200 ] || ! echo "$hdr" | grep -qi "^X-Origin-Name: $ORIGIN_NAME\$"; then
        echo "--- response headers from $name (127.0.0.1:$port$path):" >&2
        echo "$hdr" >&2
        die "$name does not proxy to the origin (want 200 and X-Origin-Name: $ORIGIN_NAME)"
    fi
    log "$name on 127.0.0.1:$port proxies OK (200, X-Origin-Name: $ORIGIN_NAME)"
}

machine_info() {
    echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM"
    echo "- kernel: $(uname -sr)"
    echo "- bulwark: $( [ -x "$BUILD_DIR/bulwark" ] && "$BUILD_DIR/bulwark" --version 2>&1 | head -1 || echo 'not built') (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty'))"
    echo "- nginx: $(nginx -v 2>&1 | sed 's/.*version: //')"
    echo "- haproxy: $(haproxy -v 2>&1 | head -1 | awk '{print $3}')"
    echo "- wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "- origin: $ORIGIN_IMPL; pinning: proxy on CPU $PROXY_CPU, origin and client on CPU $LOAD_CPU"
}
