#include "db/convs.h"

#include <string.h>

#include "util/buf.h"

#define TS(col) "DATE_FORMAT(" col ", '%Y-%m-%d %H:%i:%s.%f')"

/* In m's archive: archived, and no message since (lines of group activity
 * do not count; ix_unread answers it). */
#define ARCHIVED "(m.archived_seq IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages ax " \
	"WHERE ax.conversation_id = c.id AND ax.seq > m.archived_seq AND ax.kind <> 'system'))"

/* The viewer-specific columns come from the viewer's members row m. Unread:
 * other people's messages after my read mark that are not deleted (nor
 * lines of group activity). */
#define CONV_COLS "c.id, c.type = 'group', c.title, " TS("c.created_at") ", " \
	TS("c.updated_at") ", " TS("c.last_activity_at") ", " \
	"CAST(UNIX_TIMESTAMP(c.last_activity_at) * 1000 AS SIGNED), c.last_seq, " \
	"COALESCE((SELECT lm.id FROM messages lm WHERE lm.conversation_id = c.id " \
	"AND lm.seq = c.last_seq), 0), " \
	"(SELECT COUNT(*) FROM members n WHERE n.conversation_id = c.id), " \
	"m.role + 0, m.last_read_seq, m.delivered_seq, " \
	"IF(m.muted_until > NOW(3), " TS("m.muted_until") ", NULL), " \
	"(SELECT COUNT(*) FROM messages x WHERE x.conversation_id = c.id " \
	"AND x.seq > m.last_read_seq AND x.sender_id <> m.user_id AND x.deleted_at IS NULL " \
	"AND x.kind <> 'system'), " \
	"IF(c.type = 'direct', COALESCE((SELECT p.user_id FROM members p WHERE " \
	"p.conversation_id = c.id AND p.user_id <> m.user_id LIMIT 1), 0), 0), m.user_id, " \
	"c.closed_at IS NOT NULL, c.closed_at IS NOT NULL AND c.type = 'direct' AND EXISTS (" \
	"SELECT 1 FROM members p JOIN blocks b ON b.user_id = m.user_id AND b.blocked_id = p.user_id " \
	"WHERE p.conversation_id = c.id AND p.user_id <> m.user_id), " \
	"m.pinned_at IS NOT NULL, m.marked_unread, IF(" ARCHIVED ", m.archived_seq, NULL)"

/* A member with their user (read_member). */
#define MEMBER_SELECT "SELECT m.user_id, m.role + 0, " TS("m.joined_at") ", m.last_read_seq, " \
	"m.delivered_seq, u.username, u.display_name, u.about, COALESCE(u.avatar_media_id, 0), " \
	TS("u.created_at") ", u.deleted_at IS NOT NULL FROM members m JOIN users u ON " \
	"u.id = m.user_id WHERE m.conversation_id = ? "

/* The live users among ids that arrive as one JSON array (so that a list
 * needs one statement), as u. */
#define JSON_USERS "JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS j " \
	"JOIN users u ON u.id = j.id AND u.deleted_at IS NULL"

/* SQL_CONV_GET */
static const char *const SQL_CONV_GET =
	"SELECT " CONV_COLS " FROM conversations c JOIN members m ON m.conversation_id = c.id "
	"AND m.user_id = ? WHERE c.id = ?";
/* SQL_CONV_LIST: the (last_activity_at, id) cursor, newest first; each row
 * with its last message (and that message's reactions) and, for a direct
 * conversation, the peer's profile, so a page is one query. */
