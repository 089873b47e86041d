#!/usr/bin/env bash
# bench/shield_cost.sh - what a flood request costs bulwark, by what the
# shield does with it: proxied with the shield off, proxied with the shield
# on (no attack, no rule), blocked (403), cookie-challenged (307 + signed
# token).  siege's http-flood (a new source address every 3 requests, the
# seed's rotating botnet) at a rate bulwark keeps up with, bulwark alone on
# CPU 0, siege and bulwark-probe on CPU 1; CPU per request = bulwark's
# user+system time / requests answered.  Issue 5: blocking must cost at
# most 30 % of proxying.
#
#   bench/shield_cost.sh            3 rounds x 8 s at 15,000 req/s
#   bench/shield_cost.sh --quick    1 round x 3 s
#
# Environment: ROUNDS (3) DURATION (8) RATE (15000) PER_IP (3: requests per
# connection and address; 100 shows the cost without connection churn) BUILD (build);
# ports: COST_PROBE_PORT (19190) COST_BULWARK_PORT (19191).
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
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
DURATION=${DURATION:-8}
RATE=${RATE:-15000}
PER_IP=${PER_IP:-3}
PROBE_PORT=${COST_PROBE_PORT:-19190}
BW_PORT=${COST_BULWARK_PORT:-19191}
PROXY_LIST=()

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT INT TERM

bench_need_tools
log "building (make -C $ROOT all)"
bench_build
port_free "$PROBE_PORT" || die "port $PROBE_PORT is busy (set COST_PROBE_PORT)"
port_free "$BW_PORT" || die "port $BW_PORT is busy (set COST_BULWARK_PORT)"

taskset -c "$LOAD_CPU" "$BUILD_DIR/bulwark-probe" --listen "127.0.0.1:$PROBE_PORT" --quiet \
    2>"$BENCH_TMP/probe.log" &
PROBE_PID=$!
BENCH_PIDS+=("$PROBE_PID")
wait_port "$PROBE_PORT" || die "the probe did not start: $(cat "$BENCH_TMP/probe.log")"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }

# Main-context lines for each mode: "proxied-shield-on" keeps the shield's
# checks but no detection (a floor no flood here reaches), so the flood is
# really proxied.
mode_main() {
    case $1 in
    proxied-shield-on) echo "shield_sensitivity 100 floor=100000000;" ;;
    esac
}

# The site block's shield lines for each mode.
mode_conf() {
    case $1 in
    proxied-shield-off) echo "shield off;" ;;
    proxied-shield-on) echo "under_attack off;" ;;
    blocked) echo "rule block path=/;" ;;
    challenged) echo "under_attack on;" ;;
    esac
}

# One run: prints "us_per_request user_us_per_request answered".
cost_round() {
    local mode=$1 conf=$BENCH_TMP/cost.conf pid t0 t1 u0 u1 answered
    cat >"$conf" <<EOF
listen 127.0.0.1:$BW_PORT;
admin off;
workers 1;
max_connections 20000;
$(mode_main "$mode")
site _ {
    origin 127.0.0.1:$PROBE_PORT;
    $(mode_conf "$mode")
}
EOF
    ( ulimit -n "$(ulimit -Hn)"; exec taskset -c "$PROXY_CPU" "$BUILD_DIR/bulwark" -c "$conf" ) \
        >"$BENCH_TMP/bulwark-$mode.out" 2>&1 &
    pid=$!
    BENCH_PIDS+=("$pid")
    wait_port "$BW_PORT" 10 || { cat "$BENCH_TMP/bulwark-$mode.out" >&2; die "bulwark did not start"; }
    t0=$(cpu_ticks "$pid")
    u0=$(user_ticks "$pid")
    taskset -c "$LOAD_CPU" timeout $((DURATION + 30)) "$BUILD_DIR/bulwark-siege" \
        -t "127.0.0.1:$BW_PORT" -p "127.0.0.1:$PROBE_PORT" -q -d "$DURATION" \
        -s "http-flood:rate=$RATE,per-ip=$PER_IP" --report "$BENCH_TMP/cost.json" >/dev/null 2>&1 \
        || die "siege failed ($mode)"
    t1=$(cpu_ticks "$pid")
    u1=$(user_ticks "$pid")
    bench_stop "$pid"
    answered=$(python3 -c "
import json; t = json.load(open('$BENCH_TMP/cost.json'))['scenarios'][0]['totals']
print(t['ok'] + t['blocked'] + t['challenged'])")
    python3 -c "
ticks, user, n = $t1 - $t0, $u1 - $u0, $answered
hz = $(getconf CLK_TCK)
print(f'{ticks / hz * 1e6 / n:.2f} {user / hz * 1e6 / n:.2f} {n}')"
}

MODES=(proxied-shield-off proxied-shield-on blocked challenged)
declare -A RESULTS USER
for r in $(seq 1 "$ROUNDS"); do
    for m in "${MODES[@]}"; do
        read -r total user n <<<"$(cost_round "$m")"
        log "round $r/$ROUNDS $m: $total us/request, $user of it in user space ($n answered)"
        RESULTS[$m]="${RESULTS[$m]:-} $total"
        USER[$m]="${USER[$m]:-} $user"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
base=$(echo "${RESULTS[proxied-shield-off]}" | median)
ubase=$(echo "${USER[proxied-shield-off]}" | median)
echo "bench/shield_cost.sh: ROUNDS=$ROUNDS DURATION=$DURATION RATE=$RATE (http-flood, $PER_IP requests per address)"
echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
echo
echo "| what bulwark does with a flood request | CPU us/request (median) | vs proxied, shield off | of it in user space | vs proxied | rounds (total) |"
echo "|---|---:|---:|---:|---:|---|"
for m in "${MODES[@]}"; do
    v=$(echo "${RESULTS[$m]}" | median)
    u=$(echo "${USER[$m]}" | median)
    echo "| $m | $v | $(python3 -c "print(f'{100 * $v / $base:.0f} %')") | $u | $(python3 -c "print(f'{100 * $u / $ubase:.0f} %')") |${RESULTS[$m]} |"
done
