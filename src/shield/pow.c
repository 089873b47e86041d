/*
 * pow.c - the JavaScript proof-of-work challenge (see pow.h).
 *
 * The page is static text around three fields.  Its script reads them from
 * the bulwark-pow meta (so nothing from the request is ever inside script
 * text), hashes in slices of 100 ms with a yield in between (the page paints
 * and stays responsive), and carries its own SHA-256: crypto.subtle exists
 * only on secure origins, and bulwark often fronts plain http.  The script
 * finds the same nonce as bw_pow_solve(), the smallest, which the tests
 * check by running it under node.
 *
 * RETURN is percent-encoded with a small safe set (unreserved characters and
 * "/?=:@!$*,;()"), so it can sit in an HTML attribute and in a query
 * parameter as is; '%' itself is encoded, so one decoding gives the path
 * back byte for byte.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "shield/pow.h"

/* ------------------------------------------------------------------ */
/* hashing                                                             */
/* ------------------------------------------------------------------ */

/* True if the digest starts with `bits` zero bits (bits <= 256). */
static bool zero_bits(const unsigned char *d, unsigned bits)
{
    unsigned i = 0;
    for (; bits >= 8; bits -= 8)
        if (d[i++])
            return false;
    return bits == 0 || (d[i] >> (8 - bits)) == 0;
}

static bool is_b64url(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '=';
}

static bool challenge_ok(bw_str c)
{
    if (c.len == 0 || c.len > BW_POW_CHALLENGE_MAX)
        return false;
    for (size_t i = 0; i < c.len; i++)
        if (!is_b64url(c.p[i]))
            return false;
    return true;
}

/* challenge ":" into buf (BW_POW_CHALLENGE_MAX + 1 + BW_POW_NONCE_MAX bytes);
 * returns the length of that prefix. */
static size_t put_prefix(char *buf, bw_str challenge)
{
    memcpy(buf, challenge.p, challenge.len);
    buf[challenge.len] = ':';
    return challenge.len + 1;
}

