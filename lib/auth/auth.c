/* Password hashing, tokens and request authentication. */
#include "auth/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jwt.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "app/app.h"
#include "cache/cache.h"
#include "util/config.h"
#include "util/log.h"
#include "util/recent.h"
#include "wake/doorbell.h"

static unsigned char jwt_key[256];
static int jwt_key_len;

int auth_init(void)
{
	if (sodium_init() < 0) {
		log_error("auth: libsodium init failed");
		return -1;
	}
	jwt_key_len = config_read_secret("jwt_key_file", jwt_key, (int)sizeof(jwt_key));
	/* HS256 wants at least its hash's 32 bytes; a shorter key (from
	 * before this check) still works, with a word in the log. */
	if (jwt_key_len > 0 && jwt_key_len < 32)
		log_warn("auth: the key in jwt_key_file has %d bytes; make a new one of at least 32 "
			"(DEPLOYING.md, Changing the key)", jwt_key_len);
	return jwt_key_len > 0 ? 0 : -1;
}

/* Argon2id takes password_memlimit (64 MiB) and a core's worth of time per
 * hash or check. api.fcgi serves requests on many threads, so at most
 * password_hashes_at_once of them run at a time (default 2, one per core
 * of a small machine): 64 threads hashing at once would need 4 GiB. */
static pthread_mutex_t hash_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hash_cond = PTHREAD_COND_INITIALIZER;
static int hashing, hash_waiting;

/* 0 with a turn taken, or AUTH_BUSY when password_hash_queue requests
 * already wait (each turn takes a core for about 0.1 s: a longer queue
 * only ties up threads, and let a flood of password checks stall every
 * other request). */
static int hash_enter(void)
{
	int most = (int)config_int_range("password_hashes_at_once", 2, 1, 64);
	int queue = (int)config_int_range("password_hash_queue", 16, 1, 100000);
	pthread_mutex_lock(&hash_lock);
	if (hashing >= most && hash_waiting >= queue) {
		pthread_mutex_unlock(&hash_lock);
		return AUTH_BUSY;
	}
	hash_waiting++;
	while (hashing >= most)
		pthread_cond_wait(&hash_cond, &hash_lock);
	hash_waiting--;
	hashing++;
	pthread_mutex_unlock(&hash_lock);
	return 0;
}

static void hash_leave(void)
{
	pthread_mutex_lock(&hash_lock);
	hashing--;
	pthread_cond_signal(&hash_cond);
	pthread_mutex_unlock(&hash_lock);
}

int auth_hash_password(const char *password, char *hash_out)
{
	unsigned long long ops = (unsigned long long)config_int_range("password_opslimit",
		crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_OPSLIMIT_MIN, 64);
	size_t mem = (size_t)config_int_range("password_memlimit", crypto_pwhash_MEMLIMIT_INTERACTIVE,
		crypto_pwhash_MEMLIMIT_MIN, 4LL << 30);
	if (hash_enter() < 0)
		return AUTH_BUSY;
	int rc = crypto_pwhash_str_alg(hash_out, password, strlen(password), ops, mem,
		crypto_pwhash_ALG_ARGON2ID13);
	hash_leave();
	if (rc != 0) {
		log_error("auth: password hashing failed (out of memory?)");
		return -1;
	}
	return 0;
}

int auth_check_password(const char *hash, const char *password)
{
	if (hash_enter() < 0)
		return AUTH_BUSY;
	int rc = crypto_pwhash_str_verify(hash, password, strlen(password));
	hash_leave();
	return rc == 0;
}

static pthread_mutex_t dummy_lock = PTHREAD_MUTEX_INITIALIZER;
static char dummy_hash[crypto_pwhash_STRBYTES];

const char *auth_dummy_hash(void)
{
	pthread_mutex_lock(&dummy_lock);
	if (dummy_hash[0] == '\0') {
		char h[crypto_pwhash_STRBYTES];
		if (auth_hash_password("not a password", h) == 0)
			memcpy(dummy_hash, h, sizeof(h));
	}
	const char *out = dummy_hash[0] != '\0' ? dummy_hash : NULL;
	pthread_mutex_unlock(&dummy_lock);
	return out;
}

