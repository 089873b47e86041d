#!/bin/sh
# test/fuzz/run.sh - run libFuzzer harnesses one after another, each for a
# fixed time, and report what each run did.  Used by `make fuzz`,
# `make fuzz-NAME`, `make fuzz-ci` and test/stage_fuzz.sh.
#
#   sh test/fuzz/run.sh [-s SECONDS] [-b DIR] [-f] NAME...
#
#   -s SECONDS  -max_total_time of each run (default 120)
#   -b DIR      where the binaries are: DIR/fuzz_NAME (default build-fuzz);
#               the runs use DIR/corpus/NAME, DIR/artifacts/NAME, DIR/log/NAME.log
#   -f          start from a fresh copy of the seed corpus (else new inputs
#               found by earlier runs are kept)
#
# Each run reads DIR/corpus/NAME (seeded from test/fuzz/corpus/NAME, and
# where new inputs are written) and test/fuzz/regress/NAME (read only), with
# test/fuzz/dict/NAME.dict.  It prints one line: executions, exec/s, final
# cov/ft, corpus size, wall time, and appends the same to DIR/results.tsv.
# A crash, leak, timeout or out-of-memory input is copied into
# test/fuzz/regress/NAME/ (where test_fuzz_regress replays it from then on)
# and the run fails.  Exit status: the number of failed runs.
secs=120
dir=build-fuzz
fresh=0
while getopts s:b:f opt; do
    case $opt in
    s) secs=$OPTARG ;;
    b) dir=$OPTARG ;;
    f) fresh=1 ;;
    *) echo "usage: $0 [-s SECONDS] [-b DIR] [-f] NAME..." >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-s SECONDS] [-b DIR] [-f] NAME..." >&2; exit 2; }

failed=0
for name in "$@"; do
    bin=$dir/fuzz_$name
    corpus=$dir/corpus/$name
    arts=$dir/artifacts/$name
    log=$dir/log/$name.log
    regress=test/fuzz/regress/$name
    if [ ! -x "$bin" ]; then
        echo "fuzz $name: FAILED: $bin is missing (make fuzz-build)"
        failed=$((failed + 1))
        continue
    fi
    [ "$fresh" = 1 ] && rm -rf "$corpus"
    rm -rf "$arts"
    mkdir -p "$corpus" "$arts" "$dir/log" "$regress"
    cp test/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
    start=$(date +%s)
    "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -dict=test/fuzz/dict/"$name".dict -artifact_prefix="$arts"/ \
        "$corpus" "$regress" > "$log" 2>&1
    rc=$?
    wall=$(($(date +%s) - start))

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1)
    cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    files=$(find "$corpus" -type f | wc -l)
    bytes=$(find "$corpus" -type f -exec cat {} + | wc -c)

    status=ok
    found=""
    for f in "$arts"/crash-* "$arts"/leak-* "$arts"/timeout-* "$arts"/oom-*; do
        [ -f "$f" ] || continue
        cp "$f" "$regress"/
        found="$found $regress/$(basename "$f")"
    done
    if [ -n "$found" ]; then
        status=FAILED
        echo "**************************************************************"
        echo "fuzz $name: FOUND A FAILING INPUT (kept for test_fuzz_regress):"
        for f in $found; do echo "    $f"; done
        grep -E 'ERROR|SUMMARY|fuzz invariant|runtime error' "$log" | head -10 | sed 's/^/    /'
        echo "    log: $log"
        echo "**************************************************************"
    elif [ "$rc" != 0 ]; then
        status=FAILED
        echo "fuzz $name: FAILED: exit status $rc; last lines of $log:"
        tail -15 "$log" | sed 's/^/    /'
    fi
    [ "$status" = ok ] || failed=$((failed + 1))
    echo "fuzz $name: ${execs:-?} execs (${eps:-?}/s), cov ${cov:-?}, ft ${ft:-?}," \
         "corpus $files files / $bytes bytes, ${wall}s, $status"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$name" \
        "$secs" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$files" "$bytes" "$wall" \
        "$status" >> "$dir/results.tsv"
done
exit "$failed"
