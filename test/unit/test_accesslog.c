/*
 * test_accesslog.c - the buffered JSON access log (admin/accesslog.c).
 *
 * Lines are checked with a small strict JSON parser (objects of strings,
 * integers and null, as the log writes them): every line must parse, the
 * decoded strings must give back the bytes that were logged, and the key
 * order is the documented one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin/accesslog.h"
#include "core/log.h"

/* ---- a minimal strict JSON object parser ---- */

#define MAXF 16

typedef struct jfield {
    char key[32];
    int is_null, is_string;
    char sval[8192]; /* decoded string (bytes; \u00XX -> one byte) */
    size_t slen;
    unsigned long long num;
} jfield;

typedef struct jline {
    jfield f[MAXF];
    int n;
} jline;

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Parses a JSON string at *p (pointing at '"'); returns 0 or -1. */
static int jstring(const char **p, const char *end, char *out, size_t cap, size_t *outlen)
{
    const char *s = *p;
    size_t n = 0;
    if (s >= end || *s != '"')
        return -1;
    s++;
    for (;;) {
        if (s >= end)
            return -1;
        unsigned char c = (unsigned char)*s++;
        if (c == '"')
            break;
        if (c < 0x20 || c >= 0x7f) /* raw control bytes are invalid; the log writes pure ASCII */
            return -1;
        if (c == '\\') {
            if (s >= end)
                return -1;
            char e = *s++;
            switch (e) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                if (end - s < 4)
                    return -1;
                int v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(s[i]);
                    if (h < 0)
                        return -1;
                    v = v * 16 + h;
                }
                s += 4;
                if (v > 0xff) /* the log only escapes single bytes */
                    return -1;
                c = (unsigned char)v;
                break;
            }
            default:
                return -1;
            }
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    *outlen = n;
    *p = s;
    return 0;
}

/* One line "{...}\n" (without anything after). Returns 0 or -1. */
static int jparse(const char *line, size_t len, jline *out)
{
    const char *p = line, *end = line + len;
    memset(out, 0, sizeof(*out));
    if (len < 3 || end[-1] != '\n' || *p != '{')
        return -1;
    end--; /* drop the newline */
    p++;
    for (;;) {
        if (out->n == MAXF)
            return -1;
        jfield *f = &out->f[out->n];
        size_t klen;
        if (jstring(&p, end, f->key, sizeof(f->key), &klen) < 0)
            return -1;
        if (p >= end || *p++ != ':')
            return -1;
        if (p < end && *p == '"') {
            f->is_string = 1;
            if (jstring(&p, end, f->sval, sizeof(f->sval), &f->slen) < 0)
                return -1;
        } else if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            f->is_null = 1;
            p += 4;
        } else if (p < end && *p >= '0' && *p <= '9') {
            if (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9')
                return -1; /* no leading zeros in JSON */
            unsigned long long v = 0;
            while (p < end && *p >= '0' && *p <= '9')
                v = v * 10 + (unsigned)(*p++ - '0');
            f->num = v;
        } else {
            return -1;
        }
        out->n++;
        if (p >= end)
            return -1;
        if (*p == '}') {
            p++;
            break;
        }
        if (*p++ != ',')
            return -1;
    }
    return p == end ? 0 : -1;
}

static const jfield *jget(const jline *l, const char *key)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->f[i].key, key) == 0)
            return &l->f[i];
    fail_msg("no field \"%s\"", key);
    return NULL;
}

static void assert_jstr(const jline *l, const char *key, const char *want, size_t wlen)
{
    const jfield *f = jget(l, key);
    assert_true(f->is_string);
    assert_int_equal(f->slen, wlen);
    assert_memory_equal(f->sval, want, wlen);
}

static void assert_jnum(const jline *l, const char *key, unsigned long long want)
{
    const jfield *f = jget(l, key);
    assert_false(f->is_string);
    assert_false(f->is_null);
    assert_int_equal(f->num, want);
}

