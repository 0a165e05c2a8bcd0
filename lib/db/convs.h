/*
 * Conversations and their members. Plain structs out; strings live in the
 * arena. Functions that change membership or a conversation are meant to run
 * inside a transaction that first locked the conversation row
 * (convs_lock(), or the msg_send procedure), so membership and event
 * fan-out never race.
 */
#ifndef DB_CONVS_H
#define DB_CONVS_H

#include <stdint.h>

#include "db/db.h"
#include "db/msgs.h"
#include "db/users.h"

enum conv_role {
	ROLE_NONE = 0,		/* not a member */
	ROLE_OWNER = 1,
	ROLE_ADMIN = 2,
	ROLE_MEMBER = 3,
};

/* A conversation as one member (the viewer) sees it. */
struct conv {
	int64_t id;
	int group;			/* 1 group, 0 direct */
	const char *title;		/* NULL for direct conversations */
	const char *created_at;		/* MySQL DATETIME(3) text, UTC */
	const char *updated_at;
	const char *last_activity_at;
	int64_t activity_ms;		/* last_activity_at in ms since the epoch */
	int64_t last_seq;
	int64_t last_message_id;	/* the message at last_seq; 0 when none */
	int64_t member_count;
	enum conv_role role;		/* the viewer's */
	int64_t last_read_seq;		/* the viewer's */
	int64_t delivered_seq;		/* the viewer's */
	int64_t unread_count;		/* others' live messages after last_read_seq */
	const char *muted_until;	/* NULL when not muted (or expired) */
	int64_t peer_id;		/* direct: the other member; 0 otherwise */
	int64_t viewer_id;		/* whose view this is */
	int closed;			/* direct, and nobody can send (a block, an
					 * account deleted) */
	int blocked;			/* direct, and the viewer blocks the peer */
	int pinned;			/* the viewer pinned it to the top of their list */
	int marked_unread;		/* the viewer marked it unread (until read) */
	int64_t archived_seq;		/* in the viewer's archive since this seq; -1
					 * when not (never, or a message came since) */
	/* convs_list reads the last message and the peer with the row:
	 * joined is 1, and each is NULL when there is none. */
	int joined;
	struct msg *last_message;
	struct user *peer;
};

struct member {
	int64_t user_id;
	struct user user;		/* the member's profile */
	enum conv_role role;
	const char *joined_at;
	int64_t last_read_seq;
	int64_t delivered_seq;
};

/* "owner" / "admin" / "member" (NULL for ROLE_NONE), and back (ROLE_NONE
 * when unknown). */
const char *convs_role_name(enum conv_role r);
enum conv_role convs_role_parse(const char *s);

/* The conversation as seen by member uid. 1 found, 0 no such conversation
 * or uid is not a member, -1 error. */
int convs_get(struct db *db, struct arena *a, int64_t cid, int64_t uid, struct conv *c);

/* The conversation as each of its members sees it, by user id. Fills up to
 * max; returns the count or -1. */
int convs_views(struct db *db, struct arena *a, int64_t cid, int max, struct conv *out);

/* uid's conversations in their archive (archived 1) or not, the pinned ones
 * first, each part by last activity, newest first, strictly after the
 * cursor (before_pinned: the cursor's row was pinned; before_ms,
 * before_id); before_id 0 starts at the top. Fills up to max entries;
 * returns the count or -1. */
int convs_list(struct db *db, struct arena *a, int64_t uid, int archived, int before_pinned,
	int64_t before_ms, int64_t before_id, int max, struct conv *out);

/* Members ordered by joined_at then user id. Fills up to max; returns the
 * count or -1. */
int convs_members(struct db *db, struct arena *a, int64_t cid, int max, struct member *out);

/* One member with profile. 1 found, 0 not a member, -1 error. */
int convs_member(struct db *db, struct arena *a, int64_t cid, int64_t uid, struct member *m);

/* uid's role in cid: ROLE_* (ROLE_NONE when not a member), or -1. */
int convs_role(struct db *db, int64_t cid, int64_t uid);

/* Locks the conversation row for the transaction. 1 found (*group and
 * *closed set when not NULL), 0 unknown, -1 error. */
int convs_lock(struct db *db, int64_t cid, int *group, int *closed);

/* Creates a conversation. direct_key ("low:high") is NULL for groups;
 * client_id (a group's, may be NULL) is unique per creator. Returns 1
 * created (*cid set), 0 the direct_key or (creator, client_id) exists
 * already, -1 error. */
int convs_create(struct db *db, int group, const char *title, const char *direct_key,
	int64_t created_by, const char *client_id, int64_t *cid);
/* The direct conversation with this key: 1 (*cid set), 0 none, -1 error. */
int convs_find_direct(struct db *db, const char *direct_key, int64_t *cid);
/* The group created_by made with client_id: 1 (*cid, *title set, and
 * *changed when it was renamed since), 0 none, -1 error. */
int convs_find_created(struct db *db, struct arena *a, int64_t created_by,
	const char *client_id, int64_t *cid, char **title, int *changed);

/* Adds one member. 1 added, 0 already a member, -1 error. */
int convs_add_member(struct db *db, int64_t cid, int64_t uid, enum conv_role role);
/* How many of the ids in a JSON array text ("[1,2]") are live users.
 * Returns the count or -1. */
int convs_count_users(struct db *db, const char *ids_json);
/* Of the users in ids_json, those that exist and are not yet members of cid
 * (ascending). Fills up to max; returns the count or -1. */
int convs_new_members(struct db *db, int64_t cid, const char *ids_json, int max, int64_t *out);
/* Adds every live user of ids_json that is not a member yet, as a member.
 * Returns the number added or -1. */
