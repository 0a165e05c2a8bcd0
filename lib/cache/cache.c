#include "cache/cache.h"

#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include <libmemcached/memcached.h>
#include <libmemcachedutil-1.0/pool.h>

#include "util/config.h"
#include "util/log.h"

static memcached_pool_st *pool;
static memcached_st *master;
/* Deletes of several keys go out together (see cache_del_many) over these:
 * the text protocol with noreply, requests buffered until a read. */
static memcached_pool_st *dpool;
static memcached_st *dmaster;
#define DPOOL_MAX 4

int cache_configured(void)
{
	return pool != NULL;
}

/* Adds one entry of the server list: "/path" is a unix socket (a
 * memcached on this host: no TCP stack on either side, which costs about
 * a quarter of api.fcgi's CPU per send over loopback), "host:port" a TCP
 * server. */
static int add_server(const char *entry)
{
	if (entry[0] == '/') {
		/* Longer than a socket address holds: every connect would fail. */
		if (strlen(entry) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return -1;
		return memcached_server_add_unix_socket(master, entry) == MEMCACHED_SUCCESS ? 0 : -1;
	}
	memcached_server_st *parsed = memcached_servers_parse(entry);
	if (parsed == NULL)
		return -1;
	memcached_return_t rc = memcached_server_push(master, parsed);
	memcached_server_list_free(parsed);
	return rc == MEMCACHED_SUCCESS ? 0 : -1;
}

int cache_init(int max_connections)
{
	const char *servers = config_str("memcached", NULL);
	if (servers == NULL || *servers == '\0')
		return -1;
	/* "host:port /path/to/socket ...", commas also accepted. */
	char list[1024];
	if ((size_t)snprintf(list, sizeof(list), "%s", servers) >= sizeof(list)) {
		log_error("cache: memcached server list longer than %zu bytes", sizeof(list) - 1);
		return -1;
	}
	master = memcached_create(NULL);
	if (master == NULL) {
		log_error("cache: out of memory");
		return -1;
	}
	int n = 0;
	char *save = NULL;
	for (char *e = strtok_r(list, " ,", &save); e != NULL; e = strtok_r(NULL, " ,", &save)) {
		if (add_server(e) < 0) {
			log_error("cache: cannot use memcached server '%s'", e);
			memcached_free(master);
			master = NULL;
			return -1;
		}
		n++;
	}
	if (n == 0) {
		log_error("cache: no memcached server in '%s'", servers);
		memcached_free(master);
		master = NULL;
		return -1;
	}
	memcached_behavior_set(master, MEMCACHED_BEHAVIOR_DISTRIBUTION,
		MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
	memcached_behavior_set(master, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
	memcached_behavior_set(master, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
	memcached_behavior_set(master, MEMCACHED_BEHAVIOR_NO_BLOCK, 1);
	memcached_behavior_set(master, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 100);
	memcached_behavior_set(master, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 500);
	memcached_behavior_set(master, MEMCACHED_BEHAVIOR_SND_TIMEOUT, 200000);
	memcached_behavior_set(master, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, 200000);
	/* A failing server is skipped for CACHE_RETRY_S (counted in whole
	 * seconds: up to one more; tests/unit/test_cache.c measures it)
	 * instead of costing a timeout per call, so an outage stays cheap,
	 * and one slow answer on a loaded machine takes the cache (and
	 * cross-host wake-ups) away for no longer than that. */
	memcached_behavior_set(master, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, CACHE_RETRY_S);
	memcached_behavior_set(master, MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT, 3);
	pool = memcached_pool_create(master, 1, (uint32_t)max_connections);
	if (pool == NULL) {
		memcached_free(master);
		master = NULL;
		return -1;
	}
	/* Same servers and key distribution, so a key's delete reaches the
	 * server that holds it. Without this pool deletes go one by one. */
	dmaster = memcached_clone(NULL, master);
	if (dmaster != NULL) {
		memcached_behavior_set(dmaster, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 0);
		memcached_behavior_set(dmaster, MEMCACHED_BEHAVIOR_NOREPLY, 1);
		memcached_behavior_set(dmaster, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
		dpool = memcached_pool_create(dmaster, 1, DPOOL_MAX);
		if (dpool == NULL) {
			memcached_free(dmaster);
			dmaster = NULL;
		}
	}
	return 0;
}

void cache_shutdown(void)
{
	if (dpool != NULL)
		memcached_pool_destroy(dpool);
	if (dmaster != NULL)
		memcached_free(dmaster);
	if (pool != NULL)
		memcached_pool_destroy(pool);
	if (master != NULL)
		memcached_free(master);
	dpool = NULL;
	dmaster = NULL;
	pool = NULL;
	master = NULL;
}

static memcached_st *get(void)
{
	if (pool == NULL)
		return NULL;
	memcached_return_t rc;
	return memcached_pool_pop(pool, true, &rc);
}

static void put(memcached_st *m)
{
	memcached_pool_push(pool, m);
}

/* A pooled connection that broke while idle (memcached restarted) fails its
 * next operation once and reconnects on the following one: such failures
 * are retried once at once, so a restart costs nothing visible. Timeouts
 * and servers in their retry pause are not retried. */
static int retryable(memcached_return_t rc)
{
	return !memcached_success(rc) && rc != MEMCACHED_NOTFOUND && rc != MEMCACHED_NOTSTORED &&
	       rc != MEMCACHED_DATA_EXISTS && rc != MEMCACHED_END && rc != MEMCACHED_TIMEOUT &&
	       rc != MEMCACHED_SERVER_TEMPORARILY_DISABLED && rc != MEMCACHED_SERVER_MARKED_DEAD;
}

int cache_get(const char *key, struct arena *a, char **val, size_t *len)
{
	*val = NULL;
	memcached_st *m = get();
	if (m == NULL)
		return -1;
	size_t n;
	uint32_t flags;
	memcached_return_t rc;
	char *v = memcached_get(m, key, strlen(key), &n, &flags, &rc);
	if (v == NULL && retryable(rc))
		v = memcached_get(m, key, strlen(key), &n, &flags, &rc);
	put(m);
	if (v == NULL)
		return rc == MEMCACHED_NOTFOUND ? 0 : -1;
	*val = arena_strndup(a, v, n);
	if (len)
		*len = n;
	free(v);
	return 1;
}

int cache_set(const char *key, const char *val, size_t len, int ttl)
{
	memcached_st *m = get();
	if (m == NULL)
		return -1;
	memcached_return_t rc = memcached_set(m, key, strlen(key), val, len, (time_t)ttl, 0);
	if (retryable(rc))
		rc = memcached_set(m, key, strlen(key), val, len, (time_t)ttl, 0);
	put(m);
	return memcached_success(rc) ? 0 : -1;
}

int cache_add(const char *key, const char *val, size_t len, int ttl)
{
	memcached_st *m = get();
	if (m == NULL)
		return -1;
	memcached_return_t rc = memcached_add(m, key, strlen(key), val, len, (time_t)ttl, 0);
	if (retryable(rc))
		rc = memcached_add(m, key, strlen(key), val, len, (time_t)ttl, 0);
	put(m);
	if (memcached_success(rc))
		return 1;
	return rc == MEMCACHED_DATA_EXISTS || rc == MEMCACHED_NOTSTORED ? 0 : -1;
}

int cache_touch(const char *key, int ttl)
{
	memcached_st *m = get();
	if (m == NULL)
		return -1;
	memcached_return_t rc = memcached_touch(m, key, strlen(key), (time_t)ttl);
	if (retryable(rc))
		rc = memcached_touch(m, key, strlen(key), (time_t)ttl);
	put(m);
	if (memcached_success(rc))
		return 1;
	return rc == MEMCACHED_NOTFOUND ? 0 : -1;
}

int cache_del(const char *key)
{
	return cache_del_many(&key, 1);
}

/* Up to DEL_CHUNK deletes in one round trip: "delete KEY noreply" for each
 * key (memcached answers nothing to those, found or not, so nothing is left
 * unread), then a get of the same keys over the same connections, written
 * together with them. memcached runs a connection's commands in order, so
 * once the get is answered every delete is done, and a reader who looks
 * afterwards misses. A key the get finds was added again after its delete
 * (a reader's fresh entry), which is as good. 0, or -1 when some step
 * failed: the connections are dropped (nothing half-read stays on them)
 * and the caller deletes one by one. */
#define DEL_CHUNK 32
static int del_together(const char *const *keys, size_t n)
{
	memcached_return_t rc;
	memcached_st *m = memcached_pool_pop(dpool, true, &rc);
	if (m == NULL)
		return -1;
	size_t lens[DEL_CHUNK];
	int ok = 1;
	for (size_t i = 0; i < n && ok; i++) {
		lens[i] = strlen(keys[i]);
		rc = memcached_delete(m, keys[i], lens[i], 0);
		ok = rc == MEMCACHED_BUFFERED || memcached_success(rc);
	}
	if (ok)
		ok = memcached_success(memcached_mget(m, keys, lens, n));
	if (ok) {
		memcached_result_st *r;
		while ((r = memcached_fetch_result(m, NULL, &rc)) != NULL)
			memcached_result_free(r);
		ok = rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND || memcached_success(rc);
	}
	if (!ok)
		memcached_quit(m);
	memcached_pool_push(dpool, m);
	return ok ? 0 : -1;
}

/* One after another on one connection. */
static int del_each(const char *const *keys, size_t n)
{
	memcached_st *m = get();
	if (m == NULL)
		return -1;
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		memcached_return_t rc = memcached_delete(m, keys[i], strlen(keys[i]), 0);
		if (retryable(rc))
			rc = memcached_delete(m, keys[i], strlen(keys[i]), 0);
		bad |= !memcached_success(rc) && rc != MEMCACHED_NOTFOUND;
	}
	put(m);
	return bad ? -1 : 0;
}

/* Several keys together (a send batch's conversations: one round trip
 * instead of one per key, which was a tenth of a send's latency under
 * load); one key, or when that fails, one by one with the usual retry. */
int cache_del_many(const char *const *keys, size_t n)
{
	if (pool == NULL)
		return -1;
	int bad = 0;
	for (size_t i = 0; i < n; i += DEL_CHUNK) {
		size_t k = n - i < DEL_CHUNK ? n - i : DEL_CHUNK;
		if (k > 1 && dpool != NULL && del_together(keys + i, k) == 0)
			continue;
		bad |= del_each(keys + i, k) < 0;
	}
	return bad ? -1 : 0;
}

int cache_incr(const char *key, uint64_t *out)
{
	memcached_st *m = get();
	if (m == NULL)
		return -1;
	uint64_t v = 0;
	memcached_return_t rc = memcached_increment_with_initial(m, key, strlen(key), 1, 1,
		0, &v);
	if (retryable(rc))
		rc = memcached_increment_with_initial(m, key, strlen(key), 1, 1, 0, &v);
	put(m);
	if (!memcached_success(rc))
		return -1;
	if (out)
		*out = v;
	return 0;
}

int cache_mget(const char *const *keys, size_t n, struct arena *a, char **vals)
{
	for (size_t i = 0; i < n; i++)
		vals[i] = NULL;
	memcached_st *m = get();
	if (m == NULL)
		return -1;
	size_t lens[n > 0 ? n : 1];
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(keys[i]);
	memcached_return_t rc = memcached_mget(m, (const char *const *)keys, lens, n);
	if (retryable(rc))
		rc = memcached_mget(m, (const char *const *)keys, lens, n);
	if (!memcached_success(rc)) {
		put(m);
		return -1;
	}
	memcached_result_st *res;
	while ((res = memcached_fetch_result(m, NULL, &rc)) != NULL) {
		const char *k = memcached_result_key_value(res);
		size_t kl = memcached_result_key_length(res);
		for (size_t i = 0; i < n; i++) {
			if (lens[i] == kl && memcmp(keys[i], k, kl) == 0) {
				vals[i] = arena_strndup(a, memcached_result_value(res),
					memcached_result_length(res));
				break;
			}
		}
		memcached_result_free(res);
	}
	put(m);
	/* A fetch cut short (timeout, server gone) is a failure, not a miss. */
	if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND)
		return -1;
	return 0;
}

void cache_key(char *buf, const char *kind, int64_t id)
{
	snprintf(buf, CACHE_KEY_MAX, "m:%s:%lld", kind, (long long)id);
}

void cache_key2(char *buf, const char *kind, int64_t a, int64_t b)
{
	snprintf(buf, CACHE_KEY_MAX, "m:%s:%lld:%lld", kind, (long long)a, (long long)b);
}