char *auth_issue_token(struct arena *a, int64_t uid, int64_t sid, int ttl)
{
	jwt_t *jwt = NULL;
	char *out = NULL;
	if (jwt_new(&jwt) != 0)
		return NULL;
	time_t now = time(NULL);
	char sub[24];
	snprintf(sub, sizeof(sub), "%lld", (long long)uid);
	if (jwt_add_grant(jwt, "sub", sub) == 0 && jwt_add_grant_int(jwt, "sid", (long)sid) == 0 &&
	    jwt_add_grant_int(jwt, "iat", (long)now) == 0 &&
	    jwt_add_grant_int(jwt, "exp", (long)(now + ttl)) == 0 &&
	    jwt_add_grant(jwt, "typ", "access") == 0 &&
	    jwt_set_alg(jwt, JWT_ALG_HS256, jwt_key, jwt_key_len) == 0) {
		char *s = jwt_encode_str(jwt);
		if (s != NULL) {
			out = arena_strdup(a, s);
			free(s);
		}
	}
	jwt_free(jwt);
	return out;
}

static int verify_token(const char *token, int64_t *uid, int64_t *sid, time_t *expires)
{
	jwt_t *jwt = NULL;
	int ok = 0;
	if (strlen(token) > 2048)
		return 0;
	/* jwt_decode verifies the signature with our key; the algorithm is
	 * checked explicitly so "alg":"none" or another alg never passes. */
	if (jwt_decode(&jwt, token, jwt_key, jwt_key_len) != 0 || jwt == NULL)
		return 0;
	if (jwt_get_alg(jwt) != JWT_ALG_HS256)
		goto out;
	const char *typ = jwt_get_grant(jwt, "typ");
	const char *sub = jwt_get_grant(jwt, "sub");
	long exp = jwt_get_grant_int(jwt, "exp");
	long s = jwt_get_grant_int(jwt, "sid");
	if (typ == NULL || strcmp(typ, "access") != 0 || sub == NULL || exp <= 0 || s <= 0)
		goto out;
	if ((time_t)exp <= time(NULL))
		goto out;
	char *end;
	long long u = strtoll(sub, &end, 10);
	if (*end != '\0' || u <= 0)
		goto out;
	*uid = u;
	*sid = s;
	*expires = (time_t)exp;
	ok = 1;
out:
	jwt_free(jwt);
	return ok;
}

/* Tokens that verified, kept per process until they expire: a client sends
 * the same token with every request for its whole life, and a token that
 * verified once stays valid until its exp (the key only changes with a
 * restart). Direct-mapped by a hash of the text; the text is compared in
 * full. */
#define TOKEN_CACHE_SLOTS 64
#define TOKEN_CACHE_LEN 512
static struct {
	char token[TOKEN_CACHE_LEN];
	int64_t uid, sid;
	time_t expires;
} token_cache[TOKEN_CACHE_SLOTS];
static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned token_slot(const char *t, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)t[i]) * 16777619u;
	return h % TOKEN_CACHE_SLOTS;
}

int auth_verify_token(const char *token, int64_t *uid, int64_t *sid)
{
	size_t n = strlen(token);
	unsigned slot = token_slot(token, n);
	time_t now = time(NULL);
	int hit = 0;
	if (n < TOKEN_CACHE_LEN) {
		pthread_mutex_lock(&token_lock);
		/* Constant time over the token's bytes: how much of a cached
		 * token a guess matches is not told by the time taken. */
		if (token_cache[slot].expires > now && strlen(token_cache[slot].token) == n &&
		    sodium_memcmp(token_cache[slot].token, token, n) == 0) {
			*uid = token_cache[slot].uid;
			*sid = token_cache[slot].sid;
			hit = 1;
		}
		pthread_mutex_unlock(&token_lock);
	}
	if (hit)
		return 1;
	time_t expires;
	if (!verify_token(token, uid, sid, &expires))
		return 0;
	if (n < TOKEN_CACHE_LEN) {
		pthread_mutex_lock(&token_lock);
		memcpy(token_cache[slot].token, token, n + 1);
		token_cache[slot].uid = *uid;
		token_cache[slot].sid = *sid;
		token_cache[slot].expires = expires;
		pthread_mutex_unlock(&token_lock);
	}
	return 1;
}

