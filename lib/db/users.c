#include "db/users.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* --- users --- */

static const char *const SQL_USER_INSERT =
	"INSERT INTO users (username, display_name, password_hash) VALUES (?, ?, ?)";
static const char *const SQL_HEAD_INSERT =
	"INSERT INTO user_heads (user_id, last_seq, min_seq) VALUES (?, 0, 1)";
#define USER_COLS USER_COLS_OF("users")
static const char *const SQL_USER_BY_NAME =
	"SELECT " USER_COLS ", password_hash FROM users WHERE username = ? AND deleted_at IS NULL";
static const char *const SQL_USER_GET =
	"SELECT " USER_COLS " FROM users WHERE id = ?";
static const char *const SQL_USER_LOCK =
	"SELECT " USER_COLS " FROM users WHERE id = ? FOR UPDATE";
static const char *const SQL_USER_UPDATE =
	"UPDATE users SET display_name = COALESCE(?, display_name), about = COALESCE(?, about), "
	"avatar_media_id = IF(? < 0, avatar_media_id, NULLIF(?, 0)), updated_at = NOW(3) "
	"WHERE id = ? AND deleted_at IS NULL";
static const char *const SQL_USER_PASSWORD =
	"UPDATE users SET password_hash = ?, updated_at = NOW(3) "
	"WHERE id = ? AND deleted_at IS NULL AND password_hash = ?";
static const char *const SQL_USER_DELETE =
	"UPDATE users SET username = CONCAT('" DELETED_PREFIX "', id), display_name = 'Deleted account', "
	"about = '', avatar_media_id = NULL, password_hash = '!', deleted_at = NOW(3) "
	"WHERE id = ? AND deleted_at IS NULL";
/* The account's direct conversations: nobody would read a send into them
 * (sql/0017). */
static const char *const SQL_USER_CLOSE_DIRECT =
	"UPDATE members m FORCE INDEX (ix_user) "
	"STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = m.conversation_id "
	"SET c.closed_at = NOW(3) WHERE m.user_id = ? AND c.type = 'direct' AND c.closed_at IS NULL";
/* Usernames are ASCII: compared as such, a query with other characters
 * (which no username holds: they become '?') is not a collation error. */
static const char *const SQL_USER_SEARCH =
	"SELECT " USER_COLS " FROM users WHERE deleted_at IS NULL AND id > ? AND "
	"(username LIKE CONVERT(? USING ascii) OR display_name LIKE ?) ORDER BY id LIMIT ?";
static const char *const SQL_USER_TOUCH =
	"UPDATE users SET last_seen_at = NOW(3) WHERE id = ?";

/* --- sessions --- */

static const char *const SQL_SESSION_INSERT =
	"INSERT INTO sessions (user_id, device_name, user_agent, ip, expires_at) "
	"VALUES (?, ?, ?, ?, NOW(3) + INTERVAL ? DAY)";
/* The password a login proved is still the account's: read under a shared
 * lock, so a change of password (or the account's deletion) committing
 * meanwhile is seen, and one that comes after waits for this session and
 * then ends it with the others. */
static const char *const SQL_PROVEN =
	"SELECT 1 FROM users WHERE id = ? AND deleted_at IS NULL AND password_hash = ? "
	"LOCK IN SHARE MODE";
static const char *const SQL_REFRESH_INSERT =
	"INSERT INTO refresh_tokens (token_hash, session_id) VALUES (?, ?)";
/* A successor asked for again (within the reuse grace) is there already. */
static const char *const SQL_REFRESH_SUCCESSOR =
	"INSERT INTO refresh_tokens (token_hash, session_id) VALUES (?, ?) "
	"ON DUPLICATE KEY UPDATE session_id = session_id";
static const char *const SQL_SESSION_VALID =
	"SELECT TIMESTAMPDIFF(SECOND, NOW(3), expires_at) FROM sessions WHERE id = ? "
	"AND user_id = ? AND revoked_at IS NULL AND expires_at > NOW(3)";
