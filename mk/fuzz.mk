# mk/fuzz.mk - libFuzzer harnesses (test/fuzz/, docs/FUZZING.md).
#
#   make fuzz-build                 build-fuzz/fuzz_NAME, one binary per harness
#   make fuzz [FUZZ_SECONDS=120]    run every harness in turn (niced), print stats
#   make fuzz-NAME [FUZZ_SECONDS=]  run one harness (NAME: see FUZZ_NAMES)
#   make fuzz-ci                    every harness for FUZZ_CI_SECONDS (5) each
#
# Each harness is compiled in one clang command with the few src/ files it
# needs (FUZZ_SRC_NAME, plus libraries in FUZZ_LIBS_NAME), all with the same
# sanitizer flags (nothing is shared with the gcc build in $(BUILD)).  The
# runs keep their corpus in build-fuzz/corpus/NAME, seeded from
# test/fuzz/corpus/NAME; crash inputs land in test/fuzz/regress/NAME
# (test/fuzz/run.sh does the running).  test/stage_fuzz.sh is the `make test`
# stage; test/unit/test_fuzz_regress.c replays corpus and regressions with gcc.

FUZZ_CC         ?= clang
FUZZ_BUILD      ?= build-fuzz
FUZZ_SECONDS    ?= 120
FUZZ_CI_SECONDS ?= 5
FUZZ_NICE       ?= nice -n 10
FUZZ_NAMES      := request response chunked proxyproto conf policy token
FUZZ_CFLAGS     := -std=c17 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -D_GNU_SOURCE \
                   -pthread -Isrc -Itools -fsanitize=fuzzer,address,undefined \
                   -fno-sanitize-recover=all

# The src/ files each harness links.
FUZZ_SRC_request    := src/http/parser.c
FUZZ_SRC_response   := src/http/parser.c
FUZZ_SRC_chunked    := src/http/parser.c
FUZZ_SRC_proxyproto := src/http/proxyproto.c
FUZZ_SRC_conf       := src/core/conf.c src/core/log.c src/shield/policy.c
FUZZ_SRC_policy     := src/shield/policy.c src/http/parser.c
FUZZ_SRC_token      := src/shield/token.c

# The libraries each harness needs besides libc.
FUZZ_LIBS_token     := -lcrypto

FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_DEPS := test/fuzz/fuzz.h $(wildcard src/core/*.h src/http/*.h src/shield/*.h)

# clang for the harnesses; libFuzzer's runtime is in libclang-rt-14-dev,
# which clang only recommends.  Only the test run needs them (make test-deps).
TEST_DEB_PKGS += clang libclang-rt-14-dev

.PHONY: fuzz-build fuzz fuzz-ci $(FUZZ_NAMES:%=fuzz-%)

fuzz-build: $(FUZZ_BINS)

define FUZZ_HARNESS
$(FUZZ_BUILD)/fuzz_$(1): test/fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1)) $(FUZZ_DEPS)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $$@ test/fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1)) $(FUZZ_LIBS_$(1))

fuzz-$(1): $(FUZZ_BUILD)/fuzz_$(1)
	@$(FUZZ_NICE) sh test/fuzz/run.sh -s $(FUZZ_SECONDS) -b $(FUZZ_BUILD) $(1)
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call FUZZ_HARNESS,$(n))))

fuzz: fuzz-build
	@$(FUZZ_NICE) sh test/fuzz/run.sh -s $(FUZZ_SECONDS) -b $(FUZZ_BUILD) $(FUZZ_NAMES)

fuzz-ci: fuzz-build
	@sh test/fuzz/run.sh -s $(FUZZ_CI_SECONDS) -b $(FUZZ_BUILD) $(FUZZ_NAMES)