static const char *const key_order[] = {"ts", "client", "site", "method", "path", "status", "bytes_in",
                                        "bytes_out", "dur_us", "upstream", "upstream_us", "rid"};

static void assert_keys(const jline *l)
{
    assert_int_equal(l->n, 12);
    for (int i = 0; i < 12; i++)
        assert_string_equal(l->f[i].key, key_order[i]);
}

/* ---- helpers ---- */

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/bw_test_alog_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/access.log", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static off_t file_size(void)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    return st.st_size;
}

static char *read_all(size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        cap *= 2;
        buf = realloc(buf, cap + 1);
        assert_non_null(buf);
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bw_alog_entry entry(void)
{
    bw_alog_entry e = {
        .client = "192.0.2.7",
        .site = "a.test",
        .method = bw_str_make("GET", 3),
        .path = bw_str_make("/x?y=1", 6),
        .status = 200,
        .bytes_in = 120,
        .bytes_out = 5120,
        .dur_us = 830,
        .upstream = "127.0.0.1:9000",
        .upstream_us = 700,
        .request_id = bw_str_make("rid-123", 7),
    };
    return e;
}

/* Close the log and parse its only line. */
static void close_and_parse_one(bw_alog *l, jline *jl)
{
    bw_alog_close(l);
    size_t len;
    char *text = read_all(&len);
    if (jparse(text, len, jl) < 0)
        fail_msg("not a valid JSON line: %s", text);
    free(text);
}

/* ---- tests ---- */

static void test_open_off(void **state)
{
    (void)state;
    assert_null(bw_alog_open(NULL));
    assert_null(bw_alog_open("off"));
    /* a path that cannot be opened: NULL, and the reason in the error log */
    char elog[160];
    snprintf(elog, sizeof(elog), "%s/error.log", dir);
    assert_int_equal(bw_log_open(elog, BW_LOG_INFO), 0);
    assert_null(bw_alog_open("/nonexistent/bw/dir/access.log"));
    assert_int_equal(bw_log_open("stderr", BW_LOG_INFO), 0);
    FILE *f = fopen(elog, "r");
    assert_non_null(f);
    char line[512] = "";
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    unlink(elog);
    assert_non_null(strstr(line, "[error] access_log /nonexistent/bw/dir/access.log: "));
    assert_non_null(strstr(line, "(access logging disabled)"));
    /* a NULL log accepts every call */
    bw_alog_entry e = entry();
    bw_alog_write(NULL, &e, 1);
    bw_alog_tick(NULL, 5000);
    bw_alog_close(NULL);
    /* "stdout" is not closed by bw_alog_close */
    bw_alog *l = bw_alog_open("stdout");
    assert_non_null(l);
    bw_alog_close(l);
    assert_true(fcntl(STDOUT_FILENO, F_GETFD) >= 0);
}

static void test_line_format(void **state)
{
    (void)state;
    bw_alog *l = bw_alog_open(path);
    assert_non_null(l);
    bw_alog_entry e = entry();
    time_t before = time(NULL);
    bw_alog_write(l, &e, 1000);
    time_t after = time(NULL);
    assert_int_equal(file_size(), 0); /* buffered */
    bw_alog_close(l);

    size_t len;
    char *text = read_all(&len);
    /* {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ",... */
    assert_true(len > 40);
    assert_memory_equal(text, "{\"ts\":\"", 7);
    assert_memory_equal(text + len - 2, "}\n", 2);
    assert_null(memchr(text, '\n', len - 1)); /* one line */
    const char *ts = text + 7;
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ\"";
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd')
            assert_true(ts[i] >= '0' && ts[i] <= '9');
        else
            assert_int_equal(ts[i], shape[i]);
    }
    /* the wall-clock second is now (UTC) */
    struct tm tm = {0};
    assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm));
    time_t t = timegm(&tm);
    assert_true(t >= before - 1 && t <= after + 1);

    const char *rest = strstr(text, "\",\"client\"");
    assert_non_null(rest);
    assert_string_equal(rest, "\",\"client\":\"192.0.2.7\",\"site\":\"a.test\",\"method\":\"GET\",\"path\":\"/x?y=1\","
                              "\"status\":200,\"bytes_in\":120,\"bytes_out\":5120,\"dur_us\":830,"
                              "\"upstream\":\"127.0.0.1:9000\",\"upstream_us\":700,\"rid\":\"rid-123\"}\n");
    jline jl;
    assert_int_equal(jparse(text, len, &jl), 0);
    assert_keys(&jl);
    assert_jstr(&jl, "client", "192.0.2.7", 9);
    assert_jstr(&jl, "site", "a.test", 6);
    assert_jstr(&jl, "method", "GET", 3);
    assert_jstr(&jl, "path", "/x?y=1", 6);
    assert_jnum(&jl, "status", 200);
    assert_jnum(&jl, "bytes_in", 120);
    assert_jnum(&jl, "bytes_out", 5120);
    assert_jnum(&jl, "dur_us", 830);
    assert_jstr(&jl, "upstream", "127.0.0.1:9000", 14);
    assert_jnum(&jl, "upstream_us", 700);
    assert_jstr(&jl, "rid", "rid-123", 7);
    free(text);
}