static const char *const SQL_SESSION_ENDED =
	"SELECT id FROM sessions WHERE user_id = ? AND revoked_at >= NOW(3) - INTERVAL ? SECOND "
	"AND id > ? ORDER BY id LIMIT ?";
static const char *const SQL_REFRESH_LOOKUP =
	"SELECT r.session_id, r.superseded_at IS NOT NULL, s.user_id, "
	"s.revoked_at IS NULL AND s.expires_at > NOW(3), "
	"? > 0 AND r.superseded_at >= NOW(3) - INTERVAL ? SECOND, s.revoked_at IS NOT NULL "
	"FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id "
	"WHERE r.token_hash = ? FOR UPDATE";
static const char *const SQL_REFRESH_SUPERSEDE =
	"UPDATE refresh_tokens SET superseded_at = NOW(3) WHERE token_hash = ?";
static const char *const SQL_SESSION_STATE =
	"SELECT user_id, revoked_at IS NULL AND expires_at > NOW(3), revoked_at IS NOT NULL "
	"FROM sessions WHERE id = ? FOR UPDATE";
static const char *const SQL_SESSION_EXTEND =
	"UPDATE sessions SET last_used_at = NOW(3), expires_at = NOW(3) + INTERVAL ? DAY WHERE id = ?";
static const char *const SQL_SESSION_REVOKE =
	"UPDATE sessions SET revoked_at = NOW(3) WHERE id = ? AND user_id = ? AND revoked_at IS NULL";
static const char *const SQL_SESSION_OF =
	"SELECT revoked_at >= NOW(3) - INTERVAL ? SECOND FROM sessions WHERE id = ? AND user_id = ?";
static const char *const SQL_SESSION_REVOKE_ANY =
	"UPDATE sessions SET revoked_at = NOW(3) WHERE id = ? AND revoked_at IS NULL";
static const char *const SQL_REFRESH_SESSION =
	"SELECT r.session_id, s.user_id FROM refresh_tokens r "
	"JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = ?";
static const char *const SQL_SESSION_REVOKE_ALL =
	"UPDATE sessions SET revoked_at = NOW(3) WHERE user_id = ? AND revoked_at IS NULL";
static const char *const SQL_SESSION_REVOKE_OTHERS =
	"UPDATE sessions SET revoked_at = NOW(3) WHERE user_id = ? AND id <> ? AND revoked_at IS NULL";
static const char *const SQL_SESSION_LIST =
	"SELECT id, user_id, device_name, user_agent, ip, "
	"DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f'), "
	"DATE_FORMAT(last_used_at, '%Y-%m-%d %H:%i:%s.%f'), "
	"DATE_FORMAT(expires_at, '%Y-%m-%d %H:%i:%s.%f') "
	"FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > NOW(3) "
	"ORDER BY last_used_at DESC LIMIT ?";

/* --- rate limits --- */

/* LAST_INSERT_ID(expr) hands the new hit count back without a second query. */
static const char *const SQL_RATE_HIT =
	"INSERT INTO rate_limits (bucket, window_start, hits) VALUES (?, FROM_UNIXTIME(?), "
	"LAST_INSERT_ID(1)) ON DUPLICATE KEY UPDATE hits = LAST_INSERT_ID(hits + 1)";
static const char *const SQL_RATE_PREV = "SELECT hits FROM rate_limits WHERE bucket = ?";

struct create_ctx {
	const char *username, *display, *hash;
	int64_t id;
	int dup;
};

static int create_tx(struct db *db, void *p)
{
	struct create_ctx *c = p;
	if (db_exec(db, SQL_USER_INSERT, "sss", c->username, c->display, c->hash) < 0) {
		if (db_errno(db) == DB_ER_DUP_ENTRY) {
			c->dup = 1;
			return 1;
		}
		return -1;
	}
	c->id = db_insert_id(db);
	return db_exec(db, SQL_HEAD_INSERT, "i", c->id);
}

