#include "db/events.h"

#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"

/* Two shapes of fan-out. For a conversation or one user the recipients are
 * read straight from members/user_heads: the caller holds the
 * conversation's row lock, which every membership change takes first, so
 * the numbering UPDATE and the INSERT see the same set. Contacts (presence,
 * profile changes) span conversations nobody locked: that set is fixed
 * first in the connection's temporary "fanout" table.
 *
 * Heads are locked and numbered in ascending user_id order (members and
 * fanout are both keyed that way), which keeps concurrent fan-outs from
 * deadlocking each other; db_tx retries if they ever do. The INSERT
 * returns the recipients for the wake-up after the commit. */
static const char *const SQL_CONV_BUMP =
	"UPDATE user_heads h JOIN members m ON m.user_id = h.user_id "
	"SET h.last_seq = h.last_seq + 1 WHERE m.conversation_id = ? AND m.user_id <> ?";
static const char *const SQL_CONV_INSERT =
	"INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at) "
	"SELECT h.user_id, h.last_seq, ?, ?, ?, ?, NOW(3) FROM members m "
	"JOIN user_heads h ON h.user_id = m.user_id WHERE m.conversation_id = ? AND m.user_id <> ? "
	"RETURNING user_id";
static const char *const SQL_USER_BUMP =
	"UPDATE user_heads SET last_seq = last_seq + 1 WHERE user_id = ? AND user_id <> ?";
static const char *const SQL_USER_INSERT =
	"INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at) "
	"SELECT user_id, last_seq, ?, ?, ?, ?, NOW(3) FROM user_heads "
	"WHERE user_id = ? AND user_id <> ? RETURNING user_id";
static const char *const SQL_FANOUT_CLEAR = "DELETE FROM fanout";
static const char *const SQL_FANOUT_CONTACTS =
	"INSERT IGNORE INTO fanout (user_id) SELECT DISTINCT m2.user_id FROM members m1 "
	"JOIN members m2 ON m2.conversation_id = m1.conversation_id "
	"WHERE m1.user_id = ? AND m2.user_id <> ?";
/* Whether a conversation has at most N members is asked of the members
 * primary key, reading at most N + 1 entries (is there one past the Nth?):
 * a large group costs no more than a small one, and no row per member.
 * Nobody on either side of a block (sql/0020) is told. */
static const char *const SQL_FANOUT_NEAR =
	"INSERT IGNORE INTO fanout (user_id) SELECT DISTINCT m2.user_id FROM members m1 "
	"JOIN members m2 ON m2.conversation_id = m1.conversation_id "
	"WHERE m1.user_id = ? AND m2.user_id <> ? AND (SELECT m3.user_id FROM members m3 "
	"WHERE m3.conversation_id = m1.conversation_id LIMIT ?, 1) IS NULL "
	"AND NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.user_id = m1.user_id AND "
	"b.blocked_id = m2.user_id) OR (b.user_id = m2.user_id AND b.blocked_id = m1.user_id))";
static const char *const SQL_FANOUT_SELF =
	"INSERT IGNORE INTO fanout (user_id) VALUES (?)";
static const char *const SQL_FANOUT_BUMP =
	"UPDATE user_heads h JOIN fanout f ON f.user_id = h.user_id SET h.last_seq = h.last_seq + 1";
static const char *const SQL_FANOUT_INSERT =
	"INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at) "
	"SELECT h.user_id, h.last_seq, ?, ?, ?, ?, NOW(3) FROM user_heads h "
	"JOIN fanout f ON f.user_id = h.user_id RETURNING user_id";

static const char *const SQL_HEAD =
	"SELECT last_seq, min_seq FROM user_heads WHERE user_id = ?";
/* The events with, for message events, the message as it is now and its
 * reactions (for msgs_parse_reactions, in the order clients show them):
 * one query per batch. Only while the reader is a member of its
 * conversation: someone removed who replays an old cursor would otherwise
 * read the message's later edits and reactions (the history answers them
 * 404 too); such events come without the message, and are left out. */
static const char *const SQL_READ =
	"SELECT e.seq, e.type, COALESCE(e.conversation_id, 0), COALESCE(e.ref_id, 0), e.payload, "
	MSG_TS("e.created_at") ", " MSG_COLS ", " MSG_REACTIONS " "
	"FROM user_events e LEFT JOIN messages x ON e.payload IS NULL AND x.id = e.ref_id "
	"AND EXISTS (SELECT 1 FROM members mm WHERE mm.conversation_id = x.conversation_id "
	"AND mm.user_id = e.user_id) "
	"WHERE e.user_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?";

/* Pruning past retention: the oldest expired events (through ix_created, in
 * its order, at most a batch: each round reads only what it prunes), each
 * user's newest seq among them, then per user the horizon and the rows up
 * to it. */
static const char *const SQL_PRUNE_FIND =
	"SELECT user_id, seq FROM user_events FORCE INDEX (ix_created) "
	"WHERE created_at < NOW(3) - INTERVAL ? DAY ORDER BY created_at LIMIT ?";
