/*
 * form.h - one field out of a request body: an
 * application/x-www-form-urlencoded form or a flat JSON object.
 *
 * Enough for a login form (the demo probe reads username and password;
 * the shield reads only the account name, docs/LOGIN.md): the value is
 * decoded into the caller's buffer (percent-escapes and '+'; JSON escapes,
 * \u only for ASCII).  Linear in the body, no allocation.
 */
#ifndef BW_HTTP_FORM_H
#define BW_HTTP_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

/* The value of key in a form body -> dst[0..*len).  false if the key is
 * absent, its value malformed or longer than cap. */
bool bw_form_field(bw_str body, const char *key, char *dst, size_t cap, size_t *len);

/* The string value of "key" in a flat JSON object -> dst[0..*len).  false
 * if absent, not a string, malformed or longer than cap. */
bool bw_json_field(bw_str body, const char *key, char *dst, size_t cap, size_t *len);

#endif