int users_create(struct db *db, const char *username, const char *display_name,
	const char *password_hash, int64_t *id)
{
	struct create_ctx c = {username, display_name, password_hash, 0, 0};
	int rc = db_tx(db, create_tx, &c);
	if (rc < 0)
		return -1;
	if (c.dup)
		return 0;
	*id = c.id;
	return 1;
}

void users_read_row(struct db *db, struct arena *a, int col, struct user *u)
{
	u->id = db_int(db, col);
	u->username = db_str(db, col + 1, a, NULL);
	u->display_name = db_str(db, col + 2, a, NULL);
	u->about = db_str(db, col + 3, a, NULL);
	u->avatar_media_id = db_int(db, col + 4);
	u->created_at = db_str(db, col + 5, a, NULL);
	u->last_seen_at = db_str(db, col + 6, a, NULL);
	u->deleted = db_int(db, col + 7) != 0;
}

static void read_user(struct db *db, struct arena *a, struct user *u)
{
	users_read_row(db, a, 0, u);
}

int users_by_username(struct db *db, struct arena *a, const char *username, struct user *u,
	const char **hash)
{
	if (db_exec(db, SQL_USER_BY_NAME, "s", username) < 0)
		return -1;
	int rc = db_next(db);
	if (rc <= 0)
		return rc;
	read_user(db, a, u);
	if (hash != NULL)
		*hash = db_str(db, 8, a, NULL);
	while (db_next(db) > 0)
		;
	return 1;
}

static int user_row(struct db *db, struct arena *a, const char *sql, int64_t id,
	struct user *u)
{
	if (db_exec(db, sql, "i", id) < 0)
		return -1;
	int rc = db_next(db);
	if (rc <= 0)
		return rc;
	read_user(db, a, u);
	while (db_next(db) > 0)
		;
	return 1;
}

int users_get(struct db *db, struct arena *a, int64_t id, struct user *u)
{
	return user_row(db, a, SQL_USER_GET, id, u);
}

int users_lock(struct db *db, struct arena *a, int64_t id, struct user *u)
{
	return user_row(db, a, SQL_USER_LOCK, id, u);
}

struct account_ctx {
	int64_t id, keep_sid;
	const char *display_name, *about, *hash, *proven;
};

static int profile_update(struct db *db, int64_t id, const char *display_name,
	const char *about)
{
	if (display_name == NULL && about == NULL)
		return 0;
	return db_exec(db, SQL_USER_UPDATE, "ssiii", display_name, about, (int64_t)-1,
		(int64_t)-1, id) < 0 ? -1 : 0;
}

static int account_tx(struct db *db, void *p)
{
	struct account_ctx *c = p;
	if (profile_update(db, c->id, c->display_name, c->about) < 0 ||
	    db_exec(db, SQL_USER_PASSWORD, "sis", c->hash, c->id, c->proven) < 0)
		return -1;
	if (db_affected(db) == 0)
		return 1;	/* not the password checked any more */
	return db_exec(db, SQL_SESSION_REVOKE_OTHERS, "ii", c->id, c->keep_sid) < 0 ? -1 : 0;
}

int users_update_account(struct db *db, int64_t id, const char *display_name,
	const char *about, const char *hash, const char *proven, int64_t keep_sid)
{
	/* Only a new password needs a transaction (the other sessions end
	 * with it); a profile change alone is one statement. */
	if (hash == NULL)
		return profile_update(db, id, display_name, about);
	if (proven == NULL)
		return -1;
	struct account_ctx c = {id, keep_sid, display_name, about, hash, proven};
	return db_tx(db, account_tx, &c);
}

struct del_ctx {
	int64_t id;
	int done;
};