static void test_null_and_defaults(void **state)
{
    (void)state;
    bw_alog *l = bw_alog_open(path);
    assert_non_null(l);
    bw_alog_entry e = entry();
    e.client = NULL;
    e.site = NULL;
    e.upstream = NULL;
    e.upstream_us = 0;
    e.status = -5;
    e.method = bw_str_make(NULL, 0);
    e.path = bw_str_make(NULL, 0);
    e.request_id = bw_str_make(NULL, 0);
    e.bytes_in = 0;
    e.bytes_out = UINT64_MAX;
    e.dur_us = 0;
    bw_alog_write(l, &e, 1);
    bw_alog_close(l);
    size_t len;
    char *text = read_all(&len);
    assert_non_null(strstr(text, ",\"upstream\":null,"));
    assert_non_null(strstr(text, ",\"bytes_out\":18446744073709551615,"));
    jline jl;
    if (jparse(text, len, &jl) < 0)
        fail_msg("not a valid JSON line: %s", text);
    assert_keys(&jl);
    assert_true(jget(&jl, "upstream")->is_null);
    assert_jstr(&jl, "client", "-", 1);
    assert_jstr(&jl, "site", "-", 1);
    assert_jstr(&jl, "method", "", 0);
    assert_jstr(&jl, "path", "", 0);
    assert_jstr(&jl, "rid", "", 0);
    assert_jnum(&jl, "status", 0);
    assert_jnum(&jl, "bytes_in", 0);
    assert_jnum(&jl, "bytes_out", UINT64_MAX);
    assert_jnum(&jl, "upstream_us", 0);
    free(text);
}