static const char *const SQL_CONV_LIST =
	"SELECT " CONV_COLS ", " MSG_COLS ", " MSG_REACTIONS ", " USER_COLS_OF("pu") " "
	"FROM members m JOIN conversations c ON c.id = m.conversation_id "
	"LEFT JOIN messages x ON x.conversation_id = c.id AND x.seq = c.last_seq "
	"LEFT JOIN members pm ON c.type = 'direct' AND pm.conversation_id = c.id "
	"AND pm.user_id <> m.user_id "
	"LEFT JOIN users pu ON pu.id = pm.user_id "
	"WHERE m.user_id = ? AND " ARCHIVED " = ? AND (? = 0 OR (? = 1 AND m.pinned_at IS NULL) OR "
	"((m.pinned_at IS NOT NULL) = ? AND (c.last_activity_at < FROM_UNIXTIME(? / 1000) OR "
	"(c.last_activity_at = FROM_UNIXTIME(? / 1000) AND c.id < ?)))) "
	"ORDER BY m.pinned_at IS NOT NULL DESC, c.last_activity_at DESC, c.id DESC LIMIT ?";
/* SQL_VIEWS */
static const char *const SQL_VIEWS =
	"SELECT " CONV_COLS " FROM conversations c JOIN members m ON m.conversation_id = c.id "
	"WHERE c.id = ? ORDER BY m.user_id LIMIT ?";
/* SQL_MEMBERS */
static const char *const SQL_MEMBERS =
	MEMBER_SELECT "ORDER BY m.joined_at, m.user_id LIMIT ?";
/* SQL_MEMBER */
static const char *const SQL_MEMBER = MEMBER_SELECT "AND m.user_id = ?";
/* SQL_ROLE */
static const char *const SQL_ROLE =
	"SELECT role + 0 FROM members WHERE conversation_id = ? AND user_id = ?";
/* SQL_LOCK */
static const char *const SQL_LOCK =
	"SELECT (type = 'group') + 2 * (closed_at IS NOT NULL) FROM conversations WHERE id = ? "
	"FOR UPDATE";
/* SQL_CREATE */
static const char *const SQL_CREATE =
	"INSERT INTO conversations (type, title, direct_key, created_by, client_id) "
	"VALUES (?, ?, ?, ?, ?)";
/* SQL_FIND_DIRECT */
static const char *const SQL_FIND_DIRECT =
	"SELECT id FROM conversations WHERE direct_key = ?";
/* SQL_FIND_CREATED (uq_creator_client, sql/0016) */
static const char *const SQL_FIND_CREATED =
	"SELECT id, title, updated_at > created_at FROM conversations "
	"WHERE created_by = ? AND client_id = ?";
/* SQL_ADD_MEMBER */
static const char *const SQL_ADD_MEMBER =
	"INSERT IGNORE INTO members (conversation_id, user_id, role) VALUES (?, ?, ?)";
/* SQL_COUNT_USERS */
static const char *const SQL_COUNT_USERS = "SELECT COUNT(DISTINCT u.id) FROM " JSON_USERS;
/* SQL_NEW_MEMBERS */
static const char *const SQL_NEW_MEMBERS =
	"SELECT DISTINCT u.id FROM " JSON_USERS " LEFT JOIN members m ON "
	"m.conversation_id = ? AND m.user_id = u.id WHERE m.user_id IS NULL ORDER BY u.id LIMIT ?";
/* SQL_ADD_MEMBERS: a new member starts with the conversation read up to
 * now (joining a group of 5,000 messages is not 5,000 unread ones; the
 * history stays there to scroll). */
static const char *const SQL_ADD_MEMBERS =
	"INSERT IGNORE INTO members (conversation_id, user_id, role, last_read_seq, delivered_seq) "
	"SELECT DISTINCT c.id, u.id, 'member', c.last_seq, c.last_seq FROM conversations c JOIN "
	JSON_USERS " WHERE c.id = ?";
/* SQL_SET_ROLE */
static const char *const SQL_SET_ROLE =
	"UPDATE members SET role = ? WHERE conversation_id = ? AND user_id = ?";
/* SQL_REMOVE_MEMBER */
static const char *const SQL_REMOVE_MEMBER =
	"DELETE FROM members WHERE conversation_id = ? AND user_id = ?";
