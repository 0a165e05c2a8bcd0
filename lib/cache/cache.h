/*
 * memcached access (libmemcached, ketama consistent hashing over the servers
 * in config "memcached", e.g. "127.0.0.1:11211 10.0.0.2:11211").
 *
 * Everything here is an optimisation or ephemeral state: every call fails
 * fast when memcached is down (short timeouts, failed servers skipped for a
 * while) and callers fall back to MySQL. Thread-safe (a connection pool).
 * All memcached keys are built in lib/cache.
 */
#ifndef CACHE_CACHE_H
#define CACHE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"

/* A server that failed a call is skipped for this long: every call
 * through a connection that saw the failure fails at once until it has
 * passed, even when memcached is back. libmemcached counts it in whole
 * seconds, so it may last up to a second more: a call tried again after
 * CACHE_RETRY_WAIT_MS is past it. */
#define CACHE_RETRY_S 1
#define CACHE_RETRY_WAIT_MS ((CACHE_RETRY_S + 1) * 1000 + 100)

/* Creates the pool. Returns 0, or -1 when not configured (calls then miss). */
int cache_init(int max_connections);
void cache_shutdown(void);
/* 1 when memcached servers are configured (whether or not they answer). */
int cache_configured(void);

/* 1 found (value copied to the arena, NUL-terminated), 0 miss, -1 error. */
int cache_get(const char *key, struct arena *a, char **val, size_t *len);
int cache_set(const char *key, const char *val, size_t len, int ttl);
/* 1 added, 0 already present, -1 error. */
int cache_add(const char *key, const char *val, size_t len, int ttl);
int cache_del(const char *key);
/* Deletes n keys, done when it returns (several: in one round trip per
 * server). 0, or -1 when some could not be. */
int cache_del_many(const char *const *keys, size_t n);
/* Gives an existing key a new TTL: 1 done, 0 no such key, -1 error. */
int cache_touch(const char *key, int ttl);
/* Increments (creating at 1). 0 with *out set, or -1. */
int cache_incr(const char *key, uint64_t *out);
/* Multi-get of n keys: vals[i] set to the value (arena) or NULL on miss.
 * Returns 0, or -1 when memcached is unreachable. */
int cache_mget(const char *const *keys, size_t n, struct arena *a, char **vals);

/* Keys (written into buf of size BUFSZ). */
#define CACHE_KEY_MAX 64
void cache_key(char *buf, const char *kind, int64_t id);	   /* "m:kind:id" */
void cache_key2(char *buf, const char *kind, int64_t a, int64_t b); /* "m:kind:a:b" */

#endif
