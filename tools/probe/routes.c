/*
 * routes.c - what bulwark-probe answers: the route table, the target site's
 * handlers and the /__probe/ reports (see probe.h for the contract).
 *
 * The site is a small AI service whose pages cost the attacker and the
 * proxy the same as a real one would: fixed pages and static files, a cheap
 * JSON API, POST /api/chat that burns --chat-cost of CPU, and POST /login
 * with accounts user0..user99999 and admin, whose password is "pw-" + name.
 * Handlers run after the whole request is in (probe.c) and only see what
 * was copied out of the head; they answer with probe_reply().
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "http/form.h"
#include "probe.h"

#define HTML "text/html; charset=utf-8"
#define JSON "application/json"
#define CACHED "Cache-Control: public, max-age=3600\r\n"
#define MAX_FIELD 64 /* longest user name or password looked at */
#define COUNTS_DEFAULT 60

/* ------------------------------------------------------------------ */
/* the site                                                            */
/* ------------------------------------------------------------------ */

static const char index_html[] =
    "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
    "<title>Oracle - ask the machine anything</title>\n"
    "<link rel=\"stylesheet\" href=\"/static/app.css\">\n"
    "<link rel=\"icon\" href=\"/favicon.ico\">\n"
    "<script src=\"/static/app.js\" defer></script>\n</head>\n<body>\n"
    "<header><a class=\"logo\" href=\"/\">Oracle</a>\n<nav><a href=\"/page/pricing\">Pricing</a> "
    "<a href=\"/page/docs\">Docs</a> <a href=\"/page/blog\">Blog</a> "
    "<a href=\"/account\">Account</a></nav></header>\n<main>\n"
    "<section class=\"hero\"><h1>Ask the machine anything</h1>\n"
    "<p>Oracle answers questions about your documents, your code and your day. It runs on a\n"
    "cluster of very expensive accelerators, so every question costs us real money: please be\n"
    "kind to it.</p>\n"
    "<form id=\"chat\" action=\"/api/chat\" method=\"post\"><textarea name=\"q\" rows=\"4\" "
    "placeholder=\"What would you like to know?\"></textarea>\n"
    "<button type=\"submit\">Ask</button></form>\n<pre id=\"answer\"></pre></section>\n"
    "<section class=\"search\"><form action=\"/search\" method=\"get\"><input name=\"q\" "
    "placeholder=\"Search the docs\"><button>Search</button></form></section>\n"
    "<section class=\"login\"><h2>Sign in</h2>\n"
    "<form action=\"/login\" method=\"post\"><label>User <input name=\"username\" "
    "autocomplete=\"username\"></label>\n<label>Password <input name=\"password\" "
    "type=\"password\" autocomplete=\"current-password\"></label>\n"
    "<button type=\"submit\">Sign in</button></form></section>\n"
    "<section class=\"features\"><h2>Why Oracle</h2><ul>\n"
    "<li><b>Fast.</b> Most answers arrive in well under a second.</li>\n"
    "<li><b>Private.</b> Your questions are never used for training.</li>\n"
    "<li><b>Everywhere.</b> A JSON API (<a href=\"/api/hello\">try it</a>) for your own "
    "tools.</li>\n"
    "<li><b>Honest.</b> When it does not know, it says so (most of the time).</li>\n"
    "</ul></section>\n</main>\n"
    "<footer><p>&copy; Oracle Inc. This site is a test target of bulwark-siege; it counts\n"
    "every request that reaches it. <a href=\"/page/terms\">Terms</a> "
    "<a href=\"/page/privacy\">Privacy</a></p></footer>\n</body>\n</html>\n";

