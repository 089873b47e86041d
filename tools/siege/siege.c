/*
 * siege.c - the run model's small helpers (siege.h): scenario kind names and
 * the timelines a run owns.
 */
#include "siege/siege.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* Indexed by sg_kind; these are the names --scenario accepts. */
static const char *const kind_names[SG_KIND_COUNT] = {
    [SG_LEGIT] = "legit",
    [SG_HTTP_FLOOD] = "http-flood",
    [SG_PROXY_FLOOD] = "proxy-flood",
    [SG_CACHE_BUST] = "cache-bust",
    [SG_POST_FLOOD] = "post-flood",
    [SG_CRED_STUFFING] = "cred-stuffing",
    [SG_BRUTE_FORCE] = "brute-force",
    [SG_SLOWLORIS] = "slowloris",
    [SG_SLOW_POST] = "slow-post",
};

const char *sg_kind_name(sg_kind k)
{
    if ((unsigned)k >= SG_KIND_COUNT)
        return "unknown";
    return kind_names[k];
}

int sg_kind_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int k = 0; k < SG_KIND_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    return -1;
}

static int nscen(const sg_run *r)
{
    return r->nscen < 0 ? 0 : r->nscen > SG_MAX_SCENARIOS ? SG_MAX_SCENARIOS : r->nscen;
}

/* The run must have started zeroed (timelines NULL); calling this again
 * replaces the timelines. */
int sg_run_alloc_timelines(sg_run *r)
{
    size_t n = r->nsec > 0 ? r->nsec : 1; /* calloc(0) may return NULL */
    for (int i = 0; i < nscen(r); i++) {
        sg_scenario *s = &r->scen[i];
        free(s->timeline);
        s->timeline = calloc(n, sizeof *s->timeline);
        if (s->timeline == NULL) {
            sg_run_free(r);
            return -1;
        }
    }
    return 0;
}

/* Frees the timelines only: the run itself is the caller's. */
void sg_run_free(sg_run *r)
{
    for (int i = 0; i < nscen(r); i++) {
        free(r->scen[i].timeline);
        r->scen[i].timeline = NULL;
    }
}

int sg_parse_addr(const char *spec, struct sockaddr_in *sa)
{
    char host[INET_ADDRSTRLEN];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host)
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || colon[1] == 0 || port == 0 || port > 65535)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}