static int delete_tx(struct db *db, void *p)
{
	struct del_ctx *c = p;
	if (db_exec(db, SQL_USER_DELETE, "i", c->id) < 0)
		return -1;
	c->done = db_affected(db) > 0;
	if (!c->done)
		return 1;
	if (db_exec(db, SQL_USER_CLOSE_DIRECT, "i", c->id) < 0)
		return -1;
	return db_exec(db, SQL_SESSION_REVOKE_ALL, "i", c->id);
}

int users_delete(struct db *db, int64_t id)
{
	struct del_ctx c = {id, 0};
	int rc = db_tx(db, delete_tx, &c);
	if (rc < 0)
		return -1;
	return c.done;
}

static char *like_prefix(struct arena *a, const char *q)
{
	size_t n = strlen(q);
	char *out = arena_alloc(a, 2 * n + 2);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
			out[j++] = '\\';
		out[j++] = q[i];
	}
	out[j++] = '%';
	out[j] = '\0';
	return out;
}

int users_search(struct db *db, struct arena *a, const char *q, int64_t after_id, int max,
	struct user *out)
{
	char *pat = like_prefix(a, q);
	if (db_exec(db, SQL_USER_SEARCH, "issi", after_id, pat, pat, (int64_t)max) < 0)
		return -1;
	int n = 0, rc;
	while ((rc = db_next(db)) > 0) {
		if (n < max)
			read_user(db, a, &out[n++]);
	}
	return rc < 0 ? -1 : n;
}

int users_touch_seen(struct db *db, int64_t id)
{
	return db_exec(db, SQL_USER_TOUCH, "i", id);
}

struct screate_ctx {
	int64_t uid;
	const char *device, *ua, *ip;
	int ttl;
	refresh_mint_fn mint;
	void *mint_arg;
	const char *proven;
	int64_t sid;
};

static int session_create_tx(struct db *db, void *p)
{
	struct screate_ctx *c = p;
	if (c->proven != NULL) {
		if (db_exec(db, SQL_PROVEN, "is", c->uid, c->proven) < 0)
			return -1;
		int rc = db_next(db);
		while (rc > 0 && db_next(db) > 0)
			;
		if (rc <= 0)
			return rc < 0 ? -1 : 1;
	}
	if (db_exec(db, SQL_SESSION_INSERT, "isssi", c->uid, c->device, c->ua, c->ip,
		    (int64_t)c->ttl) < 0)
		return -1;
	c->sid = db_insert_id(db);
	unsigned char hash[32];
	c->mint(c->mint_arg, c->sid, hash);
	return db_exec(db, SQL_REFRESH_INSERT, "bi", hash, (size_t)32, c->sid);
}

int sessions_create(struct db *db, int64_t user_id, const char *device, const char *ua,
	const char *ip, int ttl_days, refresh_mint_fn mint, void *mint_arg, const char *proven,
	int64_t *sid)
{
	struct screate_ctx c = {user_id, device, ua, ip, ttl_days, mint, mint_arg, proven, 0};
	int rc = db_tx(db, session_create_tx, &c);
	if (rc != 0)
		return rc;
	*sid = c.sid;
	return 0;
}

int sessions_valid(struct db *db, int64_t sid, int64_t uid, int64_t *left_s)
{
	if (db_exec(db, SQL_SESSION_VALID, "ii", sid, uid) < 0)
		return -1;
	int rc = db_next(db);
	if (rc > 0 && left_s != NULL)
		*left_s = db_int(db, 0);
	while (rc > 0 && db_next(db) > 0)
		;
	return rc;
}

int sessions_ended(struct db *db, int64_t uid, int within_s, int64_t after_id, int max,
	int64_t *out)
{
	if (db_exec(db, SQL_SESSION_ENDED, "iiii", uid, (int64_t)within_s, after_id,
		    (int64_t)max) < 0)
		return -1;
	return db_ids(db, max, out);
}

struct rotate_ctx {
	const unsigned char *old_hash;
	int64_t claimed;
	refresh_mint_fn mint;
	void *mint_arg;
	int ttl, grace_s;
	int64_t sid, uid;
	int result;
	struct arena *a;
	struct user *u;
};

