/*
 * Presence storage: users.last_seen_at and the presence_online marks (see
 * sql/0002_presence.sql). A mark means "online" was announced to the user's
 * contacts and "offline" is still owed.
 */
#ifndef DB_ONLINE_H
#define DB_ONLINE_H

#include <stdint.h>

#include "db/db.h"

/* Records that uid is connected: sets last_seen_at to now unless it was set
 * less than throttle_s seconds ago and the user is marked online (throttle_s
 * 0: always), and then marks the user online. Inside a transaction. Returns 1 when the mark is new (came
 * online: announce it), 0 otherwise, -1 on error. *last_seen (arena, MySQL
 * text) is set when 1 is returned. */
int online_touch(struct db *db, struct arena *a, int64_t uid, int throttle_s,
	const char **last_seen);
/* Keeps uid's last_seen_at fresh while uid is marked online: 1 done, 0 no
 * mark (announce the transition instead), -1 error. */
int online_seen(struct db *db, int64_t uid);
/* online_seen for many users at once (ids_json: a JSON array of ids), in
 * one autocommit UPDATE; then the ids among them with no mark (at most
 * max) go into unmarked. Returns how many those are, or -1. */
int online_seen_many(struct db *db, const char *ids_json, int max, int64_t *unmarked);
/* Up to max marked users whose last_seen_at is older than stale_s seconds.
 * Returns the count or -1. */
int online_stale(struct db *db, int64_t stale_s, int max, int64_t *out);
/* Removes uid's mark if last_seen_at is still older than stale_s (the user
 * may have come back meanwhile). Inside a transaction. Returns 1 removed
 * (announce offline; *last_seen set, may be NULL), 0 not, -1 error. */
int online_clear(struct db *db, struct arena *a, int64_t uid, int64_t stale_s,
	const char **last_seen);
/* State from MySQL alone: *marked (1 when marked and seen within stale_s)
 * and *last_seen (arena, may be NULL). 1 found, 0 no such user, -1 error. */
int online_get(struct db *db, struct arena *a, int64_t uid, int64_t stale_s, int *marked,
	const char **last_seen);
/* 1 when a and b share a conversation and neither blocks the other (who
 * may see whose presence), 0 when not, -1 on error. */
int online_shares_conversation(struct db *db, int64_t a, int64_t b);

#endif
