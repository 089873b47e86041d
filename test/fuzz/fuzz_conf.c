/*
 * fuzz_conf.c - libFuzzer harness for the configuration parser,
 * bw_conf_parse_string() (src/core/conf.h), and the site lookup it builds.
 *
 * The parser reads text from memory, so no file is needed; inputs with a
 * NUL byte are skipped (bw_conf_load() refuses them).  error_page opens the
 * file it names, relative to the working directory here (run from the repo
 * root): inputs that could name a device, a FIFO or /proc, which may block
 * or never end, are skipped too.
 *
 * Checked besides memory safety and leaks: a refusal names a line of the
 * input; an accepted config honours its documented bounds (one default
 * site, 1..32 listeners and origins per site, limits in range, admin safe);
 * and every exact site name routes to its own site through
 * bw_conf_find_site(), in any case and with a port, while any Host at all
 * gets some site.
 */
#include <ctype.h>

#include "core/conf.h"
#include "fuzz.h"

static bool conf_safe(const char *text)
{
    static const char *const bad[] = {"/dev", "/proc", "/sys", "/run", "/tmp", ".."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strstr(text, bad[i]))
            return false;
    return true;
}

static bool conf_has_site(const bw_conf *c, const bw_site_conf *s)
{
    return s >= c->sites && s < c->sites + c->nsites;
}

static void conf_check_error(const char *text, const char *err)
{
    unsigned lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    FUZZ_CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
    unsigned long line = strtoul(err + 10, NULL, 10);
    FUZZ_CHECK(line <= lines);
}

static void conf_check_routes(const bw_conf *c, const bw_site_conf *s)
{
    for (size_t j = 0; j < s->nnames; j++) {
        const char *n = s->names[j];
        FUZZ_CHECK(n && n[0]);
        if (strcmp(n, "_") == 0 || n[0] == '*') {
            FUZZ_CHECK(conf_has_site(c, bw_conf_find_site(c, bw_str_cstr(n))));
            continue;
        }
        FUZZ_CHECK(bw_conf_find_site(c, bw_str_cstr(n)) == s);
        size_t len = strlen(n);
        char *host = malloc(len + 5);
        FUZZ_CHECK(host != NULL);
        for (size_t i = 0; i < len; i++)
            host[i] = (char)toupper((unsigned char)n[i]);
        memcpy(host + len, ":443", 4);
        FUZZ_CHECK(bw_conf_find_site(c, bw_str_make(host, len + 4)) == s);
        free(host);
    }
}

static void conf_check(const bw_conf *c, const char *text)
{
    FUZZ_CHECK(c->nsites >= 1 && c->nlistens >= 1 && c->nlistens <= BW_CONF_MAX_LISTENS);
    FUZZ_CHECK(conf_has_site(c, c->default_site) && c->default_site->is_default);
    FUZZ_CHECK(!bw_conf_admin_unprotected(c));
    FUZZ_CHECK(c->workers <= 64 && c->max_headers >= 1 && c->max_headers <= 256);
    FUZZ_CHECK(c->max_request_line >= 256 && c->max_request_line <= 16384);
    FUZZ_CHECK(c->max_header_bytes >= 1024 && c->max_header_bytes <= 16384);
    FUZZ_CHECK(c->client_header_timeout_ms && c->client_body_timeout_ms && c->client_keepalive_ms &&
               c->client_send_timeout_ms);
    size_t ndefault = 0;
    for (size_t i = 0; i < c->nsites; i++) {
        const bw_site_conf *s = &c->sites[i];
        ndefault += s->is_default;
        FUZZ_CHECK(s->name && s->nnames >= 1 && strcmp(s->name, s->names[0]) == 0);
        FUZZ_CHECK(s->pool.nservers >= 1 && s->pool.nservers <= 32);
        for (size_t j = 0; j < s->pool.nservers; j++) {
            const bw_server_conf *srv = s->pool.servers[j];
            FUZZ_CHECK(srv >= c->servers && srv < c->servers + c->nservers);
            FUZZ_CHECK(srv->weight >= 1 && srv->weight <= 1000);
        }
        FUZZ_CHECK(s->page_502 && s->page_503 && s->page_504);
        FUZZ_CHECK(s->pool.hc_interval_ms == 0 || s->pool.hc_timeout_ms <= s->pool.hc_interval_ms);
        FUZZ_CHECK(s->pool.connect_timeout_ms && s->pool.read_timeout_ms);
        conf_check_routes(c, s);
    }
    FUZZ_CHECK(ndefault == 1);
    /* Any Host value gets a site: a few odd ones and a slice of the input. */
    static const char *const odd[] = {"", ".", ":", "[::1]:80", "[", "a.", ".a", "*.a"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
        FUZZ_CHECK(conf_has_site(c, bw_conf_find_site(c, bw_str_cstr(odd[i]))));
    size_t tl = strlen(text);
    FUZZ_CHECK(conf_has_site(c, bw_conf_find_site(c, bw_str_make(text, tl < 300 ? tl : 300))));
}

int fuzz_conf_one(const uint8_t *data, size_t len)
{
    if (memchr(data, '\0', len))
        return 0;
    char *text = malloc(len + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, len);
    text[len] = '\0';
    if (conf_safe(text)) {
        char err[512] = "";
        bw_conf *c = bw_conf_parse_string(text, "fuzz.conf", err, sizeof(err));
        if (c)
            conf_check(c, text);
        else
            conf_check_error(text, err);
        bw_conf_free(c);
    }
    free(text);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    return fuzz_conf_one(data, len);
}
#endif
