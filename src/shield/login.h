/*
 * login.h - counting failed logins in bounded memory (docs/LOGIN.md).
 *
 * A bw_login_table maps a 64-bit key (a keyed hash of site + account,
 * source prefix or fingerprint: never the clear value) to a failure count
 * that halves every BW_LOGIN_HALF_LIFE_MS, plus a 64-bit register of the
 * distinct accounts seen failing under that key (linear counting).  The
 * table has a fixed number of 4-way buckets: a new key takes the slot of
 * its bucket with the smallest decayed count, so an attacker spraying keys
 * only ever evicts what matters least.  Decay is applied when an entry is
 * touched; nothing sweeps.
 *
 * Not thread-safe: one table per worker (or a lock around a shared one).
 * Time is passed in, never read.
 */
#ifndef BW_SHIELD_LOGIN_H
#define BW_SHIELD_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_LOGIN_HALF_LIFE_MS 60000u

typedef struct bw_login_table bw_login_table;

/* A table of at least `entries` slots (rounded up to a power of two of
 * 4-way buckets).  NULL on allocation failure. */
bw_login_table *bw_login_table_new(size_t entries);
void bw_login_table_free(bw_login_table *t);
size_t bw_login_table_bytes(const bw_login_table *t);

/* A failed login under key, for the account whose hash is account. */
void bw_login_fail(bw_login_table *t, uint64_t key, uint64_t account, uint64_t now_ms);

/* What the table knows of key now: decayed failures and an estimate of the
 * distinct accounts among them (0 and 0 if the key is unknown). */
typedef struct bw_login_count {
    double failures;
    unsigned accounts;
} bw_login_count;
bw_login_count bw_login_get(bw_login_table *t, uint64_t key, uint64_t now_ms);

/* Forget key (a successful login from a client with a clearance token). */
void bw_login_forget(bw_login_table *t, uint64_t key);

/* The verdict for one login attempt, from what the tables say about its
 * account, source and fingerprint (docs/LOGIN.md "Classification"). */
typedef enum bw_login_class {
    BW_LOGIN_CLEAN = 0,
    BW_LOGIN_BRUTE_FORCE,      /* the account is being guessed */
    BW_LOGIN_STUFFING,         /* the client fails on many accounts */
    BW_LOGIN_SPRAYING,         /* the client tries many accounts once or twice each */
} bw_login_class;

/* password: the failures of this attempt's password (a keyed hash of it,
 * held in memory only) across accounts. */
typedef struct bw_login_view {
    bw_login_count account, source, fp, password;
} bw_login_view;

#define BW_LOGIN_BRUTE_FAILS 10   /* failures on one account */
#define BW_LOGIN_MANY_ACCOUNTS 20 /* distinct accounts failing from one client or password */

/* "At least n failures" of a decayed count: counts drift below whole
 * numbers as soon as time passes, so n failures a moment ago are n. */
static inline bool bw_login_at_least(double failures, unsigned n)
{
    return failures + 0.5 >= (double)n;
}

bw_login_class bw_login_classify(const bw_login_view *v);

#endif
