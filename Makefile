# bulwark build.  Sources are discovered by folder, so a new module needs no
# Makefile edit:
#   src/**/*.c (but src/main.c)  -> build/libbulwark.a
#   src/main.c                   -> build/bulwark
#   tools/origin/*.c             -> build/bulwark-origin
#   tools/probe/*.c              -> build/bulwark-probe (origin that counts arrivals)
#   tools/siege/*.c (but main.c) -> build/libsiege.a; with main.c -> build/bulwark-siege
#   test/unit/test_*.c           -> build/test/test_* (cmocka, one binary each;
#                                   linked with libsiege.a and libbulwark.a)
#
#   make            build everything
#   make run        install missing packages (root), build, start edge + demo origin
#   make test       unit tests + end-to-end tests, ends with "N passed, N failed"
#   make deps       install missing Debian packages (when root)

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -MMD -MP -Isrc -Itools
LDLIBS  += -lssl -lcrypto -lmaxminddb -lm -pthread
TEST_LDLIBS = -lcmocka

LIB_SRC    := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
ORIGIN_SRC := $(wildcard tools/origin/*.c)
ORIGIN_OBJ := $(ORIGIN_SRC:%.c=$(BUILD)/%.o)
PROBE_SRC  := $(wildcard tools/probe/*.c)
PROBE_OBJ  := $(PROBE_SRC:%.c=$(BUILD)/%.o)
SIEGE_SRC  := $(filter-out tools/siege/main.c,$(wildcard tools/siege/*.c))
SIEGE_OBJ  := $(SIEGE_SRC:%.c=$(BUILD)/%.o)
TEST_SRC   := $(wildcard test/unit/test_*.c)
TEST_BIN   := $(TEST_SRC:test/unit/%.c=$(BUILD)/test/%)

# Debian packages the build needs, and those only the test run needs (a
# fuzzing compiler...), see docs/DEPENDENCIES.md.  mk/*.mk fragments add to
# both.
DEB_PKGS := gcc make libssl-dev libcmocka-dev python3 curl libmaxminddb-dev
TEST_DEB_PKGS := libmaxmind-db-writer-perl

.PHONY: all deps test-deps run test unit e2e clean

all: $(BUILD)/bulwark $(BUILD)/bulwark-origin $(BUILD)/bulwark-probe $(BUILD)/bulwark-siege \
     $(TEST_BIN)

deps:
	@sh scripts/deps.sh $(DEB_PKGS)

test-deps:
	@sh scripts/deps.sh $(DEB_PKGS) $(TEST_DEB_PKGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libbulwark.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bulwark: $(BUILD)/src/main.o $(BUILD)/libbulwark.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bulwark-origin: $(ORIGIN_OBJ) $(BUILD)/libbulwark.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bulwark-probe: $(PROBE_OBJ) $(BUILD)/libbulwark.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libsiege.a: $(SIEGE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bulwark-siege: $(BUILD)/tools/siege/main.o $(BUILD)/libsiege.a $(BUILD)/libbulwark.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lm

$(BUILD)/test/%: $(BUILD)/test/unit/%.o $(BUILD)/libsiege.a $(BUILD)/libbulwark.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(TEST_LDLIBS) $(LDLIBS) -lm

# The GeoIP unit test's database, written by test/data/mkmmdb.pl (needs
# libmaxmind-db-writer-perl, a test package) and found beside the test binary.
# Without the writer it is skipped with a note, so a plain `make` still
# builds; test_geoip then fails saying what is missing.
GEOIP_TEST_DB := $(BUILD)/test/data/geoip-test.mmdb

$(BUILD)/test/test_geoip: | $(GEOIP_TEST_DB)

$(GEOIP_TEST_DB): test/data/mkmmdb.pl
	@mkdir -p $(dir $@)
	@if perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null; then \
	    echo "perl test/data/mkmmdb.pl $@"; perl test/data/mkmmdb.pl $@; \
	else \
	    echo "note: $@ not built: libmaxmind-db-writer-perl is missing (make test-deps)" >&2; \
	fi

run: deps all
	@sh scripts/run.sh

unit: all
	@sh test/run_unit.sh $(BUILD)

e2e: all
	@python3 test/e2e/run.py --build $(BUILD)

test: test-deps
	@$(MAKE) --no-print-directory all
	@sh test/run_all.sh $(BUILD)

clean:
	rm -rf $(BUILD)

# Fragments of other subsystems' build (sanitizer tree, fuzzers, ...): each
# mk/*.mk adds its own targets and may append to DEB_PKGS.
-include $(sort $(wildcard mk/*.mk))

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