/* Session validity is cached in memcached under "sess:<sid>" (the user id)
 * for at most AUTH_SESSION_CACHE_S seconds after MySQL confirmed it, and never
 * past the session's expiry. Ending a session overwrites the key with a
 * tombstone that outlives every positive entry: positive entries are only
 * ever added (memcached "add"), so a reader that checked MySQL just before
 * the revocation cannot put its stale answer back. When the tombstone
 * cannot be written (memcached failing at that very moment) an ended
 * session may pass for at most AUTH_SESSION_CACHE_S seconds; that is logged. */
#define SESSION_TOMBSTONE_S 300

/* Sessions this process confirmed (in memcached or MySQL) are also
 * remembered here for SESSION_LOCAL_MS: a client sends many requests a
 * second with one token, and each would otherwise ask memcached again.
 * An entry counts only while the host's epoch (doorbell_epoch) is the one
 * read before the confirmation: ending any session bumps it after the
 * tombstone is written, so on this host an ended session stops passing at
 * once, in every process. Another host's processes do not see the bump
 * (nor, when the doorbell file could not be mapped, another process):
 * there it passes for at most SESSION_LOCAL_MS more, as it may past its
 * expiry (memcached's expiry is in whole seconds too). Keyed by (sid,
 * uid, epoch). */
#define SESSION_LOCAL_MS 1000
static struct recent live = RECENT_INIT;

int auth_session_valid(struct req *req, int64_t sid, int64_t uid)
{
	uint32_t epoch = doorbell_epoch();
	if (recent_has(&live, sid, uid, epoch))
		return 1;
	char key[CACHE_KEY_MAX];
	cache_key(key, "sess", sid);
	/* The route's own keys ride along (struct route, prefetch). */
	const char *keys[1 + REQ_PREFETCH_MAX] = {key};
	char *vals[1 + REQ_PREFETCH_MAX];
	int n = 0;
	if (req->route != NULL && req->route->prefetch != NULL && !req->prefetched) {
		int64_t saved = req->user_id;
		req->user_id = uid;
		n = req->route->prefetch(req, keys + 1);
		req->user_id = saved;
		if (n < 0 || n > REQ_PREFETCH_MAX)
			n = 0;
	}
	/* The route's values stay for the request; the session's own value
	 * alone is read into a scratch arena, so that a stream checking its
	 * session for hours does not grow its request's arena. */
	struct arena scratch;
	arena_init_block(&scratch, 256);
	int rc = cache_mget(keys, (size_t)n + 1, n > 0 ? req->arena : &scratch, vals);
	if (n > 0) {
		req->prefetched = 1;
		for (int i = 0; i < n; i++)
			req->pre[i] = rc == 0 ? vals[i + 1] : NULL;
	}
	int cached = 0;
	if (rc == 0 && vals[0] != NULL) {
		char *end;
		long long u = strtoll(vals[0], &end, 10);
		cached = *end == '\0' && u == uid;
	}
	arena_release(&scratch);
	if (cached) {
		recent_put(&live, sid, uid, epoch, SESSION_LOCAL_MS);
		return 1;
	}
	struct db *db = app_db_try(req);
	if (db == NULL)
		return -1;
	int64_t left = 0;
	rc = sessions_valid(db, sid, uid, &left);
	if (rc == 1 && left > 1) {
		recent_put(&live, sid, uid, epoch, SESSION_LOCAL_MS);
		char val[24];
		int len = snprintf(val, sizeof(val), "%lld", (long long)uid);
		cache_add(key, val, (size_t)len, left < AUTH_SESSION_CACHE_S ? (int)left : AUTH_SESSION_CACHE_S);
	}
	return rc;
}

/* Writes the tombstones of n ended sessions (n <= SESSIONS_ENDED_MAX),
 * then bumps the host's epoch. A tombstone that cannot be written is
 * tried once more after the cache's retry pause (CACHE_RETRY_WAIT_MS; one
 * wait for all, only then, and the sign-out's answer waits for it): right
 * after a memcached outage a pooled connection refuses calls for that
 * pause while memcached, back already, may hold the session's positive
 * entry (added by a process whose connection was fine), which would
 * otherwise pass for up to AUTH_SESSION_CACHE_S. *waited says whether the
 * caller already waited once (then a failure is only logged: memcached
 * is down, not pausing, and every chunk of a long list would wait). */