/* SQL_SUCCESSOR: admins first (role 'admin' sorts as 2, 'member' as 3). */
static const char *const SQL_SUCCESSOR =
	"SELECT m.user_id FROM members m JOIN users u ON u.id = m.user_id AND u.deleted_at IS NULL "
	"WHERE m.conversation_id = ? ORDER BY m.role + 0, m.joined_at, m.user_id LIMIT 1";
/* SQL_USER_GROUPS */
static const char *const SQL_USER_GROUPS =
	"SELECT m.conversation_id FROM members m JOIN conversations c ON c.id = m.conversation_id "
	"WHERE m.user_id = ? AND c.type = 'group' AND m.conversation_id > ? "
	"ORDER BY m.conversation_id LIMIT ?";
/* SQL_MEMBER_IDS */
static const char *const SQL_MEMBER_IDS =
	"SELECT user_id FROM members WHERE conversation_id = ? ORDER BY user_id LIMIT ?";
/* SQL_MEMBER_COUNT */
static const char *const SQL_MEMBER_COUNT =
	"SELECT COUNT(*) FROM members WHERE conversation_id = ?";
/* SQL_SET_TITLE: the same name again (compared byte for byte: "trip" to
 * "Trip" is a rename) changes nothing. */
static const char *const SQL_SET_TITLE =
	"UPDATE conversations SET title = ?, updated_at = NOW(3) "
	"WHERE id = ? AND NOT (title <=> ? COLLATE utf8mb4_bin)";
/* SQL_SET_MUTED */
static const char *const SQL_SET_MUTED =
	"UPDATE members SET muted_until = ? WHERE conversation_id = ? AND user_id = ?";
/* A pinned conversation is in no archive; an archived one is not pinned. */
static const char *const SQL_SET_PINNED =
	"UPDATE members SET pinned_at = IF(?, COALESCE(pinned_at, NOW(3)), NULL), "
	"archived_seq = IF(?, NULL, archived_seq) WHERE conversation_id = ? AND user_id = ?";
static const char *const SQL_SET_ARCHIVED =
	"UPDATE members m JOIN conversations c ON c.id = m.conversation_id "
	"SET m.archived_seq = IF(?, c.last_seq, NULL), m.pinned_at = IF(?, NULL, m.pinned_at) "
	"WHERE m.conversation_id = ? AND m.user_id = ?";
static const char *const SQL_PINNED_COUNT =
	"SELECT COUNT(*) FROM members WHERE user_id = ? AND pinned_at IS NOT NULL "
	"AND conversation_id <> ?";
static const char *const SQL_SET_MARKED =
	"UPDATE members SET marked_unread = ? WHERE conversation_id = ? AND user_id = ? "
	"AND marked_unread <> ?";
/* SQL_MARK_READ */
static const char *const SQL_MARK_READ =
	"UPDATE members m JOIN conversations c ON c.id = m.conversation_id "
	"SET m.last_read_seq = LEAST(?, c.last_seq), "
	"m.delivered_seq = GREATEST(m.delivered_seq, LEAST(?, c.last_seq)) "
	"WHERE m.conversation_id = ? AND m.user_id = ? AND m.last_read_seq < LEAST(?, c.last_seq)";
/* SQL_DELIVERED */
static const char *const SQL_DELIVERED = "CALL msg_delivered_batch(?, ?)";
/* SQL_MARKS */
static const char *const SQL_MARKS =
	"SELECT m.delivered_seq, m.last_read_seq, (SELECT COUNT(*) FROM messages x WHERE "
	"x.conversation_id = m.conversation_id AND x.seq > m.last_read_seq AND "
	"x.sender_id <> m.user_id AND x.deleted_at IS NULL AND x.kind <> 'system') FROM members m "
	"WHERE m.conversation_id = ? AND m.user_id = ?";

/* SQL_RECEIPT_MARKS: what a receipt event says, and who would get it. */
static const char *const SQL_RECEIPT_MARKS =
	"SELECT m.delivered_seq, m.last_read_seq, (SELECT COUNT(*) FROM members n "
	"WHERE n.conversation_id = m.conversation_id) FROM members m "
	"WHERE m.conversation_id = ? AND m.user_id = ?";

