/*
 * Messages, reactions and message search. Plain structs out; strings live in
 * the arena. Writes run inside the caller's transaction, after it locked the
 * conversation row (see db/convs.h).
 */
#ifndef DB_MSGS_H
#define DB_MSGS_H

#include <stdint.h>

#include "db/db.h"

/* A message's columns (table alias x), in the order msgs_read_row reads them. */
#define MSG_TS(col) "DATE_FORMAT(" col ", '%Y-%m-%d %H:%i:%s.%f')"
#define MSG_COLS "x.id, x.conversation_id, x.seq, x.sender_id, x.client_id, x.kind, x.body, " \
	"COALESCE(x.reply_to, 0), " MSG_TS("x.created_at") ", " MSG_TS("x.edited_at") ", " \
	MSG_TS("x.deleted_at")
#define MSG_NCOLS 11
/* One column: the reactions of message x as msgs_parse_reactions reads them. */
#define MSG_REACTIONS "(SELECT GROUP_CONCAT(r.user_id, ':', HEX(r.emoji) ORDER BY r.emoji, " \
	"r.created_at, r.user_id SEPARATOR ',') FROM reactions r WHERE r.message_id = x.id)"

struct msg_reaction {
	const char *emoji;
	int64_t user_id;
};

struct msg {
	int64_t id;
	int64_t conversation_id;
	int64_t seq;
	int64_t sender_id;
	const char *client_id;
	const char *kind;
	const char *body;		/* NULL once deleted */
	int64_t reply_to;		/* 0 when none */
	const char *created_at;		/* MySQL DATETIME(3) text, UTC */
	const char *edited_at;		/* NULL when never edited */
	const char *deleted_at;		/* NULL unless deleted */
	/* Reactions ordered by emoji, then by when they were given. */
	struct msg_reaction *reactions;
	int nreactions;
};

/* Reads MSG_COLS of the current row, starting at column col, into m (no
 * reactions yet). */
void msgs_read_row(struct db *db, struct arena *a, int col, struct msg *m);
/* Adds the reactions listed in text ("user_id:HEX(emoji)" items joined by
 * commas, as MySQL's GROUP_CONCAT gives them) to m; malformed items are
 * skipped. */
void msgs_parse_reactions(struct arena *a, struct msg *m, const char *text);

/* The outcome of msgs_send. */
enum send_outcome {
	SEND_OK,
	SEND_NOT_FOUND,		/* no such conversation, or not a member */
	SEND_BAD_REPLY,		/* reply_to is not a message of the conversation */
	SEND_DUPLICATE,		/* this sender already used client_id */
	SEND_CLOSED,		/* a member, but the peer's account is deleted */
};

/* Sends m (conversation_id, sender_id, client_id, kind, body, reply_to set
 * by the caller) in one transaction, as one CALL of the msg_send procedure
 * (sql/0007, 0017): numbers it, stores it, marks it read for the sender and
 * appends message.new for every member. On SEND_OK, m is completed as
 * stored (id, seq, created_at) and *members (arena) lists whom to wake.
 * Deadlocks are retried. Returns the outcome, or -1 on an error. */
int msgs_send(struct db *db, struct arena *a, struct msg *m, int64_t **members, int *n);
/* One message of a batch (msgs_send_batch): m as for msgs_send; a is the
 * arena its results go to. */
struct send_slot {
	struct msg *m;
	struct arena *a;
	int64_t *members;	/* whom to wake (on success) */
	int nmembers;
	int misfit;		/* named by a failed batch as one that fails */
};

/* Most messages a batch takes. */
#define SEND_BATCH_MAX 32

/* Sends n messages (2..SEND_BATCH_MAX, none with reply_to, no (sender,
 * client_id) twice) in one transaction, as one CALL of msg_send_batch
 * (sql/0009). Returns 0 when every one was stored (each slot completed as
 * msgs_send does); 1 when none was, because one of them would fail (not a
 * member, no such conversation, client_id taken): those are marked misfit
 * (sql/0010; a hint read without locks, none marked when it cannot tell):
 * send them with msgs_send for their own outcome, and the others again;
 * -1 on an error: nothing stored, or (a connection lost at the commit, an
 * answer that does not fit the batch) all stored and not known: msgs_send
 * of each then tells (a duplicate: stored). */
int msgs_send_batch(struct db *db, struct send_slot *s, int n);
/* The message a sender sent with client_id (reactions loaded). 1/0/-1. */
int msgs_by_client(struct db *db, struct arena *a, int64_t sender, const char *client_id,
	struct msg *m);
/* Message mid of conversation cid (reactions loaded). 1 found, 0 unknown
 * or in another conversation, -1 error. */
int msgs_get(struct db *db, struct arena *a, int64_t cid, int64_t mid, struct msg *m);
/* Writes a line of group activity ("Ann added Bob") into conversation cid as
 * a message of kind system from actor, inside the caller's transaction
 * (which holds the conversation's row): the next seq, the actor's read mark.
 * *mid: the new message. 0, or -1 error. */
int msgs_system(struct db *db, int64_t cid, int64_t actor, const char *body, int64_t *mid);
/* Locks message mid of conversation cid for the transaction and reads it
 * (without reactions). 1/0/-1. */
int msgs_lock(struct db *db, struct arena *a, int64_t cid, int64_t mid, struct msg *m);

/* A page of history in ascending seq order, reactions loaded. before > 0:
 * the newest messages with seq < before; else after >= 0 ... the oldest with
 * seq > after; both 0 (before 0, after < 0): the newest messages. Fills up to
 * max; returns the count or -1. */
int msgs_history(struct db *db, struct arena *a, int64_t cid, int64_t before, int64_t after,
	int max, struct msg *out);

/* 1 changed, 0 unknown or deleted, -1 error. */
int msgs_edit(struct db *db, int64_t mid, const char *body);
/* Tombstones a message (body NULL, deleted_at set) and drops its reactions.
 * 1 deleted, 0 unknown or already deleted, -1 error. */
int msgs_delete(struct db *db, int64_t mid);

/* 1 added, 0 already there, -1 error. */
int msgs_react(struct db *db, int64_t mid, int64_t uid, const char *emoji);
/* 1 removed, 0 was not there, -1 error. */
int msgs_unreact(struct db *db, int64_t mid, int64_t uid, const char *emoji);
/* What reactions message mid has, seen from user uid and one emoji. */
struct reaction_counts {
	int64_t emoji;		/* distinct emoji on the message */
	int64_t mine;		/* reactions uid gave it */
	int64_t this_emoji;	/* reactions with this emoji, anyone's */
	int64_t given;		/* 1 when uid gave this emoji */
};
/* 0 or -1. */
int msgs_reaction_counts(struct db *db, int64_t mid, int64_t uid, const char *emoji,
	struct reaction_counts *out);

/* Full-text search (MySQL boolean mode; `query` must already be a safe
 * boolean-mode expression) over live messages of conversations uid is a
 * member of, optionally only conversation cid (0: all), newest first, with
 * id < before_id (0: from the newest). Fills up to max; returns count or -1. */
int msgs_search(struct db *db, struct arena *a, int64_t uid, const char *query, int64_t cid,
	int64_t before_id, int max, struct msg *out);

/* The full-text index's minimum word length in characters (the server's
 * innodb_ft_min_token_size, read once per process; 3 when unknown). */
int msgs_ft_min_word(struct db *db);

#endif