static void test_escaping(void **state)
{
    (void)state;
    bw_alog *l = bw_alog_open(path);
    assert_non_null(l);
    static const char raw[] = "/a\"b\\c\x01\x1f\t\n\r\x7f\xc3\xa9\xff end/";
    bw_alog_entry e = entry();
    e.path = bw_str_make(raw, sizeof(raw) - 1);
    e.method = bw_str_make("G\"T", 3);
    e.client = "cl\\ient";
    e.site = "s\x02te";
    e.upstream = "up\"";
    e.request_id = bw_str_make("r\xe9", 2);
    bw_alog_write(l, &e, 1);
    bw_alog_close(l);
    size_t len;
    char *text = read_all(&len);
    /* the escaped form, byte for byte */
    assert_non_null(strstr(text, ",\"path\":\"/a\\\"b\\\\c\\u0001\\u001f\\u0009\\u000a\\u000d\\u007f\\u00c3\\u00a9"
                                 "\\u00ff end/\","));
    assert_non_null(strstr(text, ",\"method\":\"G\\\"T\","));
    assert_non_null(strstr(text, ",\"client\":\"cl\\\\ient\","));
    assert_non_null(strstr(text, ",\"site\":\"s\\u0002te\","));
    assert_non_null(strstr(text, ",\"upstream\":\"up\\\"\","));
    assert_non_null(strstr(text, ",\"rid\":\"r\\u00e9\"}"));
    for (size_t i = 0; i < len - 1; i++) /* pure printable ASCII, one line */
        assert_true(text[i] >= 0x20 && text[i] < 0x7f);
    jline jl;
    if (jparse(text, len, &jl) < 0)
        fail_msg("not a valid JSON line: %s", text);
    assert_keys(&jl);
    /* decoding gives back the original bytes */
    assert_jstr(&jl, "path", raw, sizeof(raw) - 1);
    assert_jstr(&jl, "method", "G\"T", 3);
    assert_jstr(&jl, "client", "cl\\ient", 7);
    assert_jstr(&jl, "site", "s\x02te", 4);
    assert_jstr(&jl, "upstream", "up\"", 3);
    assert_jstr(&jl, "rid", "r\xe9", 2);
    free(text);
}

static void test_truncation(void **state)
{
    (void)state;
    /* paths are cut at 1024 bytes (before escaping) */
    static char longpath[3000];
    memset(longpath, 'p', sizeof(longpath));
    longpath[0] = '/';
    bw_alog *l = bw_alog_open(path);
    assert_non_null(l);
    bw_alog_entry e = entry();
    e.path = bw_str_make(longpath, sizeof(longpath));
    bw_alog_write(l, &e, 1);
    jline jl;
    close_and_parse_one(l, &jl);
    assert_jstr(&jl, "path", longpath, 1024);
    unlink(path);

    /* worst case: every byte escapes to 6, and every other field at its cap */
    static char ctl[3000];
    memset(ctl, 0x01, sizeof(ctl));
    static char big[200];
    memset(big, '\x80', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    l = bw_alog_open(path);
    assert_non_null(l);
    e = entry();
    e.path = bw_str_make(ctl, sizeof(ctl));
    e.method = bw_str_make(big, 199);
    e.request_id = bw_str_make(big, 199);
    e.client = big;
    e.site = big;
    e.upstream = big;
    e.status = 2147483647;
    e.bytes_in = e.bytes_out = e.dur_us = e.upstream_us = UINT64_MAX;
    bw_alog_write(l, &e, 1);
    close_and_parse_one(l, &jl);
    assert_keys(&jl);
    assert_jstr(&jl, "path", ctl, 1024);
    assert_jstr(&jl, "method", big, 32);
    assert_jstr(&jl, "rid", big, 64);
    assert_jstr(&jl, "client", big, 64);
    assert_jstr(&jl, "site", big, 64);
    assert_jstr(&jl, "upstream", big, 64);
    assert_jnum(&jl, "status", 2147483647);
    assert_jnum(&jl, "dur_us", UINT64_MAX);
}

static void test_tick(void **state)
{
    (void)state;
    bw_alog *l = bw_alog_open(path);
    assert_non_null(l);
    bw_alog_tick(l, 100000); /* nothing buffered: nothing to do */
    assert_int_equal(file_size(), 0);

    bw_alog_entry e = entry();
    bw_alog_write(l, &e, 5000);
    bw_alog_tick(l, 5000);
    assert_int_equal(file_size(), 0);
    bw_alog_write(l, &e, 5500);
    bw_alog_tick(l, 5999);
    assert_int_equal(file_size(), 0); /* 999 ms since the first buffered write */
    bw_alog_tick(l, 6000);
    off_t one = file_size();
    assert_true(one > 0); /* 1000 ms: both lines out */
    size_t len;
    char *text = read_all(&len);
    assert_int_equal((size_t)one, len);
    assert_int_equal(text[len - 1], '\n');
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 2);
    free(text);

    /* at most once a second: the next flush waits 1000 ms after the last */
    bw_alog_write(l, &e, 6100);
    bw_alog_tick(l, 6100);
    bw_alog_tick(l, 6999);
    assert_int_equal(file_size(), one);
    bw_alog_tick(l, 7000);
    assert_int_equal(file_size(), one + one / 2);
    bw_alog_tick(l, 9000); /* nothing new */
    assert_int_equal(file_size(), one + one / 2);
    bw_alog_close(l);
    assert_int_equal(file_size(), one + one / 2);
}

