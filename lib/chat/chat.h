/*
 * Conversations and messages: domain rules and the REST handlers for them
 * (see the contract in www/openapi.yaml). No SQL here (lib/db/convs.h and
 * lib/db/msgs.h hold it) and no FastCGI calls (lib/http does those).
 *
 * Every change runs in one transaction that first locks the conversation
 * row, makes the change and appends its events to the members' logs; the
 * doorbells are rung and cached copies dropped after the commit, before the
 * answer goes out.
 */
#ifndef CHAT_CHAT_H
#define CHAT_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "db/convs.h"
#include "db/msgs.h"
#include "events/emit.h"
#include "http/http.h"
#include "util/utf8.h"

/* Limits (documented in www/openapi.yaml). */
#define CHAT_BODY_MAX_CHARS 4000
#define CHAT_TITLE_MAX_CHARS 128
#define CHAT_GROUP_MAX_MEMBERS 1000
#define CHAT_ADD_MAX 100		/* user ids per POST .../members */
#define CHAT_CLIENT_ID_MAX 64
#define CHAT_EMOJI_MAX_BYTES 32
/* Reactions a member may give one message, and different emoji one message
 * may carry (every reaction is an event to every member, and all of them
 * travel with the message). */
#define CHAT_REACTIONS_PER_MEMBER 20
#define CHAT_REACTION_EMOJI_MAX 50
/* Receipts of conversations larger than this (config receipt_fanout_max)
 * go only to the member's own devices. A receipt to everyone writes one
 * event per member, and every member's receipt follows every message, so a
 * group of N members costs about N * N event rows per message: measured
 * here, one receipt in a 100-member group takes about 20 ms, so about 2 s of
 * database work per message; at 32 members it is about 0.2 s. */
#define CHAT_RECEIPT_FANOUT_MAX 32
#define CHAT_TYPING_WINDOW_S 3
#define CHAT_TYPING_EXPIRES_S 5
/* Conversations one member may pin to the top of their list. */
#define CHAT_PINNED_MAX 5
/* 403 conversation_closed: a direct conversation where one person blocks
 * the other, or one of them deleted their account (lib/chat/block.c). The
 * blocked person is not told which. */
#define CHAT_CLOSED_DETAIL "This conversation is closed: nothing more can be sent here."

/* --- sending (lib/chat/sendq.c) --- */

/* Called with a send's outcome: SEND_* (on SEND_OK m is completed, its
 * conversation's members were woken and its cached views dropped) or -1
 * on an error. */
typedef void (*sendq_done_fn)(struct req *req, struct msg *m, int rc);

/* Stores m (an arena allocation of req's) as msgs_send would, together with
 * the other sends this process has waiting (group commit; see sendq.c),
 * and has done(req, m, rc) answer: on this thread when nothing else was
 * being written (or the process cannot hold requests), else on a resume
 * thread after the batch's commit, the request waiting without a thread.
 * The handler returns after this call. An unreachable database (503
 * database_unavailable) and a full queue (503 overloaded) are answered
 * without done. */
void sendq_send(struct req *req, struct msg *m, sendq_done_fn done);

/* Counts since the process started, and the sends waiting now (GET
 * /health shows them). */
struct sendq_stats {
	int64_t alone;		/* messages written by one CALL msg_send each */
	int64_t batches;	/* transactions of msg_send_batch that stored */
	int64_t batched;	/* messages those stored */
	int64_t fallbacks;	/* batches not stored, their messages sent alone */
	int64_t waiting;	/* sends queued now for a writer */
	int64_t refused;	/* sends answered 503 because too many were waiting */
};
void sendq_stats(struct sendq_stats *st);

/* --- rendering (also used by events.fcgi to render message events) --- */

/* A message as JSON (the contract's Message). Caller owns the result. */
json_object *chat_message_json(struct arena *a, const struct msg *m);
/* A conversation as c's viewer sees it, with last_message and peer loaded
 * from db, and members when with_members. Caller owns the result; NULL on a
 * database error. */
json_object *chat_conv_json(struct db *db, struct arena *a, const struct conv *c,
	int with_members);
/* The same, with the last message already rendered: last (borrowed; NULL
 * to load it) stands for the message at c->last_seq (c->last_message_id). */
json_object *chat_conv_json_last(struct db *db, struct arena *a, const struct conv *c,
	int with_members, json_object *last);
/* A member (the contract's Member). Caller owns the result; NULL on error. */
json_object *chat_member_json(struct arena *a, const struct member *m);

