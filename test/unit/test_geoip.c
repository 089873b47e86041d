/*
 * test_geoip.c - country lookups (shield/geoip.c) in the small database
 * test/data/mkmmdb.pl writes into BUILD/test/data/ (see the Makefile and
 * test/data/README.md for its networks): hits on both sides of each
 * network's edges, the more specific of two nested networks, IPv4-mapped
 * IPv6, the registered_country fallback, unknown addresses, a missing or
 * corrupt file; and the +86 registration rule of docs/POLICY.md with
 * countries from this database.
 *
 * The database is found through $BW_GEOIP_TEST_DB, else beside this binary
 * (data/geoip-test.mmdb).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shield/geoip.h"
#include "shield/policy.h"

static char db_path[4096];

static const char *test_db(void)
{
    const char *env = getenv("BW_GEOIP_TEST_DB");
    if (env && *env)
        return env;
    if (!db_path[0]) {
        char exe[4000];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
            return "test/data/geoip-test.mmdb";
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(db_path, sizeof(db_path), "%s/data/geoip-test.mmdb", exe);
    }
    return db_path;
}

static int open_db(void **state)
{
    char err[512] = "";
    bw_geoip *g = bw_geoip_open(test_db(), err, sizeof(err));
    if (!g) {
        print_error("%s\n(the Makefile builds it with test/data/mkmmdb.pl, which needs the Debian "
                    "package libmaxmind-db-writer-perl: make test-deps)\n",
                    err);
        return -1;
    }
    *state = g;
    return 0;
}

static int close_db(void **state)
{
    bw_geoip_close(*state);
    return 0;
}

/* Country of a textual address, "" if unknown. */
static const char *cc_of(const bw_geoip *g, const char *text)
{
    static char cc[3];
    uint8_t a[16] = { 0 };
    int family = strchr(text, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(family, text, a), 1);
    bool ok = bw_geoip_country(g, family, a, cc);
    assert_int_equal(ok, cc[0] != '\0');
    return cc;
}

static void test_ipv4_networks(void **state)
{
    const bw_geoip *g = *state;
    assert_string_equal(cc_of(g, "127.0.0.1"), "CN");
    assert_string_equal(cc_of(g, "127.0.255.255"), "CN"); /* last of 127.0.0.0/16 */
    assert_string_equal(cc_of(g, "127.1.0.0"), "US");     /* first of the next /16 */
    assert_string_equal(cc_of(g, "127.1.200.3"), "US");
    assert_string_equal(cc_of(g, "127.2.0.9"), "DE");
    assert_string_equal(cc_of(g, "10.0.0.0"), "FR");
    assert_string_equal(cc_of(g, "10.255.255.255"), "FR");
}

static void test_ipv6_and_mapped(void **state)
{
    const bw_geoip *g = *state;
    assert_string_equal(cc_of(g, "2001:db8::1"), "JP");
    assert_string_equal(cc_of(g, "2001:db8:ffff:ffff::1"), "JP");
    assert_string_equal(cc_of(g, "2001:db8:1::5"), "KR"); /* the nested /48 wins */
    assert_string_equal(cc_of(g, "2001:db8:2::5"), "JP");
    /* a dual-stack socket's IPv4 client */
    assert_string_equal(cc_of(g, "::ffff:127.1.0.1"), "US");
    assert_string_equal(cc_of(g, "::ffff:10.1.2.3"), "FR");
}

static void test_registered_country_fallback(void **state)
{
    const bw_geoip *g = *state;
    assert_string_equal(cc_of(g, "127.3.4.5"), "GB");
}

static void test_unknown_addresses(void **state)
{
    const bw_geoip *g = *state;
    assert_string_equal(cc_of(g, "127.4.0.1"), "");
    assert_string_equal(cc_of(g, "192.0.2.1"), "");
    assert_string_equal(cc_of(g, "11.0.0.0"), ""); /* just past 10.0.0.0/8 */
    assert_string_equal(cc_of(g, "::1"), "");
    assert_string_equal(cc_of(g, "2001:db9::1"), ""); /* just past 2001:db8::/32 */
    char cc[3] = "XX";
    uint8_t a[16] = { 127 };
    assert_false(bw_geoip_country(g, AF_UNIX, a, cc)); /* not an IP family */
    assert_string_equal(cc, "");
    assert_false(bw_geoip_country(NULL, AF_INET, a, cc)); /* no database configured */
}

static void test_describe(void **state)
{
    char line[256];
    size_t n = bw_geoip_describe(*state, line, sizeof(line));
    assert_int_equal(n, strlen(line));
    assert_non_null(strstr(line, "bulwark-Test-Country, IPv6, built 20"));
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[512] = "";
    assert_null(bw_geoip_open("/nonexistent/GeoLite2-Country.mmdb", err, sizeof(err)));
    assert_non_null(strstr(err, "'/nonexistent/GeoLite2-Country.mmdb'"));
    assert_non_null(strstr(err, "No such file")); /* the errno behind the I/O error */

    /* a file that is not a MaxMind DB */
    char junk[] = "/tmp/bw_geoip_junk.XXXXXX";
    int fd = mkstemp(junk);
    assert_true(fd >= 0);
    static const char text[] = "this is not a maxmind database, just some text\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    err[0] = '\0';
    assert_null(bw_geoip_open(junk, err, sizeof(err)));
    unlink(junk);
    assert_non_null(strstr(err, "geoip: cannot open"));
    assert_non_null(strstr(err, junk));
    assert_non_null(strstr(err, "': ")); /* and a reason after the path */

    bw_geoip_close(NULL); /* harmless */
}

/* docs/POLICY.md's example: registration only for +86 clients, countries
 * from the database as the shield will look them up. */
static void test_policy_with_geoip(void **state)
{
    const bw_geoip *g = *state;
    bw_policy *p = bw_policy_new();
    char *rule[] = { "block", "path=/register*", "country!=CN" };
    char err[256];
    assert_int_equal(bw_policy_add(p, rule, 3, err, sizeof(err)), 0);
    assert_true(bw_policy_needs_geoip(p));

    bw_http_request req;
    memset(&req, 0, sizeof(req));
    req.method = BW_STR_LIT("POST");
    req.path = BW_STR_LIT("/register");
    static const struct {
        const char *ip;
        bool blocked;
    } cases[] = {
        { "127.0.3.4", false },  /* CN */
        { "127.1.3.4", true },   /* US */
        { "2001:db8::7", true }, /* JP */
        { "192.0.2.1", true },   /* unknown country: not CN either */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bw_policy_req r = { .req = &req };
        r.family = strchr(cases[i].ip, ':') ? AF_INET6 : AF_INET;
        assert_int_equal(inet_pton(r.family, cases[i].ip, r.addr), 1);
        char cc[3];
        r.country = bw_geoip_country(g, r.family, r.addr, cc) ? cc : NULL;
        bw_policy_rule_info info;
        assert_int_equal(bw_policy_match(p, &r, &info), cases[i].blocked);
        if (cases[i].blocked)
            assert_int_equal(info.action, BW_POL_BLOCK);
    }
    bw_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_networks),
        cmocka_unit_test(test_ipv6_and_mapped),
        cmocka_unit_test(test_registered_country_fallback),
        cmocka_unit_test(test_unknown_addresses),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_policy_with_geoip),
    };
    return cmocka_run_group_tests(tests, open_db, close_db);
}
