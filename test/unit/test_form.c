/*
 * test_form.c - one field out of a form or a flat JSON body (http/form.c):
 * decoding, a key that is only a prefix of another, absent and malformed
 * values, the caller's buffer bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/form.h"

typedef bool (*field_fn)(bw_str body, const char *key, char *dst, size_t cap, size_t *len);

/* get's value of key in body, NUL-terminated into out[cap] (one byte
 * kept for the NUL). */
static bool field(field_fn get, const char *body, const char *key, char *out, size_t cap)
{
    size_t n = 0;
    if (!get(bw_str_make(body, strlen(body)), key, out, cap - 1, &n))
        return false;
    out[n] = '\0';
    return true;
}

static bool form(const char *body, const char *key, char *out, size_t cap)
{
    return field(bw_form_field, body, key, out, cap);
}

static bool json(const char *body, const char *key, char *out, size_t cap)
{
    return field(bw_json_field, body, key, out, cap);
}

static void test_form_fields(void **state)
{
    (void)state;
    char v[32];
    assert_true(form("username=alice&password=x", "username", v, sizeof v));
    assert_string_equal(v, "alice");
    assert_true(form("user=bob&username=al%69ce+b", "username", v, sizeof v));
    assert_string_equal(v, "alice b"); /* "user" is not "username": the second pair */
    assert_true(form("a=1&username=", "username", v, sizeof v));
    assert_string_equal(v, "");
    assert_false(form("password=x", "username", v, sizeof v));
    assert_false(form("username=%4", "username", v, sizeof v)); /* cut escape */
    assert_false(form("username=%zz", "username", v, sizeof v));
    assert_false(form("username=0123456789", "username", v, 6)); /* over the buffer */
}

static void test_json_fields(void **state)
{
    (void)state;
    char v[32];
    assert_true(json("{\"username\": \"alice\", \"password\":\"x\"}", "username", v, sizeof v));
    assert_string_equal(v, "alice");
    assert_true(json("{\"email\":\"a\\u0040b.c\\n\"}", "email", v, sizeof v));
    assert_string_equal(v, "a@b.c\n");
    assert_false(json("{\"username\": 42}", "username", v, sizeof v)); /* not a string */
    assert_false(json("{\"username\":\"open", "username", v, sizeof v));
    assert_false(json("{\"user\":\"x\"}", "username", v, sizeof v));
    assert_false(json("{\"u\":\"\\u00e9\"}", "u", v, sizeof v)); /* \\u beyond ASCII */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_fields),
        cmocka_unit_test(test_json_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
