#!/bin/sh
# Run every cmocka unit test binary; print "unit: N passed, N failed" and
# leave the counts in $BUILD/unit.counts for run_all.sh.
BUILD=${1:-build}
pass=0; fail=0
for t in "$BUILD"/test/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi   # crashed before reporting
    if [ "$f" != 0 ]; then printf '%s\n' "$out" | grep -E 'FAIL|ERROR|error|Assert' | head -40; fi
    echo "  $(basename "$t"): $p passed, $f failed"
    pass=$((pass + p)); fail=$((fail + f))
done
echo "$pass $fail" > "$BUILD/unit.counts"
echo "unit: $pass passed, $fail failed"