/* The session of a presented token has ended (3) or expired (0): whatever
 * token of it comes, that is the answer; there is nothing left to take
 * from a thief. */
static int rotate_over(struct rotate_ctx *c, int revoked)
{
	c->result = revoked ? 3 : 0;
	return 1;
}

/* A rotated token presented again: whoever holds the chain is not to be
 * trusted any more, so the whole session ends (committed: 2). */
static int rotate_replayed(struct db *db, struct rotate_ctx *c, int64_t sid, int64_t uid)
{
	if (db_exec(db, SQL_SESSION_REVOKE_ANY, "i", sid) < 0)
		return -1;
	c->result = 2;
	c->sid = sid;
	c->uid = uid;
	return 0;
}

/* A token of session c->claimed that has no row (rotated away long ago,
 * or its session gone): a replay while the session lives. */
static int rotate_unlisted(struct db *db, struct rotate_ctx *c)
{
	if (c->claimed <= 0)
		return 1;
	if (db_exec(db, SQL_SESSION_STATE, "i", c->claimed) < 0)
		return -1;
	int rc = db_next(db);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return 1;
	int64_t uid = db_int(db, 0);
	int live = (int)db_int(db, 1);
	int revoked = (int)db_int(db, 2);
	while (db_next(db) > 0)
		;
	return live ? rotate_replayed(db, c, c->claimed, uid) : rotate_over(c, revoked);
}

static int rotate_tx(struct db *db, void *p)
{
	struct rotate_ctx *c = p;
	c->result = 0;
	if (db_exec(db, SQL_REFRESH_LOOKUP, "iib", (int64_t)c->grace_s, (int64_t)c->grace_s,
		c->old_hash, (size_t)32) < 0)
		return -1;
	int rc = db_next(db);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return rotate_unlisted(db, c);
	int64_t sid = db_int(db, 0);
	int superseded = (int)db_int(db, 1);
	int64_t uid = db_int(db, 2);
	int live = (int)db_int(db, 3);
	int recent = (int)db_int(db, 4);
	int revoked = (int)db_int(db, 5);
	while (db_next(db) > 0)
		;
	if (!live)
		return rotate_over(c, revoked);
	/* Used again within moments of its rotation: the same client asking
	 * twice (its first answer lost, or two requests crossing), not a
	 * thief. It gets the successor already handed out (mint derives it
	 * from the token), not a second chain, and the session goes on. */
	if (superseded && !recent)
		return rotate_replayed(db, c, sid, uid);
	/* The account, read before anything is written: nothing that can
	 * fail is left for after the commit, whose new token would be lost
	 * (and the old one, tried again, counts as a replay). */
	int found = users_get(db, c->a, uid, c->u);
	if (found < 0)
		return -1;
	if (found == 0 || c->u->deleted)
		return 1;
	unsigned char new_hash[32];
	c->mint(c->mint_arg, sid, new_hash);
	if ((!recent && db_exec(db, SQL_REFRESH_SUPERSEDE, "b", c->old_hash, (size_t)32) < 0) ||
	    db_exec(db, SQL_REFRESH_SUCCESSOR, "bi", new_hash, (size_t)32, sid) < 0 ||
	    db_exec(db, SQL_SESSION_EXTEND, "ii", (int64_t)c->ttl, sid) < 0)
		return -1;
	c->sid = sid;
	c->uid = uid;
	c->result = 1;
	return 0;
}

int sessions_rotate(struct db *db, struct arena *a, const unsigned char old_hash[32],
	int64_t claimed_sid, refresh_mint_fn mint, void *mint_arg, int ttl_days, int grace_s,
	int64_t *sid, struct user *u)
{
	struct rotate_ctx c = {old_hash, claimed_sid, mint, mint_arg, ttl_days, grace_s, 0, 0, 0,
		a, u};
	int rc = db_tx(db, rotate_tx, &c);
	if (rc < 0)
		return -1;
	*sid = c.sid;
	if (c.result == 2)
		u->id = c.uid;
	return c.result;
}