/* --- blocks --- */
static const char *const SQL_LOCK_PAIR =
	"SELECT id FROM users WHERE id IN (?, ?) ORDER BY id FOR UPDATE";
static const char *const SQL_BLOCK =
	"INSERT IGNORE INTO blocks (user_id, blocked_id) VALUES (?, ?)";
static const char *const SQL_UNBLOCK =
	"DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?";
#define BLOCK_EITHER(a, b) "(SELECT 1 FROM blocks b WHERE (b.user_id = " a " AND " \
	"b.blocked_id = " b ") OR (b.user_id = " b " AND b.blocked_id = " a "))"
static const char *const SQL_BLOCKED_BETWEEN =
	"SELECT COALESCE(SUM(IF(b.user_id = ?, 1, 2)), 0) FROM blocks b "
	"WHERE (b.user_id = ? AND b.blocked_id = ?) OR (b.user_id = ? AND b.blocked_id = ?)";
static const char *const SQL_BLOCKING =
	"SELECT COUNT(*) FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS j "
	"JOIN blocks b ON b.user_id = j.id AND b.blocked_id = ?";
static const char *const SQL_BLOCKS =
	"SELECT " USER_COLS_OF("u") ", " TS("b.created_at") " FROM blocks b "
	"JOIN users u ON u.id = b.blocked_id WHERE b.user_id = ? AND b.blocked_id > ? "
	"ORDER BY b.blocked_id LIMIT ?";
/* Both move updated_at whether or not closed_at changes: a block changes
 * the blocker's view (blocked) even when the conversation was closed
 * already, and clients keep the newer of two views by updated_at. */
static const char *const SQL_CLOSE_DIRECT =
	"UPDATE conversations SET closed_at = COALESCE(closed_at, NOW(3)), updated_at = NOW(3) "
	"WHERE id = ? AND type = 'direct'";
static const char *const SQL_REOPEN_DIRECT =
	"UPDATE conversations c SET c.closed_at = IF(NOT EXISTS " BLOCK_EITHER("?", "?") " "
	"AND NOT EXISTS (SELECT 1 FROM members dm JOIN users du ON du.id = dm.user_id "
	"WHERE dm.conversation_id = c.id AND du.deleted_at IS NOT NULL), NULL, c.closed_at), "
	"c.updated_at = NOW(3) WHERE c.id = ? AND c.type = 'direct'";

static const char *const role_names[] = {NULL, "owner", "admin", "member"};

const char *convs_role_name(enum conv_role r)
{
	return r >= ROLE_OWNER && r <= ROLE_MEMBER ? role_names[r] : NULL;
}

enum conv_role convs_role_parse(const char *s)
{
	for (int r = ROLE_OWNER; r <= ROLE_MEMBER; r++)
		if (s != NULL && strcmp(s, role_names[r]) == 0)
			return (enum conv_role)r;
	return ROLE_NONE;
}

static enum conv_role role_from_int(int64_t v)
{
	return v >= ROLE_OWNER && v <= ROLE_MEMBER ? (enum conv_role)v : ROLE_NONE;
}

/* The helpers below take db_exec()'s result (0 or -1) as exec_rc, so that
 * each statement reads as one call. */

/* After a change: 1 when a row changed (or was found), 0 none, -1 error. */
static int changed(struct db *db, int exec_rc)
{
	if (exec_rc < 0)
		return -1;
	return db_affected(db) > 0 ? 1 : 0;
}

/* Reads the rest of a result so the connection is ready for the next one. */
static void drain(struct db *db)
{
	while (db_next(db) > 0)
		;
}

/* A one-row, one-integer query: 1 (*v set), 0 no row, -1 error. */
static int one_int(struct db *db, int exec_rc, int64_t *v)
{
	if (exec_rc < 0)
		return -1;
	int rc = db_next(db);
	if (rc <= 0)
		return rc;
	*v = db_int(db, 0);
	drain(db);
	return 1;
}

