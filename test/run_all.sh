#!/bin/sh
# The whole test run: unit tests, end-to-end tests, then every extra stage
# test/stage_*.sh (sanitizer build, short fuzz runs, ...) in name order.  A
# stage is run as `sh test/stage_X.sh BUILD` and leaves "PASSED FAILED" in
# BUILD/stage_X.counts (a stage that leaves none counts as one failure).
# Ends with the line "N passed, N failed" and exits non-zero if anything failed.
BUILD=${1:-build}
sh test/run_unit.sh "$BUILD"
read up uf < "$BUILD/unit.counts"
python3 test/e2e/run.py --build "$BUILD" --counts "$BUILD/e2e.counts"
if [ -f "$BUILD/e2e.counts" ]; then read ep ef < "$BUILD/e2e.counts"; else ep=0; ef=1; fi
p=$((up + ep)); f=$((uf + ef))
for stage in test/stage_*.sh; do
    [ -f "$stage" ] || continue
    name=$(basename "$stage" .sh)
    rm -f "$BUILD/$name.counts"
    sh "$stage" "$BUILD"
    if [ -f "$BUILD/$name.counts" ]; then read sp sf < "$BUILD/$name.counts"; else sp=0; sf=1; fi
    echo "$name: $sp passed, $sf failed"
    p=$((p + sp)); f=$((f + sf))
done
echo "$p passed, $f failed"
[ "$f" = 0 ]
