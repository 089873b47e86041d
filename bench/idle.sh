#!/usr/bin/env bash
# bench/idle.sh - memory cost of idle keep-alive client connections in
# bulwark, nginx and HAProxy (one worker each, each started fresh).
#
#   bench/idle.sh             15000 connections per proxy
#   N=5000 bench/idle.sh
#
# For each proxy: RSS (VmRSS; nginx: its worker) after one warm-up request;
# then bench/idleconns.py opens N connections, sends one GET on each, reads
# the response and keeps them open and idle; SETTLE seconds later RSS again.
# Reported: (RSS after - RSS before) / connections held, in KiB.
#
# Environment: N (15000) SETTLE (2, seconds) PATH_URL (/api/hello)
# PROXIES ("bulwark nginx haproxy") ORIGIN_IMPL (bulwark-origin | nginx)
# BUILD (build) and the ports in bench/lib.sh.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
for a in "$@"; do
    case $a in
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

N=${N:-15000}
SETTLE=${SETTLE:-2}
PATH_URL=${PATH_URL:-/api/hello}
PROXIES=${PROXIES:-bulwark nginx haproxy}
read -r -a PROXY_LIST <<<"$PROXIES"
TARGET_KIB=0.75 # bulwark's target, from the issue

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT INT TERM

CMDLINE="N=$N SETTLE=$SETTLE PATH_URL=$PATH_URL PROXIES=\"$PROXIES\" ORIGIN_IMPL=$ORIGIN_IMPL bench/idle.sh $*"
[ "$(ulimit -Hn)" -ge $((N + 100)) ] || die "N=$N needs a hard open-files limit above $((N + 100)) (have $(ulimit -Hn))"

bench_preflight "$0"

check_ports_free "$ORIGIN_PORT" "$BULWARK_PORT" "$NGINX_PORT" "$HAPROXY_PORT"
start_origin

TSV=$BENCH_TMP/idle.tsv
: >"$TSV"
for p in "${PROXY_LIST[@]}"; do
    "start_$p" idle
    verify_proxy "$p" "$PATH_URL" # the warm-up request
    case $p in
    nginx) mpid=$(nginx_worker) ;;
    *) mpid=$(pids_of "$p") ;;
    esac
    sleep 0.5
    rss0=$(rss_kib "$mpid")
    log "$p: pid $mpid, RSS $rss0 KiB before; opening $N idle keep-alive connections"

    out=$BENCH_TMP/idleconns-$p.txt
    taskset -c "$LOAD_CPU" python3 "$ROOT/bench/idleconns.py" --connect "127.0.0.1:$(port_of "$p")" \
        --n "$N" --path "$PATH_URL" --timeout 90 --hold 120 >"$out" 2>"$out.err" &
    cpid=$!
    BENCH_PIDS+=("$cpid")
    for _ in $(seq 1000); do # <= 100 s
        grep -q '^READY' "$out" && break
        kill -0 "$cpid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q '^READY' "$out" || { cat "$out.err" >&2; die "idleconns.py against $p did not finish setting up"; }
    ready=$(grep '^READY' "$out")
    held=$(echo "$ready" | sed 's/.* ok=\([0-9]*\).*/\1/')
    log "$p: $ready"
    sleep "$SETTLE"
    kill -0 "$mpid" 2>/dev/null || die "$p (pid $mpid) died while holding the connections"
    rss1=$(rss_kib "$mpid")
    fds=$(ls "/proc/$mpid/fd" | wc -l)
    estab=$(ss -Htn state established "( sport = :$(port_of "$p") )" | wc -l)

    bench_stop "$cpid"
    done_line=$(grep '^DONE' "$out" || echo "DONE ?")
    log "$p: RSS $rss1 KiB after, $fds fds open in the proxy, $estab client connections established; $done_line"
    grep -v '^idleconns: [0-9]* ok' "$out.err" >&2 || true
    case $p in
    bulwark) bench_stop "$BULWARK_PID" ;;
    nginx) bench_stop "$NGINX_PID" ;;
    haproxy) bench_stop "$HAPROXY_PID" ;;
    esac
    [ "$held" -gt 0 ] || die "$p: no connection was held"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$N" "$held" "$rss0" "$rss1" "$estab" >>"$TSV"
done

mkdir -p "$ROOT/bench/results"
REPORT=$ROOT/bench/results/idle-$(date +%Y%m%d-%H%M%S).md
{
    echo "## Idle keep-alive connections ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    machine_info
    echo "- method: one worker per proxy, started fresh; VmRSS of the process that holds the connections (nginx: the worker) after one warm-up request, then after N clients each sent \`GET $PATH_URL HTTP/1.1\`, read the response and stayed open and idle (${SETTLE}s settle); KiB/conn = ΔRSS / connections held"
    echo "- limits: nginx worker_rlimit_nofile 20000, worker_connections 20000, keepalive_timeout 120s; haproxy maxconn 19000 with \`no strict-limits\` (it asks for 2×maxconn fds and gets the $(ulimit -Hn) hard limit), timeout http-keep-alive/client 120s; bulwark config file with max_connections 20000 (quick mode caps at 10000), keepalive_timeout default 60s"
    echo "- command: \`$CMDLINE\`"
    echo
    echo "| proxy | connections asked | held | RSS before MiB | RSS after MiB | ΔRSS MiB | **KiB/conn** (ΔRSS ÷ held) | all-in KiB/conn (RSS after ÷ held) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %s | %d | %d | %.1f | %.1f | %.1f | **%.3f** | %.3f |\n", $1, $2, $3, $4/1024, $5/1024, ($5-$4)/1024, ($5-$4)/$3, $5/$3 }' "$TSV"
    echo
    echo "Note: \"RSS before\" includes whatever a proxy allocates up front for its connection limit: nginx touches its whole connection table (worker_connections 20000: about 8 MiB, ~0.4 KiB per slot) at start, so that part is not in its ΔRSS; the all-in column counts it."
    echo
    echo "Target (issue): bulwark below $TARGET_KIB KiB/conn (nginx about 0.86, HAProxy about 1.5 measured the same way)."
} >"$REPORT"
echo
cat "$REPORT"
echo
log "report written to $REPORT"
