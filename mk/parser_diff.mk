# Differential parser test (test/unit/test_parser_diff.c): bulwark's request
# parser against an independent one, nodejs http_parser 2.9 as Debian ships
# it.  Only this test binary links it; bulwark itself does not.
DEB_PKGS += libhttp-parser-dev

$(BUILD)/test/test_parser_diff: LDLIBS += -lhttp_parser
