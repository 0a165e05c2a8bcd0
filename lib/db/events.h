/*
 * The per-user event log (user_events, user_heads). Appends run inside the
 * caller's transaction; each recipient's sequence number comes from their
 * user_heads row, locked for the transaction, so a user's events commit in
 * sequence order and a reader never sees seq N+1 before seq N.
 *
 * A fan-out stores one small row per recipient (message events reference the
 * message by ref_id): one UPDATE numbers the recipients' heads, one
 * INSERT .. SELECT .. RETURNING writes the rows and names the recipients.
 * Conversation fan-outs run under the conversation's row lock, which every
 * membership change takes first, so both statements see the same members;
 * contact fan-outs fix their set first in the connection's temporary
 * "fanout" table.
 */
#ifndef DB_EVENTS_H
#define DB_EVENTS_H

#include <stdint.h>

#include "db/db.h"
#include "db/msgs.h"

enum fanout_who {
	FANOUT_CONV,		/* members of conversation `id` */
	FANOUT_USER,		/* the single user `id` */
	FANOUT_CONTACTS,	/* `id` and everyone sharing a conversation with them */
	/* everyone sharing a conversation of at most `exclude` members with
	 * `id` (`id` itself left out) */
	FANOUT_NEAR,
};

/* Appends one event for every recipient (excluding `exclude` when > 0).
 * payload may be NULL (message events). Inside a transaction.
 * Recipient ids are appended to *uids (arena array grown as needed; *n, *cap
 * track it) for waking after the commit. Returns the recipient count or -1. */
int events_append(struct db *db, struct arena *a, enum fanout_who who, int64_t id,
	int64_t exclude, const char *type, int64_t conversation_id, int64_t ref_id,
	const char *payload, int64_t **uids, int *n, int *cap);

/* Reading (events.fcgi). */

/* One event of a user's log. A message event (ref_id set, no payload)
 * comes with the message as it is now, reactions included (msg NULL when
 * the message is gone for good). */
struct event_row {
	int64_t seq;
	const char *type;
	int64_t conversation_id;	/* 0 when none */
	int64_t ref_id;			/* 0 when none */
	const char *payload;		/* JSON text or NULL */
	const char *created_at;
	const struct msg *msg;
};

/* Head of a user's log: 1 found, 0 unknown user, -1 error. */
int events_head(struct db *db, int64_t uid, int64_t *last_seq, int64_t *min_seq);
/* Up to max events after `after`, oldest first. Returns the count or -1. */
int events_read(struct db *db, struct arena *a, int64_t uid, int64_t after, int max,
	struct event_row *out);
/* Deletes the typing and presence events older than ephemeral_s seconds
 * that came since its last pass (min_seq does not move for them), batch
 * rows per statement, until done or deadline_ms (clock_ms). Returns rows
 * deleted or -1. */
int64_t events_prune_ephemeral(struct db *db, int ephemeral_s, int batch, int64_t deadline_ms);
/* Prunes the users of the oldest batch (at most 5,000) events older than
 * `days`: each one's min_seq rises first, then their events up to it go.
 * Stops at deadline_ms. *more: a full batch was done (call again).
 * Returns rows deleted or -1. */
int64_t events_prune_old(struct db *db, int days, int batch, int64_t deadline_ms, int *more);

#endif
