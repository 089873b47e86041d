/*
 * geoip.h - client address -> ISO country code, from a MaxMind DB file
 * (GeoLite2-Country, GeoIP2-Country or -City, or any .mmdb whose records
 * carry country.iso_code), through libmaxminddb.
 *
 * The database is memory-mapped once at start (or on reload: open the new
 * file, publish it with the new config snapshot, close the old one when no
 * request uses it).  A lookup walks the mapped search tree: no allocation,
 * no syscall, and nothing in the bw_geoip is written after bw_geoip_open
 * returns, so every worker thread may look up in the same one concurrently.
 * This module only answers "which country"; what to do with the answer is
 * the policy's business (shield/policy.h).
 */
#ifndef BW_SHIELD_GEOIP_H
#define BW_SHIELD_GEOIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bw_geoip bw_geoip;

/* Open and map the database at path.  NULL with a message in err (naming
 * the path and the reason) on failure. */
bw_geoip *bw_geoip_open(const char *path, char *err, size_t errlen);

/* Unmap and free; NULL is fine. */
void bw_geoip_close(bw_geoip *g);

/*
 * The two-letter ISO 3166 code of addr's country ("CN", "US"), upper case,
 * into cc (NUL-terminated).  family is AF_INET (addr[0..3] used) or AF_INET6
 * (an IPv4-mapped ::ffff:a.b.c.d is looked up as a.b.c.d).  Records without
 * a "country" fall back to "registered_country".  false if the address is
 * not in the database or its record has no usable code (cc is then "").
 */
bool bw_geoip_country(const bw_geoip *g, int family, const uint8_t addr[16], char cc[3]);

/* One line for the log: database type, IP version, build date, e.g.
 * "GeoLite2-Country, IPv6, built 2024-05-07".  snprintf's convention. */
size_t bw_geoip_describe(const bw_geoip *g, char *out, size_t cap);

#endif