static const char page_html[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Oracle</title>"
    "<link rel=\"stylesheet\" href=\"/static/app.css\"></head>\n<body><header><a href=\"/\">"
    "Oracle</a></header>\n<main><h1>Oracle</h1><p>This page is under construction. Meanwhile, "
    "<a href=\"/\">ask the machine</a>.</p></main></body></html>\n";

static const char account_html[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your account - "
    "Oracle</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\n<body><main>"
    "<h1>Your account</h1><p>Plan: <b>Free</b>. Questions this month: 42 of 100.</p>"
    "<p><a href=\"/\">Back to Oracle</a></p></main></body></html>\n";

static const char not_found_html[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title>"
    "</head><body><h1>Not found</h1><p>No such page. <a href=\"/\">Home</a></p></body></html>\n";

static const char app_css[] =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#0b1020;color:#e5e7eb}\n"
    "header,main,footer{max-width:880px;margin:0 auto;padding:16px}\n"
    "a{color:#60a5fa}.logo{font-weight:700;font-size:1.3em}nav a{margin-left:12px}\n"
    "textarea,input{width:100%;background:#111827;color:inherit;border:1px solid #374151}\n"
    "button{margin-top:8px;padding:6px 16px;background:#2563eb;color:#fff;border:0}\n";

static const char app_js[] =
    "document.addEventListener('DOMContentLoaded',function(){\n"
    "  var f=document.getElementById('chat'),out=document.getElementById('answer');\n"
    "  if(!f)return;\n"
    "  f.addEventListener('submit',function(e){e.preventDefault();\n"
    "    fetch('/api/chat',{method:'POST',headers:{'Content-Type':'application/json'},\n"
    "      body:JSON.stringify({q:f.q.value})}).then(function(r){return r.json();})\n"
    "      .then(function(j){out.textContent=j.reply;});});\n"
    "});\n";

/* A 1x1 transparent GIF: the smallest valid image a browser accepts. */
static const char icon[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
                           "!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00"
                           "\x00\x02\x02\x44\x01\x00;";

#define BODY(s) s, sizeof(s) - 1

static void h_index(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    probe_reply(p, c, 200, HTML, NULL, BODY(index_html));
}

static void h_page(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    probe_reply(p, c, 200, HTML, NULL, BODY(page_html));
}

static void h_account(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    probe_reply(p, c, 200, HTML, NULL, BODY(account_html));
}

static void h_not_found(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    probe_reply(p, c, 404, HTML, NULL, BODY(not_found_html));
}

static void h_css(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    probe_reply(p, c, 200, "text/css", CACHED, BODY(app_css));
}

static void h_js(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    probe_reply(p, c, 200, "application/javascript", CACHED, BODY(app_js));
}

static void h_icon(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    probe_reply(p, c, 200, "image/gif", CACHED, BODY(icon));
}

static void h_hello(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    probe_reply(p, c, 200, JSON, NULL, BODY("{\"hello\":\"world\"}"));
}

static void h_healthz(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    probe_reply(p, c, 200, "text/plain", NULL, BODY("ok"));
}

/* The expensive call: spin (not sleep), so that a flood of it really takes
 * the CPU away from everyone else, as model inference would. */
static void h_chat(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    if (p->opts.chat_cost_us) {
        uint64_t until = bw_clock_us() + p->opts.chat_cost_us;
        while (bw_clock_us() < until)
            ;
    }
    probe_reply(p, c, 200, JSON, NULL,
                BODY("{\"reply\":\"I have thought about it very hard, and the answer is 42.\"}"));
}

/* ------------------------------------------------------------------ */
/* login                                                               */
/* ------------------------------------------------------------------ */

/* "admin", or "user" + 0..99999 written without leading zeros. */
static bool account_exists(const char *u, size_t n)
{
    if (n == 5 && memcmp(u, "admin", 5) == 0)
        return true;
    if (n < 5 || n > 9 || memcmp(u, "user", 4) != 0)
        return false;
    if (u[4] == '0' && n > 5)
        return false;
    for (size_t i = 4; i < n; i++)
        if (u[i] < '0' || u[i] > '9')
            return false;
    return true;
}

static bool credentials_ok(const char *u, size_t ul, const char *pw, size_t pl)
{
    return account_exists(u, ul) && pl == ul + 3 && memcmp(pw, "pw-", 3) == 0 &&
           memcmp(pw + 3, u, ul) == 0;
}

static void h_login(probe *p, probe_conn *c, bw_str body)
{
    char user[MAX_FIELD], pass[MAX_FIELD];
    size_t ul = 0, pl = 0;
    bool json = c->body_json || (body.len && body.p[0] == '{');
    bool got = json ? bw_json_field(body, "username", user, sizeof(user), &ul) &&
                          bw_json_field(body, "password", pass, sizeof(pass), &pl)
                    : bw_form_field(body, "username", user, sizeof(user), &ul) &&
                          bw_form_field(body, "password", pass, sizeof(pass), &pl);
    if (!got || !credentials_ok(user, ul, pass, pl)) {
        p->ledger->login_failed[c->octet]++;
        probe_reply(p, c, 401, JSON, NULL, BODY("{\"error\":\"invalid credentials\"}"));
        return;
    }
    p->ledger->login_ok[c->octet]++;
    /* Not a secret, just unique: a demo session id. */
    uint64_t h1 = bw_fnv1a_lower(BW_FNV_OFFSET, user, ul);
    uint64_t h2 = ++p->session_seq * 0x9e3779b97f4a7c15ULL ^ (uint64_t)p->now;
    char extra[160];
    snprintf(extra, sizeof(extra),
             "Location: /account\r\nSet-Cookie: session=%016llx%016llx; Path=/; HttpOnly\r\n",
             (unsigned long long)h1, (unsigned long long)h2);
    probe_reply(p, c, 303, NULL, extra, "", 0);
}

/* ------------------------------------------------------------------ */
/* /__probe/ reports                                                   */
/* ------------------------------------------------------------------ */

/* Value of key in a query string: 1 found (*v set), 0 absent, -1 invalid. */
static int query_i64(bw_str q, const char *key, int64_t *v)
{
    size_t klen = strlen(key), i = 0;
    while (i < q.len) {
        const char *amp = memchr(q.p + i, '&', q.len - i);
        size_t end = amp ? (size_t)(amp - q.p) : q.len;
        if (end - i > klen && memcmp(q.p + i, key, klen) == 0 && q.p[i + klen] == '=') {
            size_t k = i + klen + 1;
            if (k == end || end - k > 18)
                return -1;
            int64_t x = 0;
            for (; k < end; k++) {
                if (q.p[k] < '0' || q.p[k] > '9')
                    return -1;
                x = x * 10 + (q.p[k] - '0');
            }
            *v = x;
            return 1;
        }
        i = end + 1;
    }
    return 0;
}

static void h_counts(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    bw_str q = bw_str_make(c->arg, c->arglen);
    int64_t from = 0, to = 0;
    int hf = query_i64(q, "from", &from), ht = query_i64(q, "to", &to);
    if (c->arg_bad || hf < 0 || ht < 0) {
        probe_reply(p, c, 400, "text/plain", NULL, BODY("from and to are unix seconds\n"));
        return;
    }
    if (!ht)
        to = p->now;
    if (!hf)
        from = to - (COUNTS_DEFAULT - 1);
    if (to - from >= PROBE_RING)
        from = to - PROBE_RING + 1; /* older seconds are gone anyway */
    probe_buf *b = &p->tmp;
    b->len = 0;
    for (int64_t s = from < 0 ? 0 : from; s <= to; s++) {
        for (unsigned o = 0; o < PROBE_OCTETS; o++) {
            uint32_t n = probe_ledger_get(p->ledger, s, o);
            if (!n)
                continue;
            probe_buf_u64(b, (uint64_t)s);
            probe_buf_put(b, " ", 1);
            probe_buf_u64(b, o);
            probe_buf_put(b, " ", 1);
            probe_buf_u64(b, n);
            probe_buf_put(b, "\n", 1);
        }
    }
    if (b->oom) {
        b->oom = false;
        probe_reply(p, c, 500, "text/plain", NULL, BODY("out of memory\n"));
        return;
    }
    probe_reply(p, c, 200, "text/plain", NULL, b->p, b->len);
}

/* "name":{"octet":n,...} with the non-zero entries of v. */
static void json_octets(probe_buf *b, const char *name, const uint64_t *v)
{
    bool first = true;
    probe_buf_str(b, ",\"");
    probe_buf_str(b, name);
    probe_buf_str(b, "\":{");
    for (unsigned o = 0; o < PROBE_OCTETS; o++) {
        if (!v[o])
            continue;
        probe_buf_str(b, first ? "\"" : ",\"");
        probe_buf_u64(b, o);
        probe_buf_str(b, "\":");
        probe_buf_u64(b, v[o]);
        first = false;
    }
    probe_buf_str(b, "}");
}

static void json_num(probe_buf *b, const char *name, uint64_t v)
{
    probe_buf_str(b, ",\"");
    probe_buf_str(b, name);
    probe_buf_str(b, "\":");
    probe_buf_u64(b, v);
}

static void h_stats(probe *p, probe_conn *c, bw_str body)
{
    (void)body;
    const probe_ledger *l = p->ledger;
    uint64_t ok = 0, failed = 0;
    for (unsigned o = 0; o < PROBE_OCTETS; o++) {
        ok += l->login_ok[o];
        failed += l->login_failed[o];
    }
    probe_buf *b = &p->tmp;
    b->len = 0;
    probe_buf_str(b, "{\"now\":");
    probe_buf_u64(b, (uint64_t)p->now);
    json_num(b, "requests", l->requests);
    json_num(b, "logins_ok", ok);
    json_num(b, "logins_failed", failed);
    json_num(b, "connections_open", p->conns_open);
    json_num(b, "connections_total", p->conns_total);
    json_octets(b, "by_octet", l->total);
    json_octets(b, "logins_ok_by_octet", l->login_ok);
    json_octets(b, "logins_failed_by_octet", l->login_failed);
    probe_buf_str(b, "}\n");
    if (b->oom) {
        b->oom = false;
        probe_reply(p, c, 500, "text/plain", NULL, BODY("out of memory\n"));
        return;
    }
    probe_reply(p, c, 200, JSON, NULL, b->p, b->len);
}

/* ------------------------------------------------------------------ */
/* the route table                                                     */
/* ------------------------------------------------------------------ */

static const probe_route routes[] = {
    /* path               prefix suffix   method        body                 query fn */
    { "/",                false, NULL,    BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_index },
    { "/static/",         true,  ".css",  BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_css },
    { "/static/",         true,  ".js",   BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_js },
    { "/static/",         true,  NULL,    BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_icon },
    { "/favicon.ico",     false, NULL,    BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_icon },
    { "/page/",           true,  NULL,    BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_page },
    { "/search",          false, NULL,    BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_page },
    { "/api/hello",       false, NULL,    BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_hello },
    { "/api/chat",        false, NULL,    BW_HTTP_POST, PROBE_BODY_DISCARD, false, h_chat },
    { "/login",           false, NULL,    BW_HTTP_POST, PROBE_BODY_KEEP,    false, h_login },
    { "/account",         false, NULL,    BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_account },
    { "/healthz",         false, NULL,    BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_healthz },
    { "/__probe/counts",  false, NULL,    BW_HTTP_GET,  PROBE_BODY_DISCARD, true,  h_counts },
    { "/__probe/stats",   false, NULL,    BW_HTTP_GET,  PROBE_BODY_DISCARD, false, h_stats },
};

static const probe_route not_found = { "", false, NULL, BW_HTTP_OTHER, PROBE_BODY_DISCARD,
                                       false, h_not_found };

static bool has_prefix(bw_str s, const char *pre, size_t n)
{
    return s.len >= n && memcmp(s.p, pre, n) == 0;
}

static bool route_matches(const probe_route *r, bw_str path)
{
    size_t n = strlen(r->path);
    if (!r->prefix)
        return path.len == n && memcmp(path.p, r->path, n) == 0;
    if (!has_prefix(path, r->path, n))
        return false;
    if (!r->suffix)
        return true;
    size_t k = strlen(r->suffix);
    return path.len >= n + k && memcmp(path.p + path.len - k, r->suffix, k) == 0;
}

const probe_route *probe_route_find(const bw_http_request *req)
{
    bw_http_method m = req->method_id == BW_HTTP_HEAD ? BW_HTTP_GET : req->method_id;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (routes[i].method == m && route_matches(&routes[i], req->path))
            return &routes[i];
    return &not_found;
}

bool probe_path_counted(bw_str path)
{
    static const char own[] = "/__probe/";
    return !has_prefix(path, own, sizeof(own) - 1) && !bw_str_eq(path, BW_STR_LIT("/healthz"));
}