int convs_add_members(struct db *db, int64_t cid, const char *ids_json);
/* 1 changed, 0 not a member (or unchanged), -1 error. */
int convs_set_role(struct db *db, int64_t cid, int64_t uid, enum conv_role role);
/* 1 removed, 0 not a member, -1 error. */
int convs_remove_member(struct db *db, int64_t cid, int64_t uid);
/* The member who inherits ownership: the oldest admin, else the oldest
 * member, among accounts not deleted. 1 (*uid set), 0 nobody left, -1
 * error. */
int convs_successor(struct db *db, int64_t cid, int64_t *uid);
/* The groups uid is a member of, above after in id order (at most max,
 * into out). Returns the count or -1. */
int convs_user_groups(struct db *db, int64_t uid, int64_t after, int max, int64_t *out);
/* The members' user ids in id order, at most max. Count or -1. */
int convs_member_ids(struct db *db, int64_t cid, int max, int64_t *out);
int64_t convs_member_count(struct db *db, int64_t cid);

/* Renames a group. 1 renamed, 0 it had that name already (or unknown), -1
 * error. */
int convs_set_title(struct db *db, int64_t cid, const char *title);
/* Personal mute; muted_until NULL unmutes (a "YYYY-MM-DD HH:MM:SS.fff" UTC
 * text otherwise). 1 changed or same, 0 not a member, -1 error. */
int convs_set_muted(struct db *db, int64_t cid, int64_t uid, const char *muted_until);

/* Pins (pinned 1; one pinned already keeps its time; out of the archive)
 * or unpins cid for uid: 1 done, 0 not a member, -1 error. */
int convs_set_pinned(struct db *db, int64_t cid, int64_t uid, int pinned);
/* Puts cid in uid's archive (unpinned), or takes it out: 1 done, 0 not a
 * member, -1 error. */
int convs_set_archived(struct db *db, int64_t cid, int64_t uid, int archived);
/* How many conversations other than except uid has pinned, or -1. */
int convs_pinned_count(struct db *db, int64_t uid, int64_t except);
/* Sets uid's mark "unread" on cid: 1 changed, 0 it was so (or not a
 * member), -1 error. */
int convs_set_marked_unread(struct db *db, int64_t cid, int64_t uid, int marked);

/* Advances uid's read mark to seq (capped at the conversation's last seq;
 * the delivered mark follows). Never moves backwards. 1 advanced, 0 not,
 * -1 error. */
int convs_mark_read(struct db *db, int64_t cid, int64_t uid, int64_t seq);
/* A reader's delivered mark to move: conversation, reader, seq. */
struct receipt {
	int64_t conversation_id;
	int64_t user_id;
	int64_t seq;
	int tries;		/* failed writes so far (the receipt queue's) */
};
/* Moves each reader's delivered mark to its seq (as convs_mark_read does
 * the read mark; never backwards, never past the conversation's last seq)
 * and, in conversations of at most fanout_max members, appends a receipt
 * event for every other member: one transaction for all of r (the
 * msg_delivered_batch procedure, sql/0011). r sorted by (conversation,
 * user), the order rows are locked in; a pair given twice counts once,
 * with its highest seq. 1 some mark moved (*wake, arena, lists whom to
 * wake), 0 none, -1 error. */
int convs_mark_delivered(struct db *db, struct arena *a, const struct receipt *r, int n,
	int fanout_max, int64_t **wake, int *nwake);
/* uid's delivered and read marks in cid and the member count. 1/0/-1. */
int convs_receipt_marks(struct db *db, int64_t cid, int64_t uid, int64_t *delivered,
	int64_t *read, int64_t *members);
/* uid's marks and unread count. 1 found, 0 not a member, -1 error. */
int convs_marks(struct db *db, int64_t cid, int64_t uid, int64_t *delivered, int64_t *read,
	int64_t *unread);

/* --- blocks (sql/0020): who will not hear from whom --- */

/* A person uid blocks, with the time they did. */
struct block {
	struct user user;
	const char *blocked_at;		/* MySQL DATETIME(3) text, UTC */
};

/* Locks the users rows of a and b (in id order) to the end of the
 * transaction: a block between the two and the start of their direct
 * conversation take it first, so neither misses the other. 1 both are
 * users, 0 not, -1 error. */
int convs_lock_pair(struct db *db, int64_t a, int64_t b);
/* uid blocks other (1 new, 0 already so), or no longer (1 removed, 0 was
 * not); -1 error. */
int convs_block(struct db *db, int64_t uid, int64_t other);
int convs_unblock(struct db *db, int64_t uid, int64_t other);
/* The blocks between a and b: BLOCK_MINE (a blocks b) | BLOCK_THEIRS (b
 * blocks a), 0 none, -1 error. */
#define BLOCK_MINE 1
#define BLOCK_THEIRS 2
int convs_blocked_between(struct db *db, int64_t a, int64_t b);
/* How many of the users in ids_json (a JSON array text) block uid, or -1. */
int convs_blocking(struct db *db, const char *ids_json, int64_t uid);
/* The people uid blocks, by user id, above after. Fills up to max; returns
 * the count or -1. */
int convs_blocks(struct db *db, struct arena *a, int64_t uid, int64_t after, int max,
	struct block *out);
/* Closes direct conversation cid, or opens it again when no block is left
 * between a and b (its two people) and neither account is deleted; either
 * moves its updated_at. 1 done, 0 no such direct conversation, -1 error. */
int convs_close_direct(struct db *db, int64_t cid);
int convs_reopen_direct(struct db *db, int64_t cid, int64_t a, int64_t b);

#endif