/* Reads up to max rows of the result into out, row i with row(db, a, out,
 * i); the rest are read and dropped. Returns the count, or -1. */
static int rows(struct db *db, int exec_rc, struct arena *a, int max, void *out,
	void (*row)(struct db *db, struct arena *a, void *out, int i))
{
	if (exec_rc < 0)
		return -1;
	int n = 0, rc;
	while ((rc = db_next(db)) > 0)
		if (n < max)
			row(db, a, out, n++);
	return rc < 0 ? -1 : n;
}

static void read_id(struct db *db, struct arena *a, void *out, int i)
{
	(void)a;
	((int64_t *)out)[i] = db_int(db, 0);
}

static void read_conv(struct db *db, struct arena *a, void *out, int i)
{
	struct conv *c = (struct conv *)out + i;
	c->id = db_int(db, 0);
	c->group = db_int(db, 1) != 0;
	c->title = db_str(db, 2, a, NULL);
	c->created_at = db_str(db, 3, a, NULL);
	c->updated_at = db_str(db, 4, a, NULL);
	c->last_activity_at = db_str(db, 5, a, NULL);
	c->activity_ms = db_int(db, 6);
	c->last_seq = db_int(db, 7);
	c->last_message_id = db_int(db, 8);
	c->member_count = db_int(db, 9);
	c->role = role_from_int(db_int(db, 10));
	c->last_read_seq = db_int(db, 11);
	c->delivered_seq = db_int(db, 12);
	c->muted_until = db_str(db, 13, a, NULL);
	c->unread_count = db_int(db, 14);
	c->peer_id = db_int(db, 15);
	c->viewer_id = db_int(db, 16);
	c->closed = db_int(db, 17) != 0;
	c->blocked = db_int(db, 18) != 0;
	c->pinned = db_int(db, 19) != 0;
	c->marked_unread = db_int(db, 20) != 0;
	c->archived_seq = db_isnull(db, 21) ? -1 : db_int(db, 21);
	c->joined = 0;
	c->last_message = NULL;
	c->peer = NULL;
}

#define CONV_NCOLS 22

/* A list row: the conversation, its last message, its peer. */
static void read_conv_joined(struct db *db, struct arena *a, void *out, int i)
{
	struct conv *c = (struct conv *)out + i;
	read_conv(db, a, out, i);
	c->joined = 1;
	int col = CONV_NCOLS;
	if (db_int(db, col) > 0) {
		c->last_message = arena_alloc(a, sizeof(*c->last_message));
		msgs_read_row(db, a, col, c->last_message);
		msgs_parse_reactions(a, c->last_message, db_str(db, col + MSG_NCOLS, a, NULL));
	}
	col += MSG_NCOLS + 1;
	if (db_int(db, col) > 0) {
		c->peer = arena_alloc(a, sizeof(*c->peer));
		users_read_row(db, a, col, c->peer);
	}
}

int convs_get(struct db *db, struct arena *a, int64_t cid, int64_t uid, struct conv *c)
{
	/* One row at most (the primary key of members). */
	return rows(db, db_exec(db, SQL_CONV_GET, "ii", uid, cid), a, 1, c, read_conv);
}

int convs_list(struct db *db, struct arena *a, int64_t uid, int archived, int before_pinned,
	int64_t before_ms, int64_t before_id, int max, struct conv *out)
{
	int64_t has = before_id != 0, p = before_pinned != 0, ar = archived != 0;
	return rows(db, db_exec(db, SQL_CONV_LIST, "iiiiiiiii", uid, ar, has, p, p, before_ms,
		before_ms, before_id, (int64_t)max), a, max, out, read_conv_joined);
}

int convs_views(struct db *db, struct arena *a, int64_t cid, int max, struct conv *out)
{
	return rows(db, db_exec(db, SQL_VIEWS, "ii", cid, (int64_t)max), a, max, out, read_conv);
}