static const char *const SQL_PRUNE_HEAD =
	"UPDATE user_heads SET min_seq = GREATEST(min_seq, ? + 1) WHERE user_id = ?";
static const char *const SQL_PRUNE_DELETE =
	"DELETE FROM user_events WHERE user_id = ? AND seq <= ? LIMIT ?";
#define PRUNE_DELETE_CHUNK 5000
#define PRUNE_FIND_MAX 5000
/* Typing and presence matter for seconds: drop them early. They are not
 * part of what a cursor must replay, so min_seq does not move for them.
 * From the pass's mark (sql/0018) up to ephemeral_s ago, a minute of the
 * log per statement; never from further back than EPHEMERAL_SCAN_S before
 * that age (what a long outage of the sweeper left goes with the rest at
 * the retention limit). */
#define EPHEMERAL_SCAN_S (6 * 3600)
static const char *const SQL_EPHEMERAL_RANGE =
	"SELECT GREATEST(COALESCE((SELECT at FROM sweep_marks WHERE name = 'ephemeral'), "
	"NOW(3) - INTERVAL ? SECOND), NOW(3) - INTERVAL ? SECOND), NOW(3) - INTERVAL ? SECOND";
static const char *const SQL_EPHEMERAL_SLICE =
	"SELECT LEAST(CAST(? AS DATETIME(3)) + INTERVAL 60 SECOND, "
	"CAST(? AS DATETIME(3)))";
static const char *const SQL_EPHEMERAL_DELETE =
	"DELETE FROM user_events WHERE created_at >= ? AND created_at < ? "
	"AND type IN ('typing', 'presence') LIMIT ?";
static const char *const SQL_EPHEMERAL_MARK =
	"INSERT INTO sweep_marks (name, at) VALUES ('ephemeral', ?) "
	"ON DUPLICATE KEY UPDATE at = GREATEST(at, VALUES(at))";

int events_append(struct db *db, struct arena *a, enum fanout_who who, int64_t id,
	int64_t exclude, const char *type, int64_t conversation_id, int64_t ref_id,
	const char *payload, int64_t **uids, int *n, int *cap)
{
	int64_t cid = conversation_id, rid = ref_id;
	const int64_t *pc = cid ? &cid : NULL, *pr = rid ? &rid : NULL;
	int rc;
	switch (who) {
	case FANOUT_CONV:
		rc = db_exec(db, SQL_CONV_BUMP, "ii", id, exclude);
		if (rc == 0)
			rc = db_exec(db, SQL_CONV_INSERT, "sIIsii", type, pc, pr, payload, id, exclude);
		break;
	case FANOUT_USER:
		rc = db_exec(db, SQL_USER_BUMP, "ii", id, exclude);
		if (rc == 0)
			rc = db_exec(db, SQL_USER_INSERT, "sIIsii", type, pc, pr, payload, id, exclude);
		break;
	case FANOUT_CONTACTS:
	case FANOUT_NEAR:
		rc = db_exec(db, SQL_FANOUT_CLEAR, "");
		if (rc == 0 && who == FANOUT_NEAR)
			rc = db_exec(db, SQL_FANOUT_NEAR, "iii", id, id, exclude);
		else if (rc == 0)
			rc = db_exec(db, SQL_FANOUT_CONTACTS, "ii", id, id);
		if (rc == 0 && who == FANOUT_CONTACTS && exclude != id)
			rc = db_exec(db, SQL_FANOUT_SELF, "i", id);
		if (rc == 0)
			rc = db_exec(db, SQL_FANOUT_BUMP, "");
		if (rc == 0)
			rc = db_exec(db, SQL_FANOUT_INSERT, "sIIs", type, pc, pr, payload);
		break;
	default:
		return -1;
	}
	if (rc < 0)
		return -1;
	int count = 0;
	while ((rc = db_next(db)) > 0) {
		count++;
		if (uids == NULL)
			continue;
		if (*n == *cap) {
			int ncap = *cap ? *cap * 2 : 16;
			int64_t *grown = arena_alloc(a, sizeof(int64_t) * (size_t)ncap);
			if (*n > 0)
				memcpy(grown, *uids, sizeof(int64_t) * (size_t)*n);
			*uids = grown;
			*cap = ncap;
		}
		(*uids)[(*n)++] = db_int(db, 0);
	}
	return rc < 0 ? -1 : count;
}

int events_head(struct db *db, int64_t uid, int64_t *last_seq, int64_t *min_seq)
{
	if (db_exec(db, SQL_HEAD, "i", uid) < 0)
		return -1;
	int rc = db_next(db);
	if (rc <= 0)
		return rc;
	*last_seq = db_int(db, 0);
	*min_seq = db_int(db, 1);
	while (db_next(db) > 0)
		;
	return 1;
}

