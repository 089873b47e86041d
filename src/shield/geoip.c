/*
 * geoip.c - country lookups in a MaxMind DB file (see geoip.h).
 *
 * libmaxminddb does the work: MMDB_open maps the file and checks its
 * metadata, MMDB_lookup_sockaddr walks the search tree, MMDB_aget_value
 * reads country.iso_code from the record (the last two allocate nothing).
 * Since libmaxminddb 1.3 the IPv4 start node is found in MMDB_open, so
 * lookups never write to the MMDB_s and may run on any number of threads
 * at once.
 */
#include "shield/geoip.h"

#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct bw_geoip {
    MMDB_s db;
};

bw_geoip *bw_geoip_open(const char *path, char *err, size_t errlen)
{
    bw_geoip *g = calloc(1, sizeof(*g));
    if (!g) {
        if (errlen)
            snprintf(err, errlen, "geoip: out of memory");
        return NULL;
    }
    errno = 0;
    int rc = MMDB_open(path, MMDB_MODE_MMAP, &g->db);
    if (rc != MMDB_SUCCESS) {
        int e = errno;
        bool sys = (rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR) && e;
        if (errlen)
            snprintf(err, errlen, "geoip: cannot open '%s': %s%s%s", path, MMDB_strerror(rc),
                     sys ? ": " : "", sys ? strerror(e) : "");
        free(g);
        return NULL;
    }
    return g;
}

void bw_geoip_close(bw_geoip *g)
{
    if (!g)
        return;
    MMDB_close(&g->db);
    free(g);
}

/* The two-letter code at path (e.g. country -> iso_code) of the record.
 * MMDB_aget_value, not MMDB_get_value: the varargs form callocs a copy of
 * the path on every call. */
static bool iso_code(MMDB_entry_s *entry, const char *const *path, char cc[3])
{
    MMDB_entry_data_s v;
    if (MMDB_aget_value(entry, &v, path) != MMDB_SUCCESS || !v.has_data ||
        v.type != MMDB_DATA_TYPE_UTF8_STRING || v.data_size != 2)
        return false;
    for (int i = 0; i < 2; i++) {
        char c = v.utf8_string[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z')
            return false;
        cc[i] = c;
    }
    cc[2] = '\0';
    return true;
}

bool bw_geoip_country(const bw_geoip *g, int family, const uint8_t addr[16], char cc[3])
{
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    cc[0] = '\0';
    if (!g)
        return false;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } u;
    memset(&u, 0, sizeof(u));
    if (family == AF_INET6 && memcmp(addr, v4mapped, sizeof(v4mapped)) == 0) {
        family = AF_INET; /* a dual-stack socket's IPv4 client */
        addr += 12;
    }
    if (family == AF_INET) {
        u.in.sin_family = AF_INET;
        memcpy(&u.in.sin_addr, addr, 4);
    } else if (family == AF_INET6) {
        u.in6.sin6_family = AF_INET6;
        memcpy(&u.in6.sin6_addr, addr, 16);
    } else {
        return false;
    }
    int mmdb_err = MMDB_SUCCESS;
    MMDB_lookup_result_s res = MMDB_lookup_sockaddr(&g->db, &u.sa, &mmdb_err);
    if (mmdb_err != MMDB_SUCCESS || !res.found_entry)
        return false; /* also an IPv6 address in an IPv4-only database */
    static const char *const country[] = { "country", "iso_code", NULL };
    static const char *const registered[] = { "registered_country", "iso_code", NULL };
    if (iso_code(&res.entry, country, cc) || iso_code(&res.entry, registered, cc))
        return true;
    cc[0] = '\0';
    return false;
}

size_t bw_geoip_describe(const bw_geoip *g, char *out, size_t cap)
{
    if (!g)
        return (size_t)snprintf(out, cap, "no database");
    char date[16] = "?";
    time_t t = (time_t)g->db.metadata.build_epoch;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    const char *type = g->db.metadata.database_type ? g->db.metadata.database_type : "?";
    int n = snprintf(out, cap, "%s, IPv%u, built %s", type, (unsigned)g->db.metadata.ip_version, date);
    return n < 0 ? 0 : (size_t)n;
}
