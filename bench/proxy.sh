#!/usr/bin/env bash
# bench/proxy.sh - bulwark vs nginx vs HAProxy as a reverse proxy in front of
# the same origin: requests/s, p50/p99 latency, and the proxy's own CPU time
# per request.  See bench/README.md.
#
#   bench/proxy.sh            3 rounds x 10 s per proxy, 50 connections
#   bench/proxy.sh --quick    1 round x 3 s (smoke run)
#
# Environment: ROUNDS (3) DURATION (10, seconds) CONNS (50) WARMUP (2,
# seconds) PATH_URL (/api/hello) PROXIES ("bulwark nginx haproxy")
# ORIGIN_IMPL (bulwark-origin | nginx) SHIELD (on | off: bulwark's shield,
# on by default; its surge floor is out of reach either way) COALESCE
# (bulwark's event_coalesce: 100us, the default, or off) BUILD (build) and
# the ports in bench/lib.sh.
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

if [ $QUICK = 1 ]; then
    ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-3} WARMUP=${WARMUP:-1}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-50}
PATH_URL=${PATH_URL:-/api/hello}
PROXIES=${PROXIES:-bulwark nginx haproxy}
read -r -a PROXY_LIST <<<"$PROXIES"

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT INT TERM

CMDLINE="SHIELD=${SHIELD:-on} COALESCE=${COALESCE:-100us} ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS PATH_URL=$PATH_URL PROXIES=\"$PROXIES\" ORIGIN_IMPL=$ORIGIN_IMPL bench/proxy.sh $*"

bench_preflight "$0"

check_ports_free "$ORIGIN_PORT" "$BULWARK_PORT" "$NGINX_PORT" "$HAPROXY_PORT"
start_origin
for p in "${PROXY_LIST[@]}"; do
    if [ "$p" = bulwark ]; then start_bulwark noattack; else "start_$p" bench; fi
    log "$p started on 127.0.0.1:$(port_of "$p") (pid $(pids_of "$p" | tr '\n' ' '), cpu $PROXY_CPU)"
done
for p in "${PROXY_LIST[@]}"; do verify_proxy "$p" "$PATH_URL"; done