int events_read(struct db *db, struct arena *a, int64_t uid, int64_t after, int max,
	struct event_row *out)
{
	if (db_exec(db, SQL_READ, "iii", uid, after, (int64_t)max) < 0)
		return -1;
	int n = 0, rc;
	while ((rc = db_next(db)) > 0) {
		if (n >= max)
			continue;
		struct event_row *e = &out[n++];
		e->seq = db_int(db, 0);
		e->type = db_str(db, 1, a, NULL);
		e->conversation_id = db_int(db, 2);
		e->ref_id = db_int(db, 3);
		e->payload = db_str(db, 4, a, NULL);
		e->created_at = db_str(db, 5, a, NULL);
		e->msg = NULL;
		if (db_isnull(db, 6))
			continue;
		struct msg *m = arena_alloc(a, sizeof(*m));
		msgs_read_row(db, a, 6, m);
		msgs_parse_reactions(a, m, db_peek(db, 6 + MSG_NCOLS, NULL));
		e->msg = m;
	}
	return rc < 0 ? -1 : n;
}

/* One row of two DATETIME(3) values (or one, b NULL) as text. */
static int two_times(struct db *db, char *a, char *b, size_t size)
{
	int rc = db_next(db);
	if (rc <= 0)
		return -1;
	const char *x = db_peek(db, 0, NULL), *y = b != NULL ? db_peek(db, 1, NULL) : "";
	int ok = x != NULL && y != NULL && strlen(x) < size && strlen(y) < size;
	if (ok) {
		strcpy(a, x);
		if (b != NULL)
			strcpy(b, y);
	}
	while ((rc = db_next(db)) > 0)
		;
	return ok && rc == 0 ? 0 : -1;
}

int64_t events_prune_ephemeral(struct db *db, int ephemeral_s, int batch, int64_t deadline_ms)
{
	char from[32], to[32], end[32];
	if (db_exec(db, SQL_EPHEMERAL_RANGE, "iii", (int64_t)ephemeral_s + EPHEMERAL_SCAN_S,
		    (int64_t)ephemeral_s + EPHEMERAL_SCAN_S, (int64_t)ephemeral_s) < 0 ||
	    two_times(db, from, to, sizeof(from)) < 0)
		return -1;
	int64_t total = 0;
	while (strcmp(from, to) < 0 && clock_ms() < deadline_ms) {
		if (db_exec(db, SQL_EPHEMERAL_SLICE, "ss", from, to) < 0 ||
		    two_times(db, end, NULL, sizeof(end)) < 0)
			return -1;
		uint64_t k;
		do {
			if (db_exec(db, SQL_EPHEMERAL_DELETE, "ssi", from, end, (int64_t)batch) < 0)
				return -1;
			k = db_affected(db);
			total += (int64_t)k;
		} while (k == (uint64_t)batch && clock_ms() < deadline_ms);
		if (k == (uint64_t)batch)
			break;
		/* The slice is done: the next run starts after it. */
		if (db_exec(db, SQL_EPHEMERAL_MARK, "s", end) < 0)
			return -1;
		memcpy(from, end, sizeof(from));
	}
	return total;
}

static int by_user(const void *x, const void *y)
{
	const int64_t *a = x, *b = y;
	return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : (a[1] < b[1] ? -1 : a[1] > b[1]);
}

int64_t events_prune_old(struct db *db, int days, int batch, int64_t deadline_ms, int *more)
{
	*more = 0;
	if (batch > PRUNE_FIND_MAX)
		batch = PRUNE_FIND_MAX;
	if (db_exec(db, SQL_PRUNE_FIND, "ii", (int64_t)days, (int64_t)batch) < 0)
		return -1;
	static int64_t rows[PRUNE_FIND_MAX][2];	/* (user, seq); the sweeper is one thread */
	int n = 0, rc;
	while ((rc = db_next(db)) > 0) {
		if (n < batch) {
			rows[n][0] = db_int(db, 0);
			rows[n][1] = db_int(db, 1);
			n++;
		}
	}
	if (rc < 0)
		return -1;
	/* Each user once, with the newest seq found: sorted by (user, seq),
	 * the last row of each user. */
	qsort(rows, (size_t)n, sizeof(rows[0]), by_user);
	int64_t total = 0;
	for (int i = 0; i < n; i++) {
		if (i + 1 < n && rows[i + 1][0] == rows[i][0])
			continue;
		if (clock_ms() >= deadline_ms)
			return total;
		int64_t uid = rows[i][0], seq = rows[i][1];
		/* Raise the horizon first: a reader then gets 410 rather than a
		 * silent gap while the rows go. */
		if (db_exec(db, SQL_PRUNE_HEAD, "ii", seq, uid) < 0)
			return -1;
		/* In chunks: a long backlog is not one huge statement. */
		uint64_t k;
		do {
			if (db_exec(db, SQL_PRUNE_DELETE, "iii", uid, seq,
				    (int64_t)PRUNE_DELETE_CHUNK) < 0)
				return -1;
			k = db_affected(db);
			total += (int64_t)k;
		} while (k == PRUNE_DELETE_CHUNK);
	}
	*more = n == batch;
	return total;
}
