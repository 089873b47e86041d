#!/usr/bin/env bash
# bench/attack.sh - the seed incident replayed (bulwark-siege seed-replay)
# against bulwark, nginx and HAProxy in turn, each in front of a fresh
# bulwark-probe origin: what the real users got, and how much of each attack
# reached the origin.  See bench/README.md and docs/SIEGE.md.
#
#   bench/attack.sh            seed-replay over 60 s at 5000 req/s, 50 users
#   bench/attack.sh --quick    20 s at 2000 req/s (smoke run)
#   bench/attack.sh --flood    instead of seed-replay: real users throughout and
#                              a rotating-address http-flood at RATE over the
#                              middle half of the run (3 requests per address)
#   bench/attack.sh --login    instead: real users throughout (2 % of their
#                              requests are logins) and brute-force plus
#                              cred-stuffing at RATE each (default 500) over
#                              the middle half; bulwark gets "login /login;"
#
# Environment: DURATION (60, seconds) RATE (5000, req/s of the first flood)
# USERS (50) PROXIES ("bulwark nginx haproxy") BUILD (build)
# Ports: ATTACK_PROBE_PORT (19180) ATTACK_BULWARK_PORT (19181)
# ATTACK_NGINX_PORT (19182) ATTACK_HAPROXY_PORT (19183).
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

QUICK=0
FLOOD=0
LOGIN=0
for a in "$@"; do
    case $a in
    --quick) QUICK=1 ;;
    --flood) FLOOD=1 ;;
    --login) LOGIN=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
if [ $QUICK = 1 ]; then DURATION=${DURATION:-20} RATE=${RATE:-2000}; fi
if [ $LOGIN = 1 ]; then RATE=${RATE:-500}; fi
DURATION=${DURATION:-60}
RATE=${RATE:-5000}
USERS=${USERS:-50}
PROXIES=${PROXIES:-bulwark nginx haproxy}
read -r -a PROXY_LIST <<<"$PROXIES"

# Ports of their own, so that this can run next to bench/proxy.sh (19000,
# 19081-19083) and bench/siege.sh (19100).  lib.sh's start_bulwark reads
# ORIGIN_PORT and BULWARK_PORT.
PROBE_PORT=${ATTACK_PROBE_PORT:-19180}
ORIGIN_PORT=$PROBE_PORT
BULWARK_PORT=${ATTACK_BULWARK_PORT:-19181}
NGINX_PORT=${ATTACK_NGINX_PORT:-19182}
HAPROXY_PORT=${ATTACK_HAPROXY_PORT:-19183}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT INT TERM

BUILD_NOTE=""
[ "$BUILD" = build ] || BUILD_NOTE="BUILD=$BUILD "
CMDLINE="${BUILD_NOTE}DURATION=$DURATION RATE=$RATE USERS=$USERS PROXIES=\"$PROXIES\" bench/attack.sh${*:+ $*}"
if [ $LOGIN = 1 ]; then
    RUN_NAME="login"
    SIEGE_ARGS=(-d "$DURATION" -s "legit:users=$USERS"
        -s "brute-force:rate=$RATE,start=$((DURATION / 4)),duration=$((DURATION / 2))"
        -s "cred-stuffing:rate=$RATE,start=$((DURATION / 4)),duration=$((DURATION / 2))")
    PLOT_PREFIX=attack-login
elif [ $FLOOD = 1 ]; then
    RUN_NAME="http-flood"
    SIEGE_ARGS=(-d "$DURATION" -s "legit:users=$USERS"
        -s "http-flood:rate=$RATE,start=$((DURATION / 4)),duration=$((DURATION / 2))")
    PLOT_PREFIX=attack-flood
else
    RUN_NAME="seed-replay"
    SIEGE_ARGS=(-s "seed-replay:duration=$DURATION,rate=$RATE,users=$USERS")
    PLOT_PREFIX=attack
fi
SCENARIO="${SIEGE_ARGS[*]}"

