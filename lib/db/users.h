/* Users and sessions storage. Plain structs out; strings live in the arena. */
#ifndef DB_USERS_H
#define DB_USERS_H

#include <stdint.h>

#include "db/db.h"

struct user {
	int64_t id;
	const char *username;
	const char *display_name;
	const char *about;
	int64_t avatar_media_id;	/* 0 when none */
	const char *created_at;		/* MySQL DATETIME(3) text, UTC */
	const char *last_seen_at;	/* may be NULL */
	int deleted;
};

/* A user's columns from table (or alias) t, in the order users_read_row
 * reads them. */
#define USER_COLS_OF(t) t ".id, " t ".username, " t ".display_name, " t ".about, " \
	"COALESCE(" t ".avatar_media_id, 0), " \
	"DATE_FORMAT(" t ".created_at, '%Y-%m-%d %H:%i:%s.%f'), " \
	"DATE_FORMAT(" t ".last_seen_at, '%Y-%m-%d %H:%i:%s.%f'), " t ".deleted_at IS NOT NULL"
#define USER_NCOLS 8

struct session {
	int64_t id;
	int64_t user_id;
	const char *device_name;
	const char *user_agent;
	const char *ip;
	const char *created_at;
	const char *last_used_at;
	const char *expires_at;
};

/* Creates a user and the head of their event log in one transaction.
 * Returns 1 created (*id set), 0 username taken, -1 error. */
int users_create(struct db *db, const char *username, const char *display_name,
	const char *password_hash, int64_t *id);
/* 1 found, 0 not found (or deleted), -1 error. hash may be NULL. */
int users_by_username(struct db *db, struct arena *a, const char *username, struct user *u,
	const char **hash);
int users_get(struct db *db, struct arena *a, int64_t id, struct user *u);
/* users_get with the row locked to the end of the caller's transaction. */
int users_lock(struct db *db, struct arena *a, int64_t id, struct user *u);
/* Reads USER_COLS_OF of the current row, starting at column col, into u. */
void users_read_row(struct db *db, struct arena *a, int col, struct user *u);
/* PATCH /me's writes in one transaction: the profile (NULL fields left
 * unchanged) and, with hash, the new password in place of proven (the hash
 * the caller's current password was checked against) and the end of every
 * other session than keep_sid (never a new password with the old devices
 * still signed in). 0; 1 when proven is no longer the password (changed
 * meanwhile: nothing written); -1. */
int users_update_account(struct db *db, int64_t id, const char *display_name,
	const char *about, const char *hash, const char *proven, int64_t keep_sid);
/* Anonymises the account (renamed DELETED_PREFIX<id>, a name registration
 * refuses) and revokes its sessions. 1 done, 0 unknown. */
#define DELETED_PREFIX "deleted-"
int users_delete(struct db *db, int64_t id);
/* Users whose username or display name starts with q, ordered by id, after
 * after_id. Fills up to max entries; returns the count or -1. */
int users_search(struct db *db, struct arena *a, const char *q, int64_t after_id, int max,
	struct user *out);
/* Throttled last-seen update. */
int users_touch_seen(struct db *db, int64_t id);

/* Makes a refresh token for session sid (kept by the caller through arg)
 * and gives its SHA-256, which the database keeps. Called inside the
 * transaction, again if it is run again. */
typedef void (*refresh_mint_fn)(void *arg, int64_t sid, unsigned char hash[32]);
/* Sessions. mint makes the new session's refresh token. proven (or NULL):
 * the password hash a login checked the password against; the session is
 * created only while it is still the account's (a password changed or the
 * account deleted meanwhile: 1, nothing created). 0, 1 or -1. */
int sessions_create(struct db *db, int64_t user_id, const char *device, const char *ua,
	const char *ip, int ttl_days, refresh_mint_fn mint, void *mint_arg, const char *proven,
	int64_t *sid);
/* 1 when the session exists, belongs to uid, is not revoked nor expired
 * (*left_s, when not NULL: seconds until it expires), 0 when not, -1 error. */
int sessions_valid(struct db *db, int64_t sid, int64_t uid, int64_t *left_s);
/* The ids of uid's sessions revoked in the last within_s seconds, above
 * after_id in order (at most max, into out). Returns the count or -1. */
int sessions_ended(struct db *db, int64_t uid, int within_s, int64_t after_id, int max,
	int64_t *out);
/* Rotates a refresh token (old_hash its SHA-256; mint makes its successor):
 * 1 rotated (*sid set, *u the account read in the same transaction), 0
 * unknown or expired, 2 an already-rotated token was replayed (the session
 * is now revoked; *sid and u->id set), 3 its session was ended (signed out,
 * a new password, the account deleted), -1. A token rotated at most
 * grace_s seconds ago is not a replay: a new token joins the session
 * beside its successor (1). claimed_sid (or 0): the session a token this
 * server issued names; one no longer in the table (rotated long ago) is a
 * replay while that session lives. */
int sessions_rotate(struct db *db, struct arena *a, const unsigned char old_hash[32],
	int64_t claimed_sid, refresh_mint_fn mint, void *mint_arg, int ttl_days, int grace_s,
	int64_t *sid, struct user *u);
/* Ends session sid of uid: 1 ended now, or before within the last
 * recent_s seconds (its ending may not have reached every cache yet), 2
 * ended longer ago, 0 no such session of that user, -1. */
int sessions_revoke(struct db *db, int64_t sid, int64_t uid, int recent_s);
/* The same for the session a refresh token (current or rotated away)
 * belongs to (*sid and its user *uid set); 0 no such token. */
int sessions_revoke_by_refresh(struct db *db, const unsigned char refresh_hash[32],
	int recent_s, int64_t *sid, int64_t *uid);
int sessions_list(struct db *db, struct arena *a, int64_t uid, int max, struct session *out);

/* Counts a hit in bucket's window of window_s seconds; returns the hits of
 * the last window_s seconds (this one included), estimated as this fixed
 * window's plus the previous one's in proportion to the part of it still
 * inside, or -1. *retry_after: seconds to this window's end. */
int64_t ratelimit_hit(struct db *db, const char *bucket, int window_s, int *retry_after);

#endif
