#include "events/presence.h"

#include <pthread.h>
#include <stdlib.h>

#include "app/app.h"
#include "cache/cache.h"
#include "db/online.h"
#include "events/emit.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"
#include "util/stack.h"
#include "util/xalloc.h"

#define PRESENCE_FANOUT_MAX 50

/* The live flag lives this long after the last refresh. */
static int ttl_s(void)
{
	return (int)config_int_range("presence_ttl", 60, 5, 86400);
}

int presence_refresh_ms(void)
{
	int ms = ttl_s() * 1000 / 3;
	return ms < 1000 ? 1000 : ms > 20000 ? 20000 : ms;
}

/* last_seen_at older than this (and no refresh since) means offline. It
 * exceeds the TTL by the last-seen write throttle, so a connected user is
 * never declared offline. */
static int64_t stale_s(void)
{
	return config_int_range("presence_offline_after", ttl_s() + 15, 1, 604800);
}

/* While connected, the live flag is renewed and last_seen_at written at
 * most this often: half the TTL (30 s by default). With a refresh at least
 * every presence_refresh_ms (TTL / 3) they are at most 5/6 of the TTL apart,
 * inside both the flag's TTL and presence_offline_after (TTL + 15 s). */
static int touch_every_s(void)
{
	int s = ttl_s() / 2;
	return s < 1 ? 1 : s;
}

/* Presence changes go to the members of direct conversations and of
 * groups up to this size; in larger groups each member coming and going
 * would write a row for every other member (a thousand members connecting
 * in the morning: a million rows). Their members ask when they look
 * (GET /users/{id}/presence). */
static int fanout_max(void)
{
	return (int)config_int_range("presence_fanout_max", PRESENCE_FANOUT_MAX, 2, 100000);
}

struct touch_ctx {
	struct arena *a;
	struct emit *e;
	int64_t uid;
	int throttle;
	int online;		/* 1 announce online, 0 announce offline */
	int changed;
};

static json_object *payload(int64_t uid, int online, struct arena *a, const char *last_seen)
{
	json_object *p = json_object_new_object();
	json_object_object_add(p, "user_id", json_object_new_int64(uid));
	json_object_object_add(p, "online", json_object_new_boolean(online));
	json_object_object_add(p, "last_seen",
		last_seen ? json_object_new_string(http_time(a, last_seen)) : NULL);
	return p;
}

static int transition_tx(struct db *db, void *p)
{
	struct touch_ctx *c = p;
	const char *last_seen;
	c->e->n = 0;
	int r = c->online ? online_touch(db, c->a, c->uid, c->throttle, &last_seen)
			  : online_clear(db, c->a, c->uid, stale_s(), &last_seen);
	if (r <= 0) {
		c->changed = 0;
		return r;
	}
	c->changed = 1;
	json_object *pl = payload(c->uid, c->online, c->a, last_seen);
	int rc = emit_peers(db, c->e, c->uid, fanout_max(), "presence", pl);
	json_object_put(pl);
	return rc < 0 ? -1 : 0;
}

static int transition(struct db *db, struct arena *a, int64_t uid, int online, int throttle)
{
	struct emit e;
	emit_init(&e, a);
	struct touch_ctx c = {a, &e, uid, throttle, online, 0};
	if (db_tx(db, transition_tx, &c) != 0)
		return -1;
	emit_wake(&e);
	return c.changed;
}

/* --- last_seen_at, written together ---
 * A connected user's last_seen_at is kept fresh every touch_every_s (30 s
 * by default): with thousands connected, one autocommit UPDATE each (a
 * durable commit) was most of the database's work for idle clients. In a
 * threaded events.fcgi they wait in one list and one thread writes all
 * that came in the last SEEN_EVERY_MS in one statement; last_seen_at is
 * then that much older at most, against a staleness limit of TTL + 15 s.
 * Five writes a second rather than one: a second's worth at once (about
 * 170 users at 5,000 connected) was a burst that delayed the messages
 * delivered during it (delivery p99 7-13 ms against 4-6 in A/B runs). A
 * user with no mark found there is announced online, as before. */