#define SESSIONS_ENDED_MAX 64
static void sessions_tombstone(const int64_t *sids, int n, int *waited)
{
	int64_t again[SESSIONS_ENDED_MAX];
	int k = 0;
	char key[CACHE_KEY_MAX];
	for (int i = 0; i < n && i < SESSIONS_ENDED_MAX; i++) {
		cache_key(key, "sess", sids[i]);
		if (cache_set(key, "-", 1, SESSION_TOMBSTONE_S) < 0)
			again[k++] = sids[i];
	}
	if (k > 0 && cache_configured()) {
		if (!*waited)
			usleep((useconds_t)CACHE_RETRY_WAIT_MS * 1000);
		*waited = 1;
		for (int i = 0; i < k; i++) {
			cache_key(key, "sess", again[i]);
			if (cache_set(key, "-", 1, SESSION_TOMBSTONE_S) < 0)
				log_warn("auth: could not mark session %lld ended in memcached; it may "
					"pass for up to %d s", (long long)again[i], AUTH_SESSION_CACHE_S);
		}
	}
	/* After the tombstones: a process that confirms a session again
	 * reads the new epoch before it asks memcached. */
	if (n > 0)
		doorbell_epoch_bump();
}

void auth_session_ended(int64_t sid, int64_t uid)
{
	int waited = 0;
	sessions_tombstone(&sid, 1, &waited);
	/* Open streams and long-polls check their session when rung, on
	 * every host. */
	if (uid > 0)
		doorbell_ring_many(&uid, 1);
}

void auth_sessions_ended(struct req *req, int64_t uid)
{
	/* The whole list first, then the connection goes back: a tombstone
	 * may wait out memcached's retry pause, and sign-outs holding
	 * connections meanwhile would stall every other request. */
	int64_t *all = NULL, after = 0;
	size_t nall = 0, cap = 0;
	struct db *db = app_db_try(req);
	int n = 0;
	do {
		int64_t ids[SESSIONS_ENDED_MAX];
		n = db == NULL ? -1 :
			sessions_ended(db, uid, AUTH_SESSION_CACHE_S, after, SESSIONS_ENDED_MAX, ids);
		if (n < 0) {
			log_warn("auth: could not list the ended sessions of user %lld",
				(long long)uid);
			break;
		}
		if (nall + (size_t)n > cap) {
			cap = cap == 0 ? SESSIONS_ENDED_MAX : 2 * cap;
			int64_t *grown = arena_alloc(req->arena, sizeof(*grown) * cap);
			if (nall > 0)
				memcpy(grown, all, sizeof(*all) * nall);
			all = grown;
		}
		if (n == 0)
			break;
		memcpy(all + nall, ids, sizeof(*ids) * (size_t)n);
		nall += (size_t)n;
		after = ids[n - 1];
	} while (n == SESSIONS_ENDED_MAX);
	app_db_release(req);
	int waited = 0;
	for (size_t i = 0; i < nall; i += SESSIONS_ENDED_MAX) {
		size_t k = nall - i < SESSIONS_ENDED_MAX ? nall - i : SESSIONS_ENDED_MAX;
		sessions_tombstone(all + i, (int)k, &waited);
	}
	if (nall > 0)
		doorbell_ring_many(&uid, 1);
}

int auth_authenticate(struct req *req)
{
	const char *h = req_header(req, "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		resp_header(req, "WWW-Authenticate", "Bearer");
		resp_problem(req, 401, "unauthenticated", "Send an access token: Authorization: Bearer <token>.");
		return 0;
	}
	int64_t uid, sid;
	if (!auth_verify_token(h + 7, &uid, &sid)) {
		resp_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		resp_problem(req, 401, "invalid_token", "The access token is invalid or has expired.");
		return 0;
	}
	/* Tokens are bound to their session: logout and session deletion take
	 * effect at once, not when the token expires. */
	int rc = auth_session_valid(req, sid, uid);
	if (rc < 0) {
		/* No connection at all: 503 here. A failed one: the server's 500,
		 * which is 503 when the database is down (server_opts.unavailable). */
		if (req->app == NULL || ((struct app *)req->app)->db == NULL) {
			resp_unavailable(req);
			return 0;
		}
		return -1;
	}
	if (rc == 0) {
		resp_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		resp_problem(req, 401, "invalid_token", "The session has ended; log in again.");
		return 0;
	}
	req->user_id = uid;
	req->session_id = sid;
	return 1;
}


