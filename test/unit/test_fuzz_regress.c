/*
 * test_fuzz_regress.c - replays the fuzzers' seed corpus and every saved
 * failing input through the harnesses' own checks, with gcc and without
 * libFuzzer, so a fixed bug stays fixed in every `make test`.
 *
 * The harnesses (test/fuzz/fuzz_*.c) are #included with FUZZ_NO_MAIN, which
 * leaves out their LLVMFuzzerTestOneInput.  For each NAME the inputs are the
 * files of test/fuzz/corpus/NAME/ and test/fuzz/regress/NAME/ (dotfiles
 * skipped), relative to the repo root, where test/run_unit.sh runs us.  A
 * broken invariant aborts with the file's name (see test/fuzz/fuzz.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FUZZ_NO_MAIN
#include "../fuzz/fuzz_chunked.c"
#include "../fuzz/fuzz_conf.c"
#include "../fuzz/fuzz_policy.c"
#include "../fuzz/fuzz_proxyproto.c"
#include "../fuzz/fuzz_request.c"
#include "../fuzz/fuzz_response.c"
#include "../fuzz/fuzz_token.c"

typedef int (*fuzz_one_fn)(const uint8_t *data, size_t len);

/* The whole file, in an exact heap block (one byte if empty). */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    assert_int_equal(ferror(f), 0);
    fclose(f);
    uint8_t *exact = malloc(n ? n : 1);
    assert_non_null(exact);
    memcpy(exact, buf, n);
    free(buf);
    *len = n;
    return exact;
}

/* Feeds every regular file of dir to fn; returns how many. */
static size_t replay_dir(const char *dir, fuzz_one_fn fn)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s (the test runs from the repo root)", dir);
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        size_t len;
        uint8_t *data = read_all(path, &len);
        fuzz_input_name = path;
        fn(data, len);
        fuzz_input_name = NULL;
        free(data);
        count++;
    }
    closedir(d);
    return count;
}

static void replay(const char *name, fuzz_one_fn fn)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "test/fuzz/corpus/%s", name);
    size_t seeds = replay_dir(dir, fn);
    assert_true(seeds >= 10); /* the seed corpus is there */
    snprintf(dir, sizeof(dir), "test/fuzz/regress/%s", name);
    size_t regress = replay_dir(dir, fn);
    print_message("fuzz %s: %zu corpus and %zu regression inputs pass\n", name, seeds, regress);
}

static void test_request(void **state)
{
    (void)state;
    replay("request", fuzz_request_one);
}

static void test_response(void **state)
{
    (void)state;
    replay("response", fuzz_response_one);
}

static void test_chunked(void **state)
{
    (void)state;
    replay("chunked", fuzz_chunked_one);
}

static void test_proxyproto(void **state)
{
    (void)state;
    replay("proxyproto", fuzz_proxyproto_one);
}

static void test_conf(void **state)
{
    (void)state;
    replay("conf", fuzz_conf_one);
}

static void test_policy(void **state)
{
    (void)state;
    replay("policy", fuzz_policy_one);
}

static void test_token(void **state)
{
    (void)state;
    replay("token", fuzz_token_one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_proxyproto),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