for p in "${PROXY_LIST[@]}"; do
    case $p in bulwark | nginx | haproxy) ;; *) die "unknown proxy '$p' in PROXIES (bulwark nginx haproxy)" ;; esac
done
whole_at_least() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ]; }
whole_at_least "$DURATION" 10 || die "DURATION must be a whole number of seconds >= 10"
whole_at_least "$RATE" 20 || die "RATE must be a whole number >= 20"
whole_at_least "$USERS" 1 || die "USERS must be a whole number >= 1"

bench_need_tools
log "building bulwark, bulwark-probe, bulwark-siege (make -C $ROOT BUILD=$BUILD)"
make -C "$ROOT" BUILD="$BUILD" -j"$(nproc)" "$BUILD/bulwark" "$BUILD/bulwark-probe" "$BUILD/bulwark-siege" \
    >"$BENCH_TMP/make.log" 2>&1 || { tail -20 "$BENCH_TMP/make.log" >&2; die "build failed (full log above)"; }
for port in "$PROBE_PORT" $(for p in "${PROXY_LIST[@]}"; do port_of "$p"; done); do
    port_free "$port" || die "port 127.0.0.1:$port is already in use (set ATTACK_PROBE_PORT / ATTACK_BULWARK_PORT / ATTACK_NGINX_PORT / ATTACK_HAPROXY_PORT)"
done

TS=$(date +%Y%m%d-%H%M%S)
OUT=$ROOT/bench/results/attack-$TS
mkdir -p "$OUT"

# ---- the origin -------------------------------------------------------------

start_probe() {
    ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$LOAD_CPU" "$BUILD_DIR/bulwark-probe" \
        --listen "127.0.0.1:$PROBE_PORT" --quiet ) >"$BENCH_TMP/probe.out" 2>&1 &
    PROBE_PID=$!
    BENCH_PIDS+=("$PROBE_PID")
    wait_port "$PROBE_PORT" 10 || { cat "$BENCH_TMP/probe.out" >&2; die "bulwark-probe did not start on :$PROBE_PORT"; }
}

# ---- the peers, with a realistic per-address rate limit ---------------------
# Both allow 10 requests/s per client address: nginx with a burst of 20,
# HAProxy averaged over 10 s.  The client address is the TCP peer (siege binds
# a source address per bot), which both append to X-Forwarded-For.

