#!/bin/sh
# test/stage_fuzz.sh - the fuzzing stage of `make test` (see test/run_all.sh):
#
#   sh test/stage_fuzz.sh BUILD
#
# Builds the libFuzzer harnesses with clang into BUILD/fuzz (apart from
# `make fuzz`'s build-fuzz/, so both can run at once), then runs each for
# FUZZ_STAGE_SECONDS (default 5) over a fresh copy of its seed corpus and its
# regression inputs.  Each harness is one test; a harness that finds a
# failing input copies it into test/fuzz/regress/NAME/ and fails (see
# test/fuzz/run.sh).  Without a clang that can link libFuzzer the stage is
# one failure, with the reason.  Leaves "PASSED FAILED" in
# BUILD/stage_fuzz.counts.
BUILD=${1:-build}
secs=${FUZZ_STAGE_SECONDS:-5}
cc=${FUZZ_CC:-clang}
dir=$BUILD/fuzz
counts=$BUILD/stage_fuzz.counts
names="request response chunked proxyproto conf policy token"
mkdir -p "$dir"

give_up() {
    echo "stage_fuzz: $*"
    echo "0 1" > "$counts"
    exit 0
}

if ! command -v "$cc" >/dev/null 2>&1; then
    give_up "$cc not found: the fuzzers need clang with libFuzzer (make test-deps installs clang and libclang-rt-14-dev)"
fi
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    > "$dir/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$dir/probe" "$dir/probe.c" > "$dir/probe.log" 2>&1; then
    sed 's/^/    /' "$dir/probe.log" | head -5
    give_up "$cc cannot link a libFuzzer binary (libclang_rt.fuzzer is in libclang-rt-14-dev; make test-deps installs it)"
fi

if ! make --no-print-directory -s fuzz-build FUZZ_BUILD="$dir" FUZZ_CC="$cc" > "$dir/build.log" 2>&1; then
    sed 's/^/    /' "$dir/build.log" | tail -20
    give_up "building the fuzz harnesses failed (log: $dir/build.log)"
fi

pass=0; fail=0
for name in $names; do
    if sh test/fuzz/run.sh -f -s "$secs" -b "$dir" "$name"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
    fi
done
echo "$pass $fail" > "$counts"
