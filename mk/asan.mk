# mk/asan.mk - the sanitizer tree (docs/TESTING.md, "Sanitizers").
#
# The whole tree (bulwark, the tools, the unit tests) built again into its own
# folder with AddressSanitizer (+ LeakSanitizer) and UndefinedBehaviorSanitizer:
#
#   make test-asan-build   build $(ASAN_BUILD) (default build-asan)
#   make test-asan         build it, then run the unit and end-to-end tests
#                          against it (test/stage_asan.sh, which `make test`
#                          also runs as one of its stages)
#
# The sanitizer flags ride in OPT: the Makefile builds CFLAGS as
# `$(OPT) -g` plus its own warnings and includes, and compiles *and links*
# with $(CFLAGS), so every object and every binary gets them.  (CFLAGS on the
# sub-make's command line would replace the Makefile's `+=` part instead.)
# A stamp file remembers compiler and flags; when they change, the tree is
# rebuilt from scratch, so a tree never mixes instrumented and plain objects.
#
#   make test-asan ASAN_CC=clang ASAN_BUILD=build-asan-clang   # clang's runtime

ASAN_BUILD ?= build-asan
ASAN_CC    ?= gcc
ASAN_SAN   ?= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# gcc links libasan and libubsan as two shared libraries, each with its own
# copy of the runtime's common part (report file included) and exporting its
# entry points: calls cross from one library to the other, and one of the two
# then reports to stderr (lost in a server's log) whatever log_path says.
# Linked statically into each binary, every report lands in its file
# (checked for ASan, LSan and UBSan reports).  clang has one runtime for both.
ASAN_OPT   ?= -O1 $(ASAN_SAN) \
              $(if $(findstring clang,$(ASAN_CC)),,-static-libasan -static-libubsan)

.PHONY: test-asan test-asan-build

test-asan-build:
	@stamp='$(ASAN_CC) $(ASAN_OPT)'; \
	if [ -d '$(ASAN_BUILD)' ] && [ "$$(cat '$(ASAN_BUILD)/.asan-flags' 2>/dev/null)" != "$$stamp" ]; then \
	    echo "asan: compiler or flags changed, rebuilding $(ASAN_BUILD) from scratch"; \
	    rm -rf '$(ASAN_BUILD)'; \
	fi; \
	mkdir -p '$(ASAN_BUILD)' && printf '%s\n' "$$stamp" > '$(ASAN_BUILD)/.asan-flags'
	@env -u CFLAGS $(MAKE) --no-print-directory BUILD='$(ASAN_BUILD)' CC='$(ASAN_CC)' \
	    OPT='$(ASAN_OPT)' all

test-asan:
	@mkdir -p '$(BUILD)'
	@ASAN_BUILD='$(ASAN_BUILD)' ASAN_CC='$(ASAN_CC)' sh test/stage_asan.sh '$(BUILD)'