static void test_close_flushes(void **state)
{
    (void)state;
    bw_alog *l = bw_alog_open(path);
    assert_non_null(l);
    bw_alog_entry e = entry();
    for (int i = 0; i < 10; i++)
        bw_alog_write(l, &e, 1);
    assert_int_equal(file_size(), 0);
    bw_alog_close(l);
    size_t len;
    char *text = read_all(&len);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 10);
    free(text);

    /* appends to an existing file */
    l = bw_alog_open(path);
    assert_non_null(l);
    bw_alog_write(l, &e, 1);
    bw_alog_close(l);
    text = read_all(&len);
    lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 11);
    free(text);
}

/* Many entries: the 64 KiB buffer is written out when nearly full, never
 * mid-line, and every line arrives, in order. */
static void test_many_entries(void **state)
{
    (void)state;
    enum { N = 5000 };
    bw_alog *l = bw_alog_open(path);
    assert_non_null(l);
    bw_alog_entry e = entry();
    char p[600], rid[32];
    bool saw_partial_flush = false;
    for (int i = 0; i < N; i++) {
        int n = snprintf(p, sizeof(p), "/item/%d/", i);
        int pad = i % 500; /* varying lengths */
        memset(p + n, 'z', (size_t)pad);
        e.path = bw_str_make(p, (size_t)n + (size_t)pad);
        int rn = snprintf(rid, sizeof(rid), "%d", i);
        e.request_id = bw_str_make(rid, (size_t)rn);
        e.bytes_in = (uint64_t)i;
        bw_alog_write(l, &e, 1); /* same ms: only "buffer full" can flush */
        if (i % 97 == 0) {
            off_t sz = file_size();
            if (sz > 0) {
                saw_partial_flush = true;
                /* what is out so far is whole lines */
                size_t len;
                char *text = read_all(&len);
                assert_int_equal(text[len - 1], '\n');
                free(text);
            }
        }
    }
    assert_true(saw_partial_flush); /* > 64 KiB was written before close */
    bw_alog_close(l);

    size_t len;
    char *text = read_all(&len);
    assert_true(len > 10 * 65536);
    const char *s = text, *end = text + len;
    static jline jl;
    int i = 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        assert_non_null(nl);
        if (jparse(s, (size_t)(nl - s) + 1, &jl) < 0)
            fail_msg("line %d is not valid JSON: %.*s", i, (int)(nl - s), s);
        char want[32];
        int rn = snprintf(want, sizeof(want), "%d", i);
        assert_jstr(&jl, "rid", want, (size_t)rn);
        assert_jnum(&jl, "bytes_in", (unsigned long long)i);
        int n = snprintf(p, sizeof(p), "/item/%d/", i);
        memset(p + n, 'z', (size_t)(i % 500));
        assert_jstr(&jl, "path", p, (size_t)n + (size_t)(i % 500));
        i++;
        s = nl + 1;
    }
    assert_int_equal(i, N);
    free(text);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_off),
        T(test_line_format),
        T(test_null_and_defaults),
        T(test_escaping),
        T(test_truncation),
        T(test_tick),
        T(test_close_flushes),
        T(test_many_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