bool bw_pow_check(bw_str challenge, bw_str nonce, unsigned bits)
{
    if (bits > 256 || !challenge_ok(challenge) || nonce.len == 0 ||
        nonce.len > BW_POW_NONCE_MAX)
        return false;
    for (size_t i = 0; i < nonce.len; i++)
        if (nonce.p[i] < '0' || nonce.p[i] > '9')
            return false;
    char buf[BW_POW_CHALLENGE_MAX + 1 + BW_POW_NONCE_MAX];
    size_t n = put_prefix(buf, challenge);
    memcpy(buf + n, nonce.p, nonce.len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(buf, n + nonce.len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return false;
    return zero_bits(md, bits);
}

/* One fetched digest and one context for the whole search: EVP_Digest()
 * would look the algorithm up again for every nonce. */
size_t bw_pow_solve(bw_str challenge, unsigned bits, char *out, size_t cap)
{
    if (bits > 64 || cap < BW_POW_NONCE_MAX || !challenge_ok(challenge))
        return 0;
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char buf[BW_POW_CHALLENGE_MAX + 1 + BW_POW_NONCE_MAX];
    size_t pre = put_prefix(buf, challenge), len = 0;
    for (uint64_t nonce = 0; md && ctx; nonce++) {
        size_t dl = bw_u64_dec(nonce, buf + pre);
        unsigned char d[EVP_MAX_MD_SIZE];
        if (!EVP_DigestInit_ex2(ctx, md, NULL) || !EVP_DigestUpdate(ctx, buf, pre + dl) ||
            !EVP_DigestFinal_ex(ctx, d, NULL))
            break;
        if (zero_bits(d, bits)) {
            memcpy(out, buf + pre, dl);
            len = dl;
            break;
        }
        if (nonce == UINT64_MAX)
            break;
    }
    if (len < cap)
        out[len] = 0;
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return len;
}

/* ------------------------------------------------------------------ */
/* return paths                                                        */
/* ------------------------------------------------------------------ */

/* A path the browser will take as this site's: '/' first, not "//" nor
 * "/\" (both mean another host), and no control character: CR and LF would
 * split a Location header, and browsers drop TAB and LF from a URL, so
 * "/<TAB>/evil" would be "//evil". */
static bool local_path_ok(const char *p, size_t n)
{
    if (n == 0 || p[0] != '/' || (n > 1 && (p[1] == '/' || p[1] == '\\')))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return false;
    return true;
}

static bool ret_char_safe(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("-._~/?=:@!$*,;()", ch));
}

static size_t ret_encoded_len(bw_str r)
{
    size_t n = 0;
    for (size_t i = 0; i < r.len; i++)
        n += ret_char_safe(r.p[i]) ? 1 : 3;
    return n;
}

/* The RETURN the page will carry (see pow.h for the fallbacks). */
static bw_str ret_pick(bw_str r)
{
    if (!local_path_ok(r.p, r.len))
        return BW_STR_LIT("/");
    if (ret_encoded_len(r) <= BW_POW_RETURN_MAX)
        return r;
    const char *q = memchr(r.p, '?', r.len);
    if (q) {
        bw_str path = { r.p, (size_t)(q - r.p) };
        if (ret_encoded_len(path) <= BW_POW_RETURN_MAX)
            return path;
    }
    return BW_STR_LIT("/");
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = bw_ascii_lower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* ------------------------------------------------------------------ */
/* the page                                                            */
/* ------------------------------------------------------------------ */

/* Appends to a fixed buffer; on overflow it is marked full for good. */
typedef struct pbuf {
    char *p;
    size_t len, cap;
    bool full;
} pbuf;

static void put(pbuf *b, const char *s, size_t n)
{
    if (b->full || n >= b->cap - b->len) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void put_ret(pbuf *b, bw_str r)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < r.len; i++) {
        unsigned char ch = (unsigned char)r.p[i];
        if (ret_char_safe((char)ch)) {
            put(b, (const char *)&r.p[i], 1);
        } else {
            char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
            put(b, e, 3);
        }
    }
}

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 in UTF-8 */

static const char page_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
    "<meta name=\"robots\" content=\"noindex,nofollow\">\n"
    "<title>Checking your browser" ELLIPSIS "</title>\n"
    "<meta name=\"bulwark-pow\" content=\"";

static const char page_body[] =
    "\">\n"
    "<style>body{font:1.1em/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;"
    "padding:0 1em;color:#222;background:#fff}</style>\n"
    "</head><body>\n"
    "<h1>One moment, please</h1>\n"
    "<p role=\"status\" id=\"s\">Checking your browser" ELLIPSIS "</p>\n"
    "<noscript><p>This site is under heavy automated attack right now, so it checks that each "
    "visitor is a real browser before letting it in. The check is a short calculation done "
    "by JavaScript, which is turned off or not supported here. Please enable JavaScript for "
    "this site and reload the page. Or wait a few minutes and reload: the check is only on "
    "while the attack lasts.</p></noscript>\n"
    "<script>\n"
    /* SHA-256 (FIPS 180-4) of an ASCII string, as 8 words; the constants are
     * closure locals, which engines reach much faster than globals */
    "var sha256=function(){var K=[\n"
    "0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,\n"
    "0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,\n"
    "0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,\n"
    "0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,\n"
    "0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,\n"
    "0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,\n"
    "0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,\n"
    "0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2],\n"
    "H=[0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,"
    "0x5be0cd19];\n"
    "function R(v,n){return v>>>n|v<<32-n}\n"
    "return function(s){var l=s.length,n=(l+8>>6)+1<<4,x=[],w=[],h=H.slice(),i,j,a,b,c,d,e,f,"
    "g,k,t,u;\n"
    "for(i=0;i<n;i++)x[i]=0;\n"
    "for(i=0;i<l;i++)x[i>>2]|=s.charCodeAt(i)<<24-8*(i&3);\n"
    "x[l>>2]|=128<<24-8*(l&3);x[n-1]=l*8;\n"
    "for(i=0;i<n;i+=16){a=h[0];b=h[1];c=h[2];d=h[3];e=h[4];f=h[5];g=h[6];k=h[7];\n"
    "for(j=0;j<64;j++){if(j<16)w[j]=x[i+j];else{t=w[j-15];u=w[j-2];"
    "w[j]=w[j-16]+(R(t,7)^R(t,18)^t>>>3)+w[j-7]+(R(u,17)^R(u,19)^u>>>10)|0}\n"
    "t=k+(R(e,6)^R(e,11)^R(e,25))+(e&f^~e&g)+K[j]+w[j]|0;"
    "u=(R(a,2)^R(a,13)^R(a,22))+(a&b^a&c^b&c)|0;\n"
    "k=g;g=f;f=e;e=d+t|0;d=c;c=b;b=a;a=t+u|0}\n"
    "h[0]=h[0]+a|0;h[1]=h[1]+b|0;h[2]=h[2]+c|0;h[3]=h[3]+d|0;h[4]=h[4]+e|0;h[5]=h[5]+f|0;"
    "h[6]=h[6]+g|0;h[7]=h[7]+k|0}\n"
    "return h}}();\n"
    /* leading zero bits of a digest */
    "function Z(h){for(var i=0,z=0;i<8;i++){if(h[i])return z+Math.clz32(h[i]);z+=32}return z}\n"
    /* the smallest nonce, in 100 ms slices, then back through /.bulwark/pow */
    "(function(){var m=document.querySelector('meta[name=\"bulwark-pow\"]').content.split(' '),"
    "c=m[0],b=+m[1],p=c+':',n=0;\n"
    "function go(){for(var t=Date.now();Date.now()-t<100;)for(var e=n+1000;n<e;n++)"
    "if(Z(sha256(p+n))>=b){document.getElementById('s').textContent='Done, taking you back"
    "\\u2026';\n"
    "location.replace('" BW_POW_PATH "?c='+c+'&n='+n+'&r='+m[2]);return}\n"
    "setTimeout(go,0)}\n"
    "go()})();\n"
    "</script>\n"
    "</body></html>\n";

size_t bw_pow_page(char *out, size_t cap, bw_str challenge, unsigned bits, bw_str ret)
{
    if (cap == 0 || bits > 256 || !challenge_ok(challenge))
        return 0;
    pbuf b = { out, 0, cap, false };
    char dec[BW_U64_DEC_MAX];
    put(&b, page_head, sizeof page_head - 1);
    put(&b, challenge.p, challenge.len);
    put(&b, " ", 1);
    put(&b, dec, bw_u64_dec(bits, dec));
    put(&b, " ", 1);
    put_ret(&b, ret_pick(ret));
    put(&b, page_body, sizeof page_body - 1);
    if (b.full) {
        out[0] = 0;
        return 0;
    }
    out[b.len] = 0;
    return b.len;
}

/* ------------------------------------------------------------------ */
/* the answer's query                                                  */
/* ------------------------------------------------------------------ */

/* Percent-decode s into out (no '+' for space: the page never makes one).
 * false on a broken escape or if it does not fit with its NUL. */
static bool pct_decode(bw_str s, char *out, size_t cap, size_t *len)
{
    size_t n = 0;
    if (cap == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char ch = s.p[i];
        if (ch == '%') {
            int hi = i + 2 < s.len ? hexval(s.p[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(s.p[i + 2]) : -1;
            if (lo < 0)
                return false;
            ch = (char)(hi << 4 | lo);
            i += 2;
        }
        if (n + 1 >= cap)
            return false;
        out[n++] = ch;
    }
    out[n] = 0;
    *len = n;
    return true;
}

bool bw_pow_parse_query(bw_str query, bw_str *c, bw_str *n, char *rbuf, size_t rcap,
                        size_t *rlen)
{
    bw_str cv = { 0 }, nv = { 0 }, rv = { 0 };
    bool have_c = false, have_n = false, have_r = false;
    const char *p = query.p, *end = query.p + query.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (eq && eq - p == 1 && (*p == 'c' || *p == 'n' || *p == 'r')) {
            bool *have = *p == 'c' ? &have_c : *p == 'n' ? &have_n : &have_r;
            bw_str *v = *p == 'c' ? &cv : *p == 'n' ? &nv : &rv;
            if (*have)
                return false; /* two answers in one: refuse rather than pick */
            *have = true;
            *v = (bw_str){ eq + 1, (size_t)(pe - eq - 1) };
        }
        p = amp ? amp + 1 : end;
    }
    if (!have_c || !have_n || !have_r || cv.len == 0 || nv.len == 0)
        return false;
    for (size_t i = 0; i < cv.len; i++)
        if (!is_b64url(cv.p[i]))
            return false;
    size_t len = 0;
    if (!pct_decode(rv, rbuf, rcap, &len) || !local_path_ok(rbuf, len))
        return false;
    *c = cv;
    *n = nv;
    *rlen = len;
    return true;
}
