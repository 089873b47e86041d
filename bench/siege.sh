#!/usr/bin/env bash
# bench/siege.sh - how fast bulwark-siege floods from one core: http-flood
# with rotating addresses (a new source address every PER_IP requests)
# straight at bulwark-probe, siege pinned to one CPU and the probe to the
# other.  wrk runs against the same probe in the same run as the reference
# (it cannot rotate addresses: once with keep-alive, once with a new
# connection per request).  See bench/README.md.
#
#   bench/siege.sh            3 rounds x 10 s
#   bench/siege.sh --quick    1 round x 3 s
#
# Environment: ROUNDS (3) DURATION (10) RATE (offered req/s, 200000)
# PER_IP (3) BUILD (build); ports: PROBE_PORT (19100).
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
QUICK=0
for a in "$@"; do
    case $a in
    --quick) QUICK=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
if [ $QUICK = 1 ]; then ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-3}; fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
RATE=${RATE:-200000}
PER_IP=${PER_IP:-3}
PROBE_PORT=${PROBE_PORT:-19100}
PROXY_LIST=()

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT INT TERM

bench_need_tools
log "building (make -C $ROOT all)"
bench_build
[ -x "$BUILD_DIR/bulwark-siege" ] && [ -x "$BUILD_DIR/bulwark-probe" ] \
    || die "bulwark-siege / bulwark-probe not built (see $BENCH_TMP/make.log)"
port_free "$PROBE_PORT" || die "port $PROBE_PORT is busy (set PROBE_PORT)"

SIEGE_CPU=$PROXY_CPU  # siege is the thing measured here: it gets CPU 0
PROBE_CPU=$LOAD_CPU

taskset -c "$PROBE_CPU" "$BUILD_DIR/bulwark-probe" --listen "127.0.0.1:$PROBE_PORT" --quiet \
    2>"$BENCH_TMP/probe.log" &
PROBE_PID=$!
BENCH_PIDS+=("$PROBE_PID")
wait_port "$PROBE_PORT" || die "the probe did not start: $(cat "$BENCH_TMP/probe.log")"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One siege round: prints "req/s siege_cpu% probe_cpu% missed".
siege_round() {
    local out=$BENCH_TMP/siege.json p0 p1 s
    p0=$(cpu_ticks "$PROBE_PID")
    s=$( { /usr/bin/time -f '%U %S' taskset -c "$SIEGE_CPU" timeout $((DURATION + 30)) \
        "$BUILD_DIR/bulwark-siege" -t "127.0.0.1:$PROBE_PORT" -p "127.0.0.1:$PROBE_PORT" -q \
        -d "$DURATION" -s "http-flood:rate=$RATE,per-ip=$PER_IP,conns=8000" \
        --report "$out" >/dev/null; } 2>&1 | tail -1)
    p1=$(cpu_ticks "$PROBE_PID")
    python3 - "$out" "$DURATION" "$s" "$((p1 - p0))" "$CLK_TCK" <<'EOF'
import json, sys
rep = json.load(open(sys.argv[1]))
dur = float(sys.argv[2])
u, s = (float(x) for x in sys.argv[3].split())
t = rep["scenarios"][0]["totals"]
ok = t["ok"]
print(f"{ok / dur:.0f} {100 * (u + s) / (dur + 1):.0f} {100 * int(sys.argv[4]) / int(sys.argv[5]) / dur:.0f} "
      f"{t['missed']} {t['reached']} {t['errors']}")
EOF
}

# One wrk round: prints "req/s".
wrk_round() {
    local hdr=()
    [ "$1" = close ] && hdr=(-H "Connection: close")
    taskset -c "$SIEGE_CPU" wrk -t1 -c100 -d"${DURATION}s" "${hdr[@]}" \
        "http://127.0.0.1:$PROBE_PORT/" 2>/dev/null | awk '/Requests\/sec/ {printf "%.0f\n", $2}'
}

declare -a S_RPS W_KA W_CLOSE
for r in $(seq "$ROUNDS"); do
    log "round $r/$ROUNDS: siege http-flood rate=$RATE per-ip=$PER_IP"
    read -r rps scpu pcpu missed reached errors < <(siege_round)
    log "  siege: $rps req/s answered (siege CPU ${scpu}%, probe CPU ${pcpu}%, missed $missed, reached $reached, errors $errors)"
    S_RPS+=("$rps")
    sleep 2 # let the last round's sockets go
    W_KA+=("$(wrk_round keepalive)")
    W_CLOSE+=("$(wrk_round close)")
    log "  wrk keep-alive ${W_KA[-1]} req/s, wrk Connection: close ${W_CLOSE[-1]} req/s"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
echo
echo "bench/siege.sh: ROUNDS=$ROUNDS DURATION=$DURATION RATE=$RATE PER_IP=$PER_IP"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo
echo "| load generator (one core) | requests/s (median) | rounds |"
echo "|---|---:|---|"
echo "| bulwark-siege http-flood, new address every $PER_IP requests | $(median "${S_RPS[@]}") | ${S_RPS[*]} |"
echo "| wrk, 100 keep-alive connections, one address | $(median "${W_KA[@]}") | ${W_KA[*]} |"
echo "| wrk, Connection: close, one address | $(median "${W_CLOSE[@]}") | ${W_CLOSE[*]} |"