TSV=$BENCH_TMP/runs.tsv
: >"$TSV"
n=${#PROXY_LIST[@]}
est=$((ROUNDS * n * (WARMUP + DURATION + 1)))
log "measuring: $ROUNDS round(s) x ${DURATION}s x $n proxies, $CONNS connections, path $PATH_URL (about ${est}s)"

# parse_wrk FILE -> "requests rps p50_ms p99_ms non2xx sockerr"
parse_wrk() {
    awk '
    function ms(v) {
        if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
        if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
        if (v ~ /m$/)  return substr(v, 1, length(v) - 1) * 60000
        if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
        return v + 0
    }
    / requests in /            { req = $1 }
    /^Requests\/sec:/          { rps = $2 }
    /^ +50% /                  { p50 = ms($2) }
    /^ +99% /                  { p99 = ms($2) }
    /Non-2xx or 3xx responses/ { non2xx = $NF }
    /Socket errors:/           { sub(/^ +Socket errors: /, ""); gsub(/ /, ""); sockerr = $0 }
    END {
        if (req == "" || rps == "") exit 1
        printf "%s %s %.3f %.3f %d %s\n", req, rps, p50, p99, non2xx, (sockerr == "" ? "-" : sockerr)
    }' "$1"
}

run_wrk() { # PORT SECONDS OUTFILE
    taskset -c "$LOAD_CPU" timeout $(($2 + 20)) \
        wrk -t1 -c"$CONNS" -d"$2s" --latency "http://127.0.0.1:$1$PATH_URL" >"$3" 2>&1
}

for r in $(seq "$ROUNDS"); do
    # Rotate the order each round so no proxy always runs first or last.
    for k in $(seq 0 $((n - 1))); do
        p=${PROXY_LIST[$(((k + r - 1) % n))]}
        port=$(port_of "$p")
        run_wrk "$port" "$WARMUP" "$BENCH_TMP/warmup.txt" || true
        pids=$(pids_of "$p")
        # shellcheck disable=SC2086
        t0=$(cpu_ticks $pids) b0=$(cpu_busy_ticks "$PROXY_CPU") w0=$(date +%s%N)
        out=$BENCH_TMP/wrk-$p-$r.txt
        run_wrk "$port" "$DURATION" "$out" || { cat "$out" >&2; die "wrk against $p failed"; }
        # shellcheck disable=SC2086
        t1=$(cpu_ticks $pids) b1=$(cpu_busy_ticks "$PROXY_CPU") w1=$(date +%s%N)
        for pid in $pids; do kill -0 "$pid" 2>/dev/null || die "$p (pid $pid) died during the run"; done
        if [ "$p" = bulwark ] && [ "$(bulwark_non200)" != 0 ]; then
            curl -s "http://127.0.0.1:$BULWARK_ADMIN_PORT/metrics" | grep -E '^bulwark_(requests|shield_requests)_total' >&2
            die "bulwark answered something other than the origin's 200 (see above): not a proxy measurement"
        fi
        parsed=$(parse_wrk "$out") || { cat "$out" >&2; die "cannot parse wrk output for $p"; }
        read -r req rps p50 p99 non2xx sockerr <<<"$parsed"
        cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
        # % of one CPU over the run: the proxy's, and everything on its CPU
        read -r pct busy < <(awk -v d=$((t1 - t0)) -v b=$((b1 - b0)) -v hz="$CLK_TCK" -v ns=$((w1 - w0)) \
            'BEGIN { s = ns / 1e9; printf "%.0f %.0f\n", d / hz / s * 100, b / hz / s * 100 }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$p" "$req" "$rps" "$p50" "$p99" "$cpu_us" "$non2xx" "$sockerr" "$pct" "$busy" >>"$TSV"
        log "round $r $p: $rps req/s, p50 ${p50}ms, p99 ${p99}ms, ${cpu_us} us CPU/req ($((t1 - t0)) ticks / $req req; proxy ${pct}% of a CPU, CPU $PROXY_CPU ${busy}% busy)"
        if [ "$non2xx" != 0 ] || [ "$sockerr" != - ]; then
            log "WARNING: $p: non-2xx responses: $non2xx; socket errors: $sockerr"
            grep -E 'Non-2xx|Socket errors' "$out" >&2 || true
        fi
    done
done

mkdir -p "$ROOT/bench/results"
REPORT=$ROOT/bench/results/proxy-$(date +%Y%m%d-%H%M%S).md
{
    echo "## Proxy benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    machine_info
    echo "- load: wrk -t1 -c$CONNS -d${DURATION}s --latency http://127.0.0.1:PORT$PATH_URL, ${WARMUP}s warm-up before each run, $ROUNDS round(s), proxies in rotating order"
    echo "- proxies: one worker each; bulwark --workers 1, access log off, shield on with its surge floor out of reach (bench/lib.sh start_bulwark noattack); nginx worker_processes 1, upstream keepalive 64; haproxy nbthread 1, http-reuse always; all three add X-Forwarded-For/-Proto, Forwarded and X-Request-Id"
    echo "- CPU/req: the proxy's own utime+stime (/proc/PID/stat; nginx master+worker) over the measured run / requests"
    echo "- command: \`$CMDLINE\`"
    echo
    python3 - "$TSV" "${PROXY_LIST[@]}" <<'EOF'
import statistics, sys
tsv, order = sys.argv[1], sys.argv[2:]
runs = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
print("### Per round\n")
print("| round | proxy | requests | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx | socket errors | proxy CPU % | proxy's CPU busy % |")
print("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
for r in runs:
    print("| " + " | ".join(r) + " |")
print("\n(proxy CPU %: the proxy's own CPU time over the run, in % of one CPU; "
      "proxy's CPU busy %: all non-idle time of the CPU it is pinned to, loopback "
      "softirq work included: well above the proxy's own % means something else ran there)")
med = {}
for p in order:
    rows = [r for r in runs if r[1] == p]
    med[p] = {k: statistics.median(float(r[i]) for r in rows)
              for k, i in (("rps", 3), ("p50", 4), ("p99", 5), ("cpu", 6))}
    med[p]["err"] = sum(int(r[7]) for r in rows) + sum(r[8] != "-" for r in rows)
peers = [p for p in order if p != "bulwark"]
best_cpu = min((med[p]["cpu"] for p in peers), default=None)
best_p99 = min((med[p]["p99"] for p in peers), default=None)
print(f"\n### Median of {len(set(r[0] for r in runs))} round(s)\n")
print("| proxy | req/s | p50 ms | p99 ms | CPU µs/req | CPU/req ÷ best peer | p99 ÷ best peer | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for p in order:
    m = med[p]
    rc = f"{m['cpu'] / best_cpu:.2f}" if best_cpu else "-"
    rp = f"{m['p99'] / best_p99:.2f}" if best_p99 else "-"
    print(f"| {p} | {m['rps']:.0f} | {m['p50']:.3f} | {m['p99']:.3f} | {m['cpu']:.2f} | {rc} | {rp} | {m['err']} |")
print("\n(best peer = the lower of nginx and haproxy; below 1.00 means bulwark is better)")
# Ratios taken within each round (the proxies ran back to back there), which
# cancel most of the drift between rounds on a shared machine.
if "bulwark" in order and peers:
    rc, rp = [], []
    for rnd in sorted(set(r[0] for r in runs), key=int):
        row = {r[1]: r for r in runs if r[0] == rnd}
        rc.append(float(row["bulwark"][6]) / min(float(row[p][6]) for p in peers))
        rp.append(float(row["bulwark"][5]) / min(float(row[p][5]) for p in peers))
    print(f"\nWithin-round ratios, bulwark ÷ best peer: CPU/req {', '.join(f'{x:.2f}' for x in rc)}"
          f" (median {statistics.median(rc):.2f}); p99 {', '.join(f'{x:.2f}' for x in rp)}"
          f" (median {statistics.median(rp):.2f})")
EOF
} >"$REPORT"
echo
cat "$REPORT"
echo
log "report written to $REPORT"
