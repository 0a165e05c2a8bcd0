/*
 * Accounts and authentication: argon2id passwords (libsodium), HS256 access
 * tokens (libjwt) bound to a revocable session, opaque rotating refresh
 * tokens stored hashed, and login rate limits.
 */
#ifndef AUTH_AUTH_H
#define AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "db/users.h"
#include "http/http.h"

/* Process init: loads the JWT key. Returns 0 or -1. */
int auth_init(void);

/* Password hashing. hash_out must hold crypto_pwhash_STRBYTES (128).
 * auth_hash_password: 0, -1 failed, or AUTH_BUSY; auth_check_password: 1
 * the password matches, 0 it does not, or AUTH_BUSY. AUTH_BUSY: more
 * requests wait for a turn than password_hash_queue allows (answer 503 at
 * once rather than queue without end). Callers give back their database
 * connection first (app_db_release): a request waiting for a turn must
 * not hold one. */
#define AUTH_BUSY (-2)
int auth_hash_password(const char *password, char *hash_out);
int auth_check_password(const char *hash, const char *password);
/* A hash of no password, made once per process (for checking logins of
 * unknown users in the same time as known ones); NULL if it could not be
 * made. */
const char *auth_dummy_hash(void);

/* Issues an access token for (uid, sid); the string is in the arena. */
char *auth_issue_token(struct arena *a, int64_t uid, int64_t sid, int ttl);
/* Verifies signature, algorithm, expiry and type. 1 ok, 0 invalid. */
int auth_verify_token(const char *token, int64_t *uid, int64_t *sid);

/* 1 when session sid of uid is live, 0 when it ended or never was, -1
 * when the database failed. Cached briefly (see auth.c). */
int auth_session_valid(struct req *req, int64_t sid, int64_t uid);
/* After a revocation committed: session sid (of uid, 0 if unknown), or
 * every session of uid revoked in the last minute, stops passing at once,
 * and uid's waiting event requests are woken to find it out. Either may
 * wait seconds for memcached: call them holding no database connection
 * (auth_sessions_ended reads the list on req's, then gives it back). */
void auth_session_ended(int64_t sid, int64_t uid);
/* How long a session's validity may be cached after MySQL confirmed it
 * (seconds): a session ended longer ago than that passes nowhere, and
 * needs no auth_session_ended. */
#define AUTH_SESSION_CACHE_S 60
void auth_sessions_ended(struct req *req, int64_t uid);

/* server_opts.authenticate: Bearer token -> req->user_id/session_id. */
int auth_authenticate(struct req *req);

/* A user as JSON (public fields; private adds nothing secret). */
json_object *auth_user_json(struct arena *a, const struct user *u);

/* Random bytes as base64url (no padding) into the arena. */
char *auth_random_token(struct arena *a, size_t nbytes);
/* A refresh token of session sid (see auth.c), into the arena: a new one
 * (seed NULL), or the successor of the token whose SHA-256 is seed. */
char *auth_refresh_token(struct arena *a, int64_t sid, const unsigned char seed[32]);
/* The session a refresh token was issued for by this server (its tag
 * checked), or 0 (not one of ours, or of the older untagged kind). */
int64_t auth_refresh_token_session(const char *token);
void auth_sha256(const char *s, unsigned char out[32]);

/* Handlers. */
void auth_register(struct req *req);	/* POST /auth/register */
void auth_login(struct req *req);	/* POST /auth/login */
void auth_refresh(struct req *req);	/* POST /auth/refresh */
void auth_logout(struct req *req);	/* POST /auth/logout */
void auth_me_get(struct req *req);	/* GET /me */
void auth_me_patch(struct req *req);	/* PATCH /me */
void auth_me_delete(struct req *req);	/* DELETE /me */
void auth_user_get(struct req *req);	/* GET /users/{id} */
void auth_users_search(struct req *req); /* GET /users?q= */
void auth_sessions_list(struct req *req); /* GET /sessions */
void auth_session_delete(struct req *req); /* DELETE /sessions/{id} */

#endif
