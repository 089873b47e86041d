#!/bin/sh
# test/stage_asan.sh - the sanitizer stage of `make test` (docs/TESTING.md).
#
#   sh test/stage_asan.sh BUILD        (also: make test-asan)
#
# Builds the whole tree again with AddressSanitizer, LeakSanitizer and
# UndefinedBehaviorSanitizer into $ASAN_BUILD (default build-asan, see
# mk/asan.mk), runs the unit tests and the end-to-end tests against it, then
# stops bulwark and bulwark-probe with SIGTERM after some traffic and requires
# a clean exit (status 0, no leak).  Leaves "PASSED FAILED" in
# BUILD/stage_asan.counts.
#
# How a report fails the run even when it comes from a server whose test
# passed: every sanitized process writes its report to a file of its own
# (ASAN_OPTIONS / UBSAN_OPTIONS log_path=DIR/asan -> DIR/asan.PID), and
# nothing else ever writes there.  Each end-to-end test gets its own DIR, so a
# report turns that test into a failure, named; a unit-test report counts as
# one more failure.  The reports are kept (the path is printed) when any.
BUILD=${1:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
ASAN_CC=${ASAN_CC:-gcc}
COUNTS="$BUILD/stage_asan.counts"
start=$(date +%s)
mkdir -p "$BUILD" "$ASAN_BUILD"
echo "asan+ubsan: $ASAN_CC -fsanitize=address,undefined build in $ASAN_BUILD; unit, e2e, clean shutdown"

finish() {  # finish PASSED FAILED
    echo "$1 $2" > "$COUNTS"
    echo "asan+ubsan: $1 passed, $2 failed in $(($(date +%s) - start))s"
    [ "$2" = 0 ]
    exit
}

# Two `make test` at once in one checkout would rebuild the tree under each
# other's feet: one sanitizer stage at a time (fd 9 holds the lock; the
# commands below get `9>&-` so no server started by a test inherits it).
if command -v flock > /dev/null 2>&1; then
    lock="${TMPDIR:-/tmp}/bulwark-asan-$(cd "$ASAN_BUILD" && pwd | cksum | cut -d' ' -f1).lock"
    exec 9> "$lock"
    flock -w 1800 9 || echo "asan+ubsan: $lock still held after 30 min; going on"
fi

log="$BUILD/stage_asan.build.log"
jobs=$(nproc 2> /dev/null || echo 2)
if ! make --no-print-directory -j"$jobs" ASAN_BUILD="$ASAN_BUILD" ASAN_CC="$ASAN_CC" \
        test-asan-build > "$log" 2>&1 9>&-; then
    tail -40 "$log"
    echo "asan+ubsan: the sanitizer build failed (whole log: $log)"
    finish 0 1
fi
for b in bulwark bulwark-origin bulwark-probe bulwark-siege; do
    if ! grep -q __asan_init "$ASAN_BUILD/$b"; then  # e.g. CFLAGS forced from outside
        echo "asan+ubsan: $ASAN_BUILD/$b is not instrumented (see $log)"
        finish 0 1
    fi
done

REPORTS=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-asan-reports.XXXXXX") || finish 0 1
mkdir -p "$REPORTS/unit" "$REPORTS/e2e" "$REPORTS/shutdown"
# Tests that cannot hold under a sanitizer (e.g. a memory bound: ASan's
# redzones and quarantine inflate the RSS) may raise Skip when this is set.
BULWARK_SANITIZED=1
export BULWARK_SANITIZED

san_env() {  # san_env DIR: sanitizer options for every process started from here
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:log_path=$1/asan"
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$1/ubsan"
    export ASAN_OPTIONS UBSAN_OPTIONS
}

nreports() {  # nreports DIR: how many report files, each shown briefly
    n=0
    for f in "$1"/*; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        echo "  sanitizer report $f:"
        grep -v -e '^=*$' -e '^ *$' "$f" | head -16 | sed 's/^/    /'
        if grep -v -e '^=*$' -e '^ *$' "$f" | sed -n '17,$p' | grep -q '^SUMMARY:'; then
            grep '^SUMMARY:' "$f" | tail -1 | sed 's/^/    /'
        fi
    done > "$REPORTS/.shown"
    cat "$REPORTS/.shown"
    rm -f "$REPORTS/.shown"
    [ "$n" -le 100 ] || n=100
    return "$n"
}

# -- unit tests --------------------------------------------------------------
san_env "$REPORTS/unit"
rm -f "$ASAN_BUILD/unit.counts"
sh test/run_unit.sh "$ASAN_BUILD" 9>&- | grep -v '^  test_.*: [0-9]* passed, 0 failed$' |
    sed 's/^/  /'
if [ -f "$ASAN_BUILD/unit.counts" ]; then read -r up uf < "$ASAN_BUILD/unit.counts"; else up=0; uf=1; fi
nreports "$REPORTS/unit"
uf=$((uf + $?))

# -- end-to-end tests ----------------------------------------------------------
# run.py's own runner, with one report folder per test: run_one() is wrapped
# to point log_path at the test's folder before it forks the test and to turn
# the result into a failure when the folder is not empty afterwards.
rm -f "$ASAN_BUILD/e2e.counts"
REPORTS_E2E="$REPORTS/e2e" python3 - --build "$ASAN_BUILD" --timeout 120 \
        --counts "$ASAN_BUILD/e2e.counts" 9>&- << 'EOF' | grep -v '^PASS ' | sed 's/^/  /'
import os, sys
sys.path.insert(0, os.path.join("test", "e2e"))
import run

root = os.environ["REPORTS_E2E"]
plain_run_one = run.run_one


def report_heads(d):
    out = []
    for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f), errors="replace") as fh:
            lines = [ln.rstrip() for ln in fh if ln.strip() and not set(ln.strip()) <= {"="}]
        summary = [ln for ln in lines[16:] if ln.startswith("SUMMARY:")]
        out.append(f"--- sanitizer report {os.path.join(d, f)}\n"
                   + "\n".join(lines[:16] + summary[-1:]))
    return out


def run_one(fn, timeout):
    d = os.path.join(root, f"{fn.__module__}.{fn.__name__}")
    os.makedirs(d, exist_ok=True)
    os.environ["ASAN_OPTIONS"] = ("detect_leaks=1:abort_on_error=1:halt_on_error=1:"
                                  f"log_path={d}/asan")
    os.environ["UBSAN_OPTIONS"] = f"print_stacktrace=1:halt_on_error=1:log_path={d}/ubsan"
    res = plain_run_one(fn, timeout)
    heads = report_heads(d)
    if heads:
        first = heads[0].splitlines()[1] if len(heads[0].splitlines()) > 1 else "?"
        if res.get("status") != "FAIL":
            res = {"status": "FAIL", "logs": [],
                   "reason": f"{len(heads)} sanitizer report(s): {first.strip()}"}
        res["logs"] = heads + list(res.get("logs", []))
    return res


run.run_one = run_one
sys.argv[0] = "run.py"
sys.exit(run.main())
EOF
if [ -f "$ASAN_BUILD/e2e.counts" ]; then read -r ep ef < "$ASAN_BUILD/e2e.counts"; else ep=0; ef=1; fi

# -- clean shutdown --------------------------------------------------------------
# The harness gives a server 3 s after SIGTERM before SIGKILL (which skips
# LeakSanitizer); here the wait is long and the exit status must be 0.
san_env "$REPORTS/shutdown"
python3 - "$ASAN_BUILD" 9>&- << 'EOF'
import os, signal, sys
sys.path.insert(0, os.path.join("test", "e2e"))
import harness as h

h.BUILD = os.path.abspath(sys.argv[1])


def check(ok, what):
    if not ok:
        raise AssertionError(what)


def stop(srv):
    srv.signal(signal.SIGTERM)
    rc = srv.wait(60)
    check(rc == 0, f"{srv.name} exited with status {rc} after SIGTERM:\n{srv.tail()}")
    print(f"  PASS clean shutdown of {srv.name}")


try:
    o = h.start_origin("origin")
    b = h.proxy_with_sites([h.site("a.test", [o.port], health="interval=1s")], workers=2)
    r = h.get(b.port, "/bytes?n=300000")
    check(r.status == 200, f"GET /bytes: {r}")
    r = h.request(b.port, "POST", "/echo", body=b"x" * 70000)
    check(r.status == 200, f"POST /echo: {r}")
    r = h.get(b.port, "/headers", host="unknown.test")
    check(r.status > 0, f"unknown host: {r}")  # the first site is the default
    with h.HTTPConn(b.port) as c:  # refused mid-parse, closed by bulwark
        c.send(b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        r = c.read_response()
        check(r.status == 400, f"CL+TE: {r}")
    idle = h.HTTPConn(b.port)  # still open at SIGTERM
    idle.request("GET", "/healthz")
    idle.read_response()
    check(h.admin_get(b.admin_port, "/metrics").status == 200, "admin /metrics")
    b.signal(signal.SIGHUP)  # a reload: two configurations to free
    h.wait_until(lambda: "configuration 2 loaded" in b.log(), 10, what="the reload")
    stop(b)
    idle.close()
    port = h.free_port()
    p = h.Server("probe", [h.binary("bulwark-probe"), "--listen", f"127.0.0.1:{port}"], port=port)
    h.wait_port(port, server=p)
    check(h.get(port, "/api/hello").status == 200, "probe GET /api/hello")
    stop(p)
    failed = 0
except Exception as e:  # noqa: B902 - any error is one failure here
    print(f"  FAIL clean shutdown: {type(e).__name__}: {e}")
    failed = 1
finally:
    h.cleanup()
    h.remove_tmpdirs()
sys.exit(failed)
EOF
sf=$?
[ "$sf" = 0 ] && sp=2 || sp=0
nreports "$REPORTS/shutdown"
sf=$((sf + $?))

passed=$((up + ep + sp)); failed=$((uf + ef + sf))
if [ "$(find "$REPORTS" -type f | head -1)" ]; then
    echo "asan+ubsan: sanitizer reports kept in $REPORTS"
else
    rm -rf "$REPORTS"
fi
finish "$passed" "$failed"