/* Session sid of uid, ended before: 1 within the last recent_s seconds,
 * 2 longer ago, 0 no such session, -1. */
static int ended_when(struct db *db, int64_t sid, int64_t uid, int recent_s)
{
	if (db_exec(db, SQL_SESSION_OF, "iii", (int64_t)recent_s, sid, uid) < 0)
		return -1;
	int rc = db_next(db);
	int lately = rc > 0 && db_int(db, 0) != 0;
	while (rc > 0 && db_next(db) > 0)
		;
	return rc <= 0 ? rc : lately ? 1 : 2;
}

int sessions_revoke(struct db *db, int64_t sid, int64_t uid, int recent_s)
{
	if (db_exec(db, SQL_SESSION_REVOKE, "ii", sid, uid) < 0)
		return -1;
	if (db_affected(db) > 0)
		return 1;
	/* Ended already (by an earlier try whose answer was lost, say): the
	 * same outcome. */
	return ended_when(db, sid, uid, recent_s);
}

int sessions_revoke_by_refresh(struct db *db, const unsigned char refresh_hash[32],
	int recent_s, int64_t *sid, int64_t *uid)
{
	*sid = *uid = 0;
	if (db_exec(db, SQL_REFRESH_SESSION, "b", refresh_hash, (size_t)32) < 0)
		return -1;
	int n = 0, rc;
	while ((rc = db_next(db)) > 0) {
		if (n++ == 0) {
			*sid = db_int(db, 0);
			*uid = db_int(db, 1);
		}
	}
	if (rc < 0)
		return -1;
	if (n == 0)
		return 0;
	if (db_exec(db, SQL_SESSION_REVOKE_ANY, "i", *sid) < 0)
		return -1;
	if (db_affected(db) > 0)
		return 1;
	return ended_when(db, *sid, *uid, recent_s);
}

int sessions_list(struct db *db, struct arena *a, int64_t uid, int max, struct session *out)
{
	if (db_exec(db, SQL_SESSION_LIST, "ii", uid, (int64_t)max) < 0)
		return -1;
	int n = 0, rc;
	while ((rc = db_next(db)) > 0) {
		if (n >= max)
			continue;
		struct session *s = &out[n++];
		s->id = db_int(db, 0);
		s->user_id = db_int(db, 1);
		s->device_name = db_str(db, 2, a, NULL);
		s->user_agent = db_str(db, 3, a, NULL);
		s->ip = db_str(db, 4, a, NULL);
		s->created_at = db_str(db, 5, a, NULL);
		s->last_used_at = db_str(db, 6, a, NULL);
		s->expires_at = db_str(db, 7, a, NULL);
	}
	return rc < 0 ? -1 : n;
}

int64_t ratelimit_hit(struct db *db, const char *bucket, int window_s, int *retry_after)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = ts.tv_sec;
	int64_t start = now - now % window_s;
	char key[128];
	snprintf(key, sizeof(key), "%.100s:%lld", bucket, (long long)start);
	if (db_exec(db, SQL_RATE_HIT, "si", key, start) < 0)
		return -1;
	int64_t hits = db_insert_id(db);
	/* The previous window's hits count for the part of it that still lies
	 * within the last window_s seconds: counted in fixed windows alone,
	 * twice the limit got through across a window's end. */
	snprintf(key, sizeof(key), "%.100s:%lld", bucket, (long long)(start - window_s));
	if (db_exec(db, SQL_RATE_PREV, "s", key) < 0)
		return -1;
	int rc = db_next(db);
	int64_t prev = rc > 0 ? db_int(db, 0) : 0;
	while (rc > 0 && db_next(db) > 0)
		;
	if (rc < 0)
		return -1;
	int64_t left = start + window_s - now;	/* 1 .. window_s */
	hits += prev * left / window_s;
	if (retry_after)
		*retry_after = (int)left;
	return hits;
}