static void read_member(struct db *db, struct arena *a, void *out, int i)
{
	struct member *m = (struct member *)out + i;
	m->user_id = db_int(db, 0);
	m->role = role_from_int(db_int(db, 1));
	m->joined_at = db_str(db, 2, a, NULL);
	m->last_read_seq = db_int(db, 3);
	m->delivered_seq = db_int(db, 4);
	memset(&m->user, 0, sizeof(m->user));
	m->user.id = m->user_id;
	m->user.username = db_str(db, 5, a, NULL);
	m->user.display_name = db_str(db, 6, a, NULL);
	m->user.about = db_str(db, 7, a, NULL);
	m->user.avatar_media_id = db_int(db, 8);
	m->user.created_at = db_str(db, 9, a, NULL);
	m->user.deleted = db_int(db, 10) != 0;
}

int convs_members(struct db *db, struct arena *a, int64_t cid, int max, struct member *out)
{
	return rows(db, db_exec(db, SQL_MEMBERS, "ii", cid, (int64_t)max), a, max, out,
		read_member);
}

int convs_member(struct db *db, struct arena *a, int64_t cid, int64_t uid, struct member *m)
{
	/* One row at most (the primary key of members). */
	return rows(db, db_exec(db, SQL_MEMBER, "ii", cid, uid), a, 1, m, read_member);
}

int convs_role(struct db *db, int64_t cid, int64_t uid)
{
	int64_t v = 0;
	int rc = one_int(db, db_exec(db, SQL_ROLE, "ii", cid, uid), &v);
	if (rc < 0)
		return -1;
	return rc == 0 ? ROLE_NONE : (int)role_from_int(v);
}

int convs_lock(struct db *db, int64_t cid, int *group, int *closed)
{
	int64_t v = 0;
	int rc = one_int(db, db_exec(db, SQL_LOCK, "i", cid), &v);
	if (rc == 1 && group != NULL)
		*group = (v & 1) != 0;
	if (rc == 1 && closed != NULL)
		*closed = (v & 2) != 0;
	return rc;
}

int convs_create(struct db *db, int group, const char *title, const char *direct_key,
	int64_t created_by, const char *client_id, int64_t *cid)
{
	if (db_exec(db, SQL_CREATE, "sssis", group ? "group" : "direct", title, direct_key,
		    created_by, client_id) < 0)
		return db_errno(db) == DB_ER_DUP_ENTRY ? 0 : -1;
	*cid = db_insert_id(db);
	return 1;
}

int convs_find_direct(struct db *db, const char *direct_key, int64_t *cid)
{
	return one_int(db, db_exec(db, SQL_FIND_DIRECT, "s", direct_key), cid);
}

int convs_find_created(struct db *db, struct arena *a, int64_t created_by,
	const char *client_id, int64_t *cid, char **title, int *changed)
{
	if (db_exec(db, SQL_FIND_CREATED, "is", created_by, client_id) < 0)
		return -1;
	int rc = db_next(db);
	if (rc == 1) {
		*cid = db_int(db, 0);
		*title = db_str(db, 1, a, NULL);
		*changed = db_int(db, 2) != 0;
		drain(db);
	}
	return rc < 0 ? -1 : rc;
}

int convs_add_member(struct db *db, int64_t cid, int64_t uid, enum conv_role role)
{
	return changed(db, db_exec(db, SQL_ADD_MEMBER, "iis", cid, uid, convs_role_name(role)));
}

int convs_count_users(struct db *db, const char *ids_json)
{
	int64_t v = 0;
	if (one_int(db, db_exec(db, SQL_COUNT_USERS, "s", ids_json), &v) < 0)
		return -1;
	return (int)v;
}

int convs_new_members(struct db *db, int64_t cid, const char *ids_json, int max, int64_t *out)
{
	return rows(db, db_exec(db, SQL_NEW_MEMBERS, "sii", ids_json, cid, (int64_t)max), NULL,
		max, out, read_id);
}