start_nginx_attack() {
    local d=$BENCH_TMP/nginx
    mkdir -p "$d/logs"
    cat >"$d/nginx.conf" <<EOF
$(nginx_user_line)
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $d/nginx.pid;
error_log $d/logs/error.log crit;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    limit_req_zone \$binary_remote_addr zone=perip:10m rate=10r/s;
    upstream o {
        server 127.0.0.1:$PROBE_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / {
            limit_req zone=perip burst=20 nodelay;
            limit_req_status 429;
            proxy_pass http://o;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
    cp "$d/nginx.conf" "$OUT/nginx.conf"
    ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$PROXY_CPU" nginx -e "$d/logs/error.log" -p "$d" -c "$d/nginx.conf" ) \
        >"$BENCH_TMP/nginx.out" 2>&1 &
    NGINX_PID=$!
    BENCH_PIDS+=("$NGINX_PID")
    wait_port "$NGINX_PORT" 10 || { cat "$BENCH_TMP/nginx.out" "$d/logs/error.log" >&2; die "nginx did not start on :$NGINX_PORT"; }
}

start_haproxy_attack() {
    local f=$BENCH_TMP/haproxy.cfg
    cat >"$f" <<EOF
global
    nbthread 1
    maxconn 20000
    # 2 fds per connection would need 40000+; a bot holds one client fd and
    # the origin side is pooled, so run with the 20000 we get.
    no strict-limits
defaults
    mode http
    maxconn 20000
    timeout connect 3s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    http-reuse always
    option http-keep-alive
    option forwardfor
frontend f
    bind 127.0.0.1:$HAPROXY_PORT
    stick-table type ip size 1m expire 30s store http_req_rate(10s)
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 100 }
    default_backend b
backend b
    server s1 127.0.0.1:$PROBE_PORT
EOF
    cp "$f" "$OUT/haproxy.cfg"
    ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$PROXY_CPU" haproxy -f "$f" -db ) \
        >"$BENCH_TMP/haproxy.out" 2>&1 &
    HAPROXY_PID=$!
    BENCH_PIDS+=("$HAPROXY_PID")
    wait_port "$HAPROXY_PORT" 10 || { cat "$BENCH_TMP/haproxy.out" >&2; die "haproxy did not start on :$HAPROXY_PORT"; }
}

# bulwark as in quick mode (one worker, admin and access log off, default
# protection) with the probe's login route declared (--login runs).
start_bulwark_login() {
    local f=$BENCH_TMP/bulwark-login.conf
    printf 'workers 1;\nlisten 127.0.0.1:%s;\nadmin off;\naccess_log off;\nsite _ {\n    origin 127.0.0.1:%s;\n    login /login;\n}\n' \
        "$BULWARK_PORT" "$PROBE_PORT" >"$f"
    cp "$f" "$OUT/bulwark.conf"
    ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$PROXY_CPU" "$BUILD_DIR/bulwark" -c "$f" ) \
        >"$BENCH_TMP/bulwark.out" 2>&1 &
    BULWARK_PID=$!
    BENCH_PIDS+=("$BULWARK_PID")
    wait_port "$BULWARK_PORT" 10 || { cat "$BENCH_TMP/bulwark.out" >&2; die "bulwark did not start on :$BULWARK_PORT"; }
}

start_proxy() {
    case $1 in
    bulwark) if [ $LOGIN = 1 ]; then start_bulwark_login; else start_bulwark bench; fi ;; # quick mode, --workers 1 --admin off --access-log off
    nginx) start_nginx_attack ;;
    haproxy) start_haproxy_attack ;;
    esac
}

proxy_pid() {
    case $1 in
    bulwark) echo "$BULWARK_PID" ;;
    nginx) echo "$NGINX_PID" ;;
    haproxy) echo "$HAPROXY_PID" ;;
    esac
}

# One request through the proxy must be answered by the probe (X-Probe: 1).
verify_via_probe() {
    local p=$1 port hdr
    port=$(port_of "$p")
    hdr=$(curl -s -m 5 -o /dev/null -D - "http://127.0.0.1:$port/healthz" | tr -d '\r') || true
    if [ "$(echo "$hdr" | awk 'NR==1 {print $2}')" != 200 ] || ! echo "$hdr" | grep -qi '^X-Probe: 1$'; then
        echo "--- response headers from $p (127.0.0.1:$port/healthz):" >&2
        echo "$hdr" >&2
        die "$p does not proxy to bulwark-probe (want 200 and X-Probe: 1)"
    fi
}

# ---- the runs -----------------------------------------------------------------

