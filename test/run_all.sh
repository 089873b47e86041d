#!/bin/sh
# The whole test run: unit tests, then end-to-end tests.  Ends with the line
# "N passed, N failed" and exits non-zero if anything failed.
BUILD=${1:-build}
sh test/run_unit.sh "$BUILD"
read up uf < "$BUILD/unit.counts"
python3 test/e2e/run.py --build "$BUILD" --counts "$BUILD/e2e.counts"
if [ -f "$BUILD/e2e.counts" ]; then read ep ef < "$BUILD/e2e.counts"; else ep=0; ef=1; fi
p=$((up + ep)); f=$((uf + ef))
echo "$p passed, $f failed"
[ "$f" = 0 ]