int convs_add_members(struct db *db, int64_t cid, const char *ids_json)
{
	if (db_exec(db, SQL_ADD_MEMBERS, "si", ids_json, cid) < 0)
		return -1;
	return (int)db_affected(db);
}

int convs_set_role(struct db *db, int64_t cid, int64_t uid, enum conv_role role)
{
	return changed(db, db_exec(db, SQL_SET_ROLE, "sii", convs_role_name(role), cid, uid));
}

int convs_remove_member(struct db *db, int64_t cid, int64_t uid)
{
	return changed(db, db_exec(db, SQL_REMOVE_MEMBER, "ii", cid, uid));
}

int convs_successor(struct db *db, int64_t cid, int64_t *uid)
{
	return one_int(db, db_exec(db, SQL_SUCCESSOR, "i", cid), uid);
}

int convs_user_groups(struct db *db, int64_t uid, int64_t after, int max, int64_t *out)
{
	if (db_exec(db, SQL_USER_GROUPS, "iii", uid, after, (int64_t)max) < 0)
		return -1;
	return db_ids(db, max, out);
}

int convs_member_ids(struct db *db, int64_t cid, int max, int64_t *out)
{
	if (db_exec(db, SQL_MEMBER_IDS, "ii", cid, (int64_t)max) < 0)
		return -1;
	return db_ids(db, max, out);
}

int64_t convs_member_count(struct db *db, int64_t cid)
{
	int64_t v = 0;
	return one_int(db, db_exec(db, SQL_MEMBER_COUNT, "i", cid), &v) < 0 ? -1 : v;
}

int convs_set_title(struct db *db, int64_t cid, const char *title)
{
	return changed(db, db_exec(db, SQL_SET_TITLE, "sis", title, cid, title));
}

int convs_set_muted(struct db *db, int64_t cid, int64_t uid, const char *muted_until)
{
	/* CLIENT_FOUND_ROWS: an unchanged row still counts as found. */
	return changed(db, db_exec(db, SQL_SET_MUTED, "sii", muted_until, cid, uid));
}

int convs_set_pinned(struct db *db, int64_t cid, int64_t uid, int pinned)
{
	int64_t p = pinned != 0;
	return changed(db, db_exec(db, SQL_SET_PINNED, "iiii", p, p, cid, uid));
}

int convs_set_archived(struct db *db, int64_t cid, int64_t uid, int archived)
{
	int64_t v = archived != 0;
	return changed(db, db_exec(db, SQL_SET_ARCHIVED, "iiii", v, v, cid, uid));
}

int convs_pinned_count(struct db *db, int64_t uid, int64_t except)
{
	int64_t v = 0;
	int rc = one_int(db, db_exec(db, SQL_PINNED_COUNT, "ii", uid, except), &v);
	return rc < 0 ? -1 : (int)v;
}

int convs_set_marked_unread(struct db *db, int64_t cid, int64_t uid, int marked)
{
	int64_t m = marked != 0;
	return changed(db, db_exec(db, SQL_SET_MARKED, "iiii", m, cid, uid, m));
}

int convs_mark_read(struct db *db, int64_t cid, int64_t uid, int64_t seq)
{
	return changed(db, db_exec(db, SQL_MARK_READ, "iiiii", seq, seq, cid, uid, seq));
}