n=${#PROXY_LIST[@]}
log "$RUN_NAME against: ${PROXY_LIST[*]} (about $((n * (DURATION + 8)))s); results in $OUT"
for p in "${PROXY_LIST[@]}"; do
    start_probe
    start_proxy "$p"
    verify_via_probe "$p"
    pid=$(proxy_pid "$p")
    log "$p on 127.0.0.1:$(port_of "$p") (pid $pid, cpu $PROXY_CPU) -> probe 127.0.0.1:$PROBE_PORT (pid $PROBE_PID, cpu $LOAD_CPU); siege for ${DURATION}s"
    rc=0
    # siege stops by itself after DURATION (+ up to 3 s for answers in flight);
    # timeout is the safety net.
    ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$LOAD_CPU" timeout -k 5 $((DURATION + 60)) \
        "$BUILD_DIR/bulwark-siege" -t "127.0.0.1:$(port_of "$p")" -p "127.0.0.1:$PROBE_PORT" \
        "${SIEGE_ARGS[@]}" --label "$p" --report "$OUT/$p.json" --svg "$OUT/$p.svg" -q ) \
        >"$OUT/$p.txt" 2>"$OUT/$p.stderr" &
    SIEGE_PID=$!
    BENCH_PIDS+=("$SIEGE_PID") # in the background, so that ctrl-C / TERM stop it at once
    wait "$SIEGE_PID" || rc=$?
    bench_stop "$SIEGE_PID"
    curl -s -m 5 "http://127.0.0.1:$PROBE_PORT/__probe/stats" >"$OUT/$p.probe.json" || true
    for q in $pid $PROBE_PID; do
        kill -0 "$q" 2>/dev/null || log "WARNING: pid $q ($p or the probe) died during the run"
    done
    bench_stop "$pid"
    bench_stop "$PROBE_PID"
    cp "$BENCH_TMP/$p.out" "$OUT/$p.log" 2>/dev/null || true
    if [ $rc != 0 ] || [ ! -s "$OUT/$p.json" ]; then
        cat "$OUT/$p.stderr" >&2
        die "bulwark-siege against $p failed (exit $rc; stderr above, in $OUT/$p.stderr)"
    fi
    [ -s "$OUT/$p.stderr" ] && { log "siege stderr ($p):"; cat "$OUT/$p.stderr" >&2; }
    cat "$OUT/$p.txt" >&2
    # Let the TIME_WAIT and the rest of the run drain before the next proxy.
    sleep 2
done

# ---- the table ----------------------------------------------------------------

# The plots BENCHMARKS.md links to are refreshed by full runs only (a smoke
# run must not replace them).
if [ $QUICK = 0 ]; then
    mkdir -p "$ROOT/docs/bench"
    for p in "${PROXY_LIST[@]}"; do cp "$OUT/$p.svg" "$ROOT/docs/bench/$PLOT_PREFIX-$p.svg"; done
fi

{
    echo "## Attack benchmark: $RUN_NAME ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "- command: \`$CMDLINE\`"
    echo "- siege: \`bulwark-siege -t 127.0.0.1:PROXY -p 127.0.0.1:PROBE $SCENARIO --label PROXY --report PROXY.json --svg PROXY.svg -q\`"
    echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM; kernel $(uname -sr)"
    echo "- versions: bulwark $("$BUILD_DIR/bulwark" --version 2>&1 | head -1 | awk '{print $NF}') (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')), nginx $(nginx -v 2>&1 | sed 's/.*version: nginx\///'), HAProxy $(haproxy -v 2>&1 | head -1 | awk '{print $3}')"
    echo "- pinning: the proxy alone on CPU $PROXY_CPU; bulwark-probe (the origin, fresh for each proxy) and bulwark-siege share CPU $LOAD_CPU"
    echo "- proxies, one worker each: bulwark quick mode (\`--workers 1 --admin off --access-log off\`, default protection); nginx \`limit_req\` 10 r/s per address, burst 20 nodelay, 429; HAProxy stick-table \`http_req_rate(10s)\` > 100 -> 429 (10 r/s averaged over 10 s)"
    echo
    python3 "$ROOT/bench/attack_table.py" "$OUT" "${PROXY_LIST[@]}"
    if [ $LOGIN = 1 ]; then
        echo
        echo "Logins as the probe (the origin) answered them, real users (127.1/16) apart:"
        echo
        for p in "${PROXY_LIST[@]}"; do python3 "$ROOT/bench/attack_table.py" --logins "$OUT/$p.probe.json" "$p"; done
    fi
} >"$OUT/table.md"
echo
cat "$OUT/table.md"
echo
log "report: $OUT/table.md (JSON, SVG and siege's table per proxy alongside)$([ $QUICK = 0 ] && echo "; plots copied to docs/bench/$PLOT_PREFIX-<proxy>.svg")"