/* --- delivery receipts (events.fcgi; lib/chat/receipts.c) --- */

/* Records that readers' devices were handed conversations' messages up to
 * their seqs (r sorted by conversation and reader; see receipts_collapse):
 * advances members.delivered_seq (never backwards)
 * and, where it moved, emits "receipt" to the conversation's other members
 * (to nobody in conversations of more than receipt_fanout_max members)
 * and rings their doorbells. One transaction of its own: call it outside
 * one. Returns 1 some mark advanced, 0 none, -1 error. */
int chat_mark_delivered(struct db *db, struct arena *a, const struct receipt *r, int n);

/* Queues uid's receipt for cid up to seq; a thread of the process writes
 * the waiting receipts together (chat_mark_delivered) shortly after.
 * Before receipts_start (plain CGI) the receipt is written at once. */
void receipts_add(int64_t uid, int64_t cid, int64_t seq);
/* Starts that thread (once). Returns 0 or -1. */
int receipts_start(void);
/* Sorts r by conversation and reader and keeps each pair once, with its
 * highest seq and the fewest tries of those merged. Returns the new count. */
int receipts_collapse(struct receipt *r, int n);
/* After a failed write of r: counts the try against each, keeps (at the
 * front, in order) those with tries left (three writes each) and returns
 * how many. */
int receipts_retry(struct receipt *r, int n);

/* Inside a transaction that locked cid: emits "receipt" with uid's current
 * marks (same fan-out rule as above). Returns 0 or -1. */
int chat_emit_receipt(struct db *db, struct emit *e, int64_t cid, int64_t uid);

/* --- input checks shared by the handlers (each answers 400 itself) --- */

/* A retry found what its first try made (a message mid, or a group with
 * mid 0), which may have committed with its answer lost, waking nobody:
 * rings cid's members and drops its cached views again. Both idempotent;
 * once per (cid, mid) in 10 s, so replaying old ids wakes nobody again
 * and again. */
void chat_retry_wake(struct db *db, struct arena *a, int64_t cid, int64_t mid);

/* 1 when s is 1-64 characters of [A-Za-z0-9_-]. */
int chat_client_id_ok(const char *s);
/* The same check as a handler's: answers 400 and returns -1 when not. */
int chat_check_client_id(struct req *req, const char *s);
/* 1 when s looks like one emoji (see chat.c). */
int chat_emoji_ok(const char *s);
/* Converts "YYYY-MM-DDTHH:MM:SS[.fff]Z" to MySQL's "YYYY-MM-DD HH:MM:SS.fff"
 * in out (at least 24 bytes). Returns 0, or -1 when malformed. */
int chat_parse_time(const char *s, char *out, size_t n);
/* Conversation list cursor: "<ms>.<id>". */
int chat_cursor_parse(const char *s, int64_t *ms, int64_t *id);
/* The direct conversation's key of two users, "low:high" (conversations.
 * direct_key): one per pair. */
#define CHAT_DIRECT_KEY_MAX 48
void chat_direct_key(char *out, size_t size, int64_t a, int64_t b);
/* Rewrites user text into a safe MySQL boolean-mode query: each word (a run
 * of letters, digits and '_') of at least min_chars characters becomes a
 * required term (+"word"), at most 16 of them; operators and punctuation are
 * dropped. Returns the query in the arena, or NULL when no word remains. */
char *chat_search_query(struct arena *a, const char *q, int min_chars);

/* --- change transactions shared by the handlers --- */

/* A client error found inside a transaction (which then returns 1). For 400
 * the code slot names the offending field (the problem's code is then
 * invalid_field). */
struct chat_outcome {
	int status;
	const char *code, *detail;
};

/* Records a client error in o. Returns 1, what a transaction returns then. */
int chat_stop(struct chat_outcome *o, int status, const char *code, const char *detail);
/* For a lookup's result rc (1 found, 0 not found, -1 error): 1 when found;
 * otherwise answers 500, or 404 not_found with detail, and returns 0. */
int chat_found(struct req *req, int rc, const char *detail);
/* Answers with the client error recorded in o. */
void chat_answer(struct req *req, const struct chat_outcome *o);

/* What chat_lock() found: role and trole are ROLE_* values. */
struct chat_roles {
	int group;	/* 1 for a group, 0 for a direct conversation */
	int role;	/* me's role */
	int trole;	/* target's role; ROLE_NONE without a target */
	int closed;	/* a closed direct conversation (a block, an account gone) */
};