int convs_mark_delivered(struct db *db, struct arena *a, const struct receipt *r, int n,
	int fanout_max, int64_t **wake, int *nwake)
{
	*wake = NULL;
	*nwake = 0;
	if (n <= 0)
		return 0;
	/* [{"c":..,"u":..,"q":..},...]: three integers of at most 20 digits. */
	struct buf b;
	buf_init(&b, 2 + (size_t)n * 80);
	int bad = buf_puts(&b, "[") < 0;
	for (int i = 0; i < n && !bad; i++)
		bad = buf_printf(&b, "%s{\"c\":%lld,\"u\":%lld,\"q\":%lld}", i > 0 ? "," : "",
			(long long)r[i].conversation_id, (long long)r[i].user_id,
			(long long)r[i].seq) < 0;
	bad = bad || buf_puts(&b, "]") < 0;
	int rc = bad ? -1 : db_call(db, SQL_DELIVERED, "si", b.data, (int64_t)fanout_max);
	buf_release(&b);
	if (rc < 0)
		return -1;
	if (db_next(db) != 1)
		return -1;
	const char *outcome = db_peek(db, 0, NULL);
	rc = outcome == NULL ? -1 : strcmp(outcome, "ok") == 0 ? 1 : strcmp(outcome, "same") == 0 ? 0 : -1;
	if (rc == 1)
		*nwake = db_id_list(a, db_peek(db, 1, NULL), wake);
	drain(db);
	return rc;
}

int convs_receipt_marks(struct db *db, int64_t cid, int64_t uid, int64_t *delivered,
	int64_t *read, int64_t *members)
{
	if (db_exec(db, SQL_RECEIPT_MARKS, "ii", cid, uid) < 0)
		return -1;
	int rc = db_next(db);
	if (rc > 0) {
		*delivered = db_int(db, 0);
		*read = db_int(db, 1);
		*members = db_int(db, 2);
	}
	while (rc > 0 && db_next(db) > 0)
		;
	return rc;
}

int convs_marks(struct db *db, int64_t cid, int64_t uid, int64_t *delivered, int64_t *read,
	int64_t *unread)
{
	if (db_exec(db, SQL_MARKS, "ii", cid, uid) < 0)
		return -1;
	int rc = db_next(db);
	if (rc <= 0)
		return rc;
	*delivered = db_int(db, 0);
	*read = db_int(db, 1);
	*unread = db_int(db, 2);
	drain(db);
	return 1;
}

/* --- blocks --- */

int convs_lock_pair(struct db *db, int64_t a, int64_t b)
{
	if (db_exec(db, SQL_LOCK_PAIR, "ii", a, b) < 0)
		return -1;
	int n = 0, rc;
	while ((rc = db_next(db)) > 0)
		n++;
	return rc < 0 ? -1 : n == 2;
}

int convs_block(struct db *db, int64_t uid, int64_t other)
{
	return changed(db, db_exec(db, SQL_BLOCK, "ii", uid, other));
}

int convs_unblock(struct db *db, int64_t uid, int64_t other)
{
	return changed(db, db_exec(db, SQL_UNBLOCK, "ii", uid, other));
}

int convs_blocked_between(struct db *db, int64_t a, int64_t b)
{
	int64_t v = 0;
	int rc = one_int(db, db_exec(db, SQL_BLOCKED_BETWEEN, "iiiii", a, a, b, b, a), &v);
	return rc < 0 ? -1 : (int)v;
}

int convs_blocking(struct db *db, const char *ids_json, int64_t uid)
{
	int64_t v = 0;
	int rc = one_int(db, db_exec(db, SQL_BLOCKING, "si", ids_json, uid), &v);
	return rc < 0 ? -1 : (int)v;
}

static void read_block(struct db *db, struct arena *a, void *out, int i)
{
	struct block *b = (struct block *)out + i;
	users_read_row(db, a, 0, &b->user);
	b->blocked_at = db_str(db, USER_NCOLS, a, NULL);
}

int convs_blocks(struct db *db, struct arena *a, int64_t uid, int64_t after, int max,
	struct block *out)
{
	return rows(db, db_exec(db, SQL_BLOCKS, "iii", uid, after, (int64_t)max), a, max, out,
		read_block);
}

int convs_close_direct(struct db *db, int64_t cid)
{
	return changed(db, db_exec(db, SQL_CLOSE_DIRECT, "i", cid));
}

int convs_reopen_direct(struct db *db, int64_t cid, int64_t a, int64_t b)
{
	return changed(db, db_exec(db, SQL_REOPEN_DIRECT, "iiiii", a, b, b, a, cid));
}