/* --- refresh tokens ---
 * "<session id>.<nonce>.<tag>": 16 bytes (random for a new session; for a
 * rotation derived from the token rotated, so a client asking twice with
 * one token gets one successor, not a second chain) and a 16-byte HMAC-SHA256
 * of "refresh:<session id>.<nonce>" under the token key (jwt_key_file),
 * both base64url. The database keeps each token's SHA-256 until a week
 * after it was rotated; the tag still tells a token this server issued,
 * and its session, after that: a replay found that way ends the session
 * as one found in the table would. (Tokens issued before carry no tag:
 * 32 random bytes, known by their row alone.) */
#define REFRESH_NONCE 16
#define REFRESH_TAG 16

/* The first n bytes of HMAC-SHA256(token key, domain || data). */
static void keyed_mac(const char *domain, const unsigned char *data, size_t len,
	unsigned char *out, size_t n)
{
	unsigned char full[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, jwt_key, (size_t)jwt_key_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)domain, strlen(domain));
	crypto_auth_hmacsha256_update(&st, data, len);
	crypto_auth_hmacsha256_final(&st, full);
	memcpy(out, full, n);
	sodium_memzero(full, sizeof(full));
	sodium_memzero(&st, sizeof(st));
}

/* n bytes as base64url (no padding) into the arena. */
static char *b64url(struct arena *a, const unsigned char *bytes, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = arena_alloc(a, len);
	sodium_bin2base64(out, len, bytes, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

char *auth_random_token(struct arena *a, size_t nbytes)
{
	unsigned char raw[64];
	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	randombytes_buf(raw, nbytes);
	return b64url(a, raw, nbytes);
}

char *auth_refresh_token(struct arena *a, int64_t sid, const unsigned char seed[32])
{
	unsigned char nonce[REFRESH_NONCE], tag[REFRESH_TAG];
	/* The successor of the token whose SHA-256 seed is: the same one each
	 * time it is asked for. */
	if (seed != NULL)
		keyed_mac("next:", seed, 32, nonce, sizeof(nonce));
	else
		randombytes_buf(nonce, sizeof(nonce));
	char *body = arena_printf(a, "%lld.%s", (long long)sid, b64url(a, nonce, sizeof(nonce)));
	keyed_mac("refresh:", (const unsigned char *)body, strlen(body), tag, sizeof(tag));
	return arena_printf(a, "%s.%s", body, b64url(a, tag, sizeof(tag)));
}

int64_t auth_refresh_token_session(const char *token)
{
	const char *dot2 = strrchr(token, '.');
	const char *dot1 = strchr(token, '.');
	if (dot1 == NULL || dot2 == NULL || dot1 == dot2 || dot1 == token || dot1 - token > 18)
		return 0;
	int64_t sid = 0;
	for (const char *p = token; p < dot1; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		sid = sid * 10 + (*p - '0');
	}
	unsigned char got[REFRESH_TAG + 1];
	size_t n = 0;
	if (sid <= 0 || sodium_base642bin(got, sizeof(got), dot2 + 1, strlen(dot2 + 1), NULL, &n,
		    NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || n != REFRESH_TAG)
		return 0;
	unsigned char want[REFRESH_TAG];
	keyed_mac("refresh:", (const unsigned char *)token, (size_t)(dot2 - token), want,
		sizeof(want));
	return sodium_memcmp(got, want, REFRESH_TAG) == 0 ? sid : 0;
}

void auth_sha256(const char *s, unsigned char out[32])
{
	SHA256((const unsigned char *)s, strlen(s), out);
}

json_object *auth_user_json(struct arena *a, const struct user *u)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(u->id));
	json_object_object_add(o, "username", json_object_new_string(u->username));
	json_object_object_add(o, "display_name", json_object_new_string(u->display_name));
	json_object_object_add(o, "about", json_object_new_string(u->about ? u->about : ""));
	json_object_object_add(o, "avatar_media_id",
		u->avatar_media_id ? json_object_new_int64(u->avatar_media_id) : NULL);
	json_object_object_add(o, "created_at", json_object_new_string(http_time(a, u->created_at)));
	if (u->deleted)
		json_object_object_add(o, "deleted", json_object_new_boolean(1));
	return o;
}