/* Inside a transaction: locks conversation cid and reads the roles of me
 * and, when target > 0, of target. Records 404 in out when the
 * conversation is gone or me is not a member ("No such conversation.") and
 * when target is not a member ("That user is not a member."). Returns 0
 * with *r set, 1 with out set, or -1 on error. */
int chat_lock(struct db *db, int64_t cid, int64_t me, int64_t target, struct chat_roles *r,
	struct chat_outcome *out);

/* Runs fn(db, ctx) in a transaction (db_tx). Answers 500 on error, or the
 * client error fn recorded in out (part of ctx) when it returned 1, and
 * returns -1; returns 0 when fn committed and nothing was answered. */
int chat_tx(struct req *req, struct db *db, int (*fn)(struct db *db, void *ctx), void *ctx,
	const struct chat_outcome *out);

/* --- caching (see chat.c) --- */

/* How long a cached view may live at most, in seconds. */
#define CHAT_CACHE_TTL 60
/* How long a generation lives (it is started for any id a member's page is
 * asked for, existing or not, before MySQL tells): one that runs out is
 * as if dropped, and the next reader starts a new one. */
#define CHAT_GEN_TTL 86400
/* The conversation's cache generation for keys of cached views. 1 with *gen
 * set, or 0 when memcached is unavailable (read MySQL, cache nothing). */
int chat_cache_gen(struct arena *a, int64_t cid, int64_t *gen);
/* 1 while this process may not trust cached views: a drop of them failed
 * lately (memcached away), so a view it could not drop may still be there. */
int chat_cache_distrusted(void);
/* Makes every cached view of conversation cid stale. Call after the commit
 * of a change to its messages, reactions or members, before its members
 * are rung (a member woken by the ring who reloads must not get the old
 * view) and before answering. */
void chat_invalidate(int64_t cid);
/* The same for n conversations (one memcached connection for all). */
void chat_invalidate_many(const int64_t *cids, int n);
/* Takes uid out of every group it is in, as leaving does (a new owner
 * where it owned one; member.removed to the members), one transaction per
 * group: for an account being deleted. 0, or -1. */
int chat_leave_groups(struct db *db, struct arena *a, int64_t uid);

/* Inside the transaction that changed conversation cid: conversation.updated
 * to every member, each with their own view (roles, read marks, unread
 * counts and blocks differ). 0, or -1. */
int chat_emit_updated_all(struct db *db, struct emit *e, struct arena *a, int64_t cid);
/* The same, to one member's devices (a personal change: mute, pin, a mark
 * unread). 0, or -1. */
int chat_emit_view(struct db *db, struct emit *e, struct arena *a, int64_t cid, int64_t viewer);
/* 403 blocked, adding someone to a group. */
#define BLOCKED_ADD_DETAIL "Someone you are adding blocks you: you cannot add them to a group."

/* --- handlers (routes in cgi-bin/api.c) --- */
void conv_create(struct req *req);		/* POST /conversations */
void conv_list(struct req *req);		/* GET /conversations */
void conv_get(struct req *req);			/* GET /conversations/{id} */
void conv_patch(struct req *req);		/* PATCH /conversations/{id} */
void conv_members_add(struct req *req);		/* POST /conversations/{id}/members */
void conv_member_remove(struct req *req);	/* DELETE /conversations/{id}/members/{uid} */
void conv_member_patch(struct req *req);	/* PATCH /conversations/{id}/members/{uid} */
void msg_send(struct req *req);			/* POST /conversations/{id}/messages */
void msg_history(struct req *req);		/* GET /conversations/{id}/messages */
int msg_history_prefetch(struct req *req, const char **keys); /* its warm-cache keys */
void msg_get(struct req *req);			/* GET /conversations/{id}/messages/{mid} */
void msg_edit(struct req *req);			/* PATCH /conversations/{id}/messages/{mid} */
void msg_delete(struct req *req);		/* DELETE /conversations/{id}/messages/{mid} */
void msg_react(struct req *req);		/* PUT .../messages/{mid}/reactions/{emoji} */
void msg_unreact(struct req *req);		/* DELETE .../messages/{mid}/reactions/{emoji} */
void msg_read(struct req *req);			/* POST /conversations/{id}/read */
void msg_typing(struct req *req);		/* POST /conversations/{id}/typing */
void search_messages(struct req *req);		/* GET /search */
void block_list(struct req *req);		/* GET /me/blocks */
void block_add(struct req *req);		/* PUT /me/blocks/{uid} */
void block_remove(struct req *req);		/* DELETE /me/blocks/{uid} */

#endif