#define SEEN_EVERY_MS 200
#define SEEN_MAX 65536		/* waiting ids; more are dropped (logged) */
#define SEEN_CHUNK 1000		/* ids per statement */

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t seen_cv = PTHREAD_COND_INITIALIZER;
static int64_t *seen_ids;
static int seen_n;
static int seen_started;
static _Atomic int64_t seen_dropped;

/* 1 queued, 0 no writer (write it now). */
static int seen_queue(int64_t uid)
{
	pthread_mutex_lock(&seen_mu);
	int started = seen_started;
	if (started) {
		if (seen_n < SEEN_MAX) {
			seen_ids[seen_n++] = uid;
			if (seen_n == 1)
				pthread_cond_signal(&seen_cv);
		} else if (seen_dropped++ % 1000 == 0) {
			log_warn("presence: %d last-seen updates waiting; one dropped", SEEN_MAX);
		}
	}
	pthread_mutex_unlock(&seen_mu);
	return started;
}

static int cmp_id(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return a < b ? -1 : a > b;
}

static void seen_write(int64_t *ids, int n)
{
	struct db *db = db_pool_acquire();
	if (db == NULL) {
		log_warn("presence: %d last-seen updates not written: no database", n);
		return;
	}
	struct arena a;
	arena_init(&a);
	int64_t unmarked[SEEN_CHUNK];
	for (int i = 0; i < n; i += SEEN_CHUNK) {
		int k = n - i < SEEN_CHUNK ? n - i : SEEN_CHUNK;
		int m = online_seen_many(db, db_ids_json(&a, ids + i, k), SEEN_CHUNK, unmarked);
		if (m < 0)
			log_warn("presence: %d last-seen updates not written", k);
		for (int j = 0; j < m; j++)
			if (transition(db, &a, unmarked[j], 1, 0) < 0)
				log_warn("presence: cannot record user %lld as online",
					(long long)unmarked[j]);
		arena_reset(&a);
	}
	arena_release(&a);
	db_pool_release(db);
}

static void *seen_writer(void *arg)
{
	(void)arg;
	int64_t *batch = xmalloc(sizeof(int64_t) * SEEN_MAX);
	for (;;) {
		pthread_mutex_lock(&seen_mu);
		while (seen_n == 0) {
			stack_trim();
			pthread_cond_wait(&seen_cv, &seen_mu);
		}
		pthread_mutex_unlock(&seen_mu);
		/* Those that come meanwhile join this batch. */
		clock_sleep_ms(SEEN_EVERY_MS);
		pthread_mutex_lock(&seen_mu);
		int n = seen_n;
		int64_t *taken = seen_ids;
		seen_ids = batch;
		seen_n = 0;
		pthread_mutex_unlock(&seen_mu);
		batch = taken;
		qsort(batch, (size_t)n, sizeof(*batch), cmp_id);
		int k = 0;
		for (int i = 0; i < n; i++)
			if (k == 0 || batch[k - 1] != batch[i])
				batch[k++] = batch[i];
		seen_write(batch, k);
	}
	return NULL;
}

int presence_seen_start(void)
{
	pthread_mutex_lock(&seen_mu);
	if (seen_started) {
		pthread_mutex_unlock(&seen_mu);
		return 0;
	}
	seen_ids = xmalloc(sizeof(int64_t) * SEEN_MAX);
	int rc = thread_start(seen_writer, NULL, 256 * 1024);
	if (rc == 0)
		seen_started = 1;
	else {
		free(seen_ids);
		seen_ids = NULL;
	}
	pthread_mutex_unlock(&seen_mu);
	return rc == 0 ? 0 : -1;
}

