/*
 * features.h - what the shield knows about one request, computed from the
 * parsed head in one pass over its headers (no copy, no allocation).
 *
 * Every attribute is a 64-bit hash, so the detector can count them in
 * sketches and a rule can match them with one compare.  Two fingerprints:
 *   fp   how the client speaks HTTP: header-name order (without the headers
 *        that come and go, like Cookie), User-Agent, Accept, Accept-Language,
 *        Accept-Encoding, HTTP version.  Independent of the client's address:
 *        a botnet that rotates addresses keeps its fp.  What signatures use.
 *   bind what a clearance token is bound to: User-Agent and Accept-Language,
 *        which a browser sends the same on its page views and assets alike
 *        (Accept and the header order differ between a page and an image).
 * The TLS ClientHello fingerprint joins both when TLS lands.
 */
#ifndef BW_SHIELD_FEATURES_H
#define BW_SHIELD_FEATURES_H

#include <stdbool.h>
#include <stdint.h>

#include "http/parser.h"

/* Attributes a signature can be made of (bw_shield_feat.attr[]). */
enum bw_shield_attr {
    BW_ATTR_FP = 0,    /* client fingerprint (see above) */
    BW_ATTR_UA,        /* User-Agent */
    BW_ATTR_ORDER,     /* header-name order */
    BW_ATTR_PATH,      /* method + path class (numbers and ids folded) */
    BW_ATTR_PREFIX,    /* client /24 (IPv4) or /64 (IPv6) */
    BW_ATTR_FP_PATH,   /* the pair fp x path class */
    BW_ATTR_COUNT
};

typedef struct bw_shield_feat {
    uint64_t attr[BW_ATTR_COUNT];
    uint64_t bind;      /* token binding (see above) */
    uint64_t ip;        /* the client's full address */
    bool has_query;
    bool has_cookie;
    bool has_ua;
    uint8_t family;     /* AF_INET / AF_INET6 */
    uint8_t addr[16];
    bw_str cookie;      /* the first Cookie header's value (slice), or empty */
} bw_shield_feat;

/* Fill f from a parsed request and the client's address. */
void bw_shield_features(bw_shield_feat *f, const bw_http_request *req, int family,
                        const uint8_t addr[16]);

/* Hash of a path with numbers, hex ids and UUID-like segments folded to
 * one symbol each: /user/123/post/9af3e1 and /user/7/post/00ff are one
 * class.  The query is not part of it. */
uint64_t bw_shield_path_class(bw_str method, bw_str path);

/* The BW_ATTR_PREFIX value of an address (its /24 or /64). */
uint64_t bw_shield_prefix_hash(int family, const uint8_t addr[16]);

/* Short names of the attributes ("fp", "ua", ...), for logs and the API. */
const char *bw_shield_attr_name(int attr);

#endif