void presence_refresh(struct db *db, struct arena *a, int64_t uid)
{
	char key[CACHE_KEY_MAX], seen[CACHE_KEY_MAX];
	cache_key(key, "presence", uid);
	cache_key(seen, "seen", uid);
	/* At most once per touch_every_s() (a long-poll client asks again after
	 * every answer): one memcached round trip when it is too early. The
	 * live flag was set or renewed with the last "seen" and lives longer. */
	int t = cache_add(seen, "1", 1, touch_every_s());
	if (t == 0)
		return;
	int ttl = ttl_s();
	int throttle;
	/* Renew the live flag; only a missing one is added, and adding it is
	 * what tells that the user just came online here. */
	int r = cache_touch(key, ttl);
	if (r == 0)
		r = cache_add(key, "1", 1, ttl) == 1 ? 2 : 1;
	if (r == 2) {
		throttle = 0;	/* just came online here: record it now */
	} else if (r == 1) {
		/* Marked online in MySQL too (the usual case): last_seen_at is
		 * kept fresh, together with others' (above), or at once by one
		 * autocommit UPDATE. Without the mark (the sweeper could not
		 * drop the flag, or a transition failed) announce it now. */
		if (seen_queue(uid))
			return;
		int s = online_seen(db, uid);
		if (s == 1)
			return;
		throttle = s == 0 ? 0 : touch_every_s();
	} else {
		/* memcached is down: MySQL throttles the write itself. */
		throttle = touch_every_s();
	}
	if (transition(db, a, uid, 1, throttle) < 0)
		log_warn("presence: cannot record user %lld as online", (long long)uid);
}

int presence_sweep(struct db *db, struct arena *a)
{
	int64_t ids[256];
	int total = 0;
	for (int round = 0; round < 100; round++) {
		int n = online_stale(db, stale_s(), (int)(sizeof(ids) / sizeof(ids[0])), ids);
		if (n < 0)
			return -1;
		int changed = 0;
		for (int i = 0; i < n; i++) {
			/* Drop the live flag first: a client that comes back now
			 * re-adds it and refreshes last_seen_at, which makes the
			 * conditional clear below a no-op. */
			char key[CACHE_KEY_MAX];
			cache_key(key, "presence", ids[i]);
			cache_del(key);
			/* And the refresh throttle, so that coming back now is
			 * checked (and announced) at once. */
			cache_key(key, "seen", ids[i]);
			cache_del(key);
			int r = transition(db, a, ids[i], 0, 0);
			if (r < 0)
				return -1;
			changed += r;
		}
		total += changed;
		if (n < (int)(sizeof(ids) / sizeof(ids[0])) || changed == 0)
			break;
	}
	return total;
}

/* GET /users/{id}/presence */
void presence_get(struct req *req)
{
	int64_t uid;
	if (!req_param_id(req, 0, &uid))
		return;
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	/* Only the user and people sharing a conversation with them may see
	 * it; everyone else learns nothing, not even that the user exists. */
	if (uid != req->user_id) {
		int s = online_shares_conversation(db, req->user_id, uid);
		if (s < 0)
			goto fail;
		if (s == 0) {
			resp_problem(req, 404, "not_found", "No such user.");
			return;
		}
	}
	int marked;
	const char *last_seen;
	int r = online_get(db, req->arena, uid, stale_s(), &marked, &last_seen);
	if (r < 0)
		goto fail;
	if (r == 0) {
		resp_problem(req, 404, "not_found", "No such user.");
		return;
	}
	char key[CACHE_KEY_MAX], *v;
	cache_key(key, "presence", uid);
	int c = cache_get(key, req->arena, &v, NULL);
	/* Online when memcached holds the live flag, or MySQL's mark is fresh
	 * (memcached down, restarted, or a write to it failed). */
	int online = c == 1 || marked;
	resp_json(req, 200, payload(uid, online, req->arena, last_seen));
	return;
fail:
	resp_problem(req, 500, "internal", NULL);
}
