#include "db/sweep.h"

/* sweep_tickets */
static const char *const SQL_TICKETS =
	"DELETE FROM stream_tickets WHERE expires_at < NOW(3) LIMIT ?";
/* sweep_rate_limits */
static const char *const SQL_RATE_LIMITS =
	"DELETE FROM rate_limits WHERE window_start < NOW() - INTERVAL ? SECOND LIMIT ?";

/* sweep_sessions: by expiry only (its index, sql/0014, so it reads and
 * locks only the rows it deletes). A session ended early (signed out, a
 * new password) stays until it would have expired: its refresh token is
 * then still answered session_ended (a client that was away learns that
 * it was signed out, not that its token is unknown), and a logout sent
 * again still finds it. */
static const char *const SQL_SESSIONS_EXPIRED =
	"DELETE FROM sessions WHERE expires_at < NOW(3) - INTERVAL ? SECOND LIMIT ?";
/* sweep_rotated */
static const char *const SQL_ROTATED =
	"DELETE FROM refresh_tokens WHERE superseded_at < NOW(3) - INTERVAL ? SECOND LIMIT ?";
/* sweep_deleted_members: accounts deleted within the window only (by
 * ix_deleted, sql/0015), so a run reads what recent deletions left, not
 * every account ever deleted; the newest first, so accounts that keep
 * failing do not hold back newer ones; and none of the last minute, whose
 * deletion may still be leaving its groups itself. */
static const char *const SQL_DELETED_MEMBERS =
	"SELECT u.id FROM users u FORCE INDEX (ix_deleted) "
	"WHERE u.deleted_at > NOW(3) - INTERVAL ? SECOND "
	"AND u.deleted_at < NOW(3) - INTERVAL 60 SECOND AND EXISTS (SELECT 1 FROM members m "
	"JOIN conversations c ON c.id = m.conversation_id AND c.type = 'group' "
	"WHERE m.user_id = u.id) ORDER BY u.deleted_at DESC LIMIT ?";
/* sweep_close_direct: the direct conversations of accounts deleted within
 * the window that are still open (sql/0017): one created while its peer's
 * deletion committed, which the deletion's own update could not see. */
static const char *const SQL_CLOSE_DIRECT =
	"UPDATE users u FORCE INDEX (ix_deleted) "
	"STRAIGHT_JOIN members m FORCE INDEX (ix_user) ON m.user_id = u.id "
	"STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = m.conversation_id "
	"SET c.closed_at = u.deleted_at "
	"WHERE u.deleted_at > NOW(3) - INTERVAL ? SECOND AND c.type = 'direct' AND c.closed_at IS NULL";
/* sweep_lock: held until the connection closes. */
static const char *const SQL_LOCK = "SELECT GET_LOCK('messenger-sweeper', ?)";
/* After a lost connection: the lock again, at once or never. */
static const char *const SQL_RELOCK = "SELECT GET_LOCK('messenger-sweeper', 0)";

int64_t sweep_tickets(struct db *db, int batch)
{
	if (db_exec(db, SQL_TICKETS, "i", (int64_t)batch) < 0)
		return -1;
	return (int64_t)db_affected(db);
}

int64_t sweep_rate_limits(struct db *db, int64_t older_s, int batch)
{
	if (db_exec(db, SQL_RATE_LIMITS, "ii", older_s, (int64_t)batch) < 0)
		return -1;
	return (int64_t)db_affected(db);
}

int64_t sweep_sessions(struct db *db, int64_t older_s, int batch)
{
	if (db_exec(db, SQL_SESSIONS_EXPIRED, "ii", older_s, (int64_t)batch) < 0)
		return -1;
	return (int64_t)db_affected(db);
}

int64_t sweep_rotated(struct db *db, int64_t older_s, int batch)
{
	if (db_exec(db, SQL_ROTATED, "ii", older_s, (int64_t)batch) < 0)
		return -1;
	return (int64_t)db_affected(db);
}

int64_t sweep_close_direct(struct db *db, int64_t within_s)
{
	if (db_exec(db, SQL_CLOSE_DIRECT, "i", within_s) < 0)
		return -1;
	return (int64_t)db_affected(db);
}

int sweep_lock(struct db *db, int wait_s)
{
	int64_t got = 0;
	if (db_exec(db, SQL_LOCK, "i", (int64_t)wait_s) < 0)
		return -1;
	int rc = db_next(db);
	if (rc > 0 && !db_isnull(db, 0))
		got = db_int(db, 0);
	while (rc > 0)
		rc = db_next(db);
	/* The lock lives as long as this connection: after a lost one the run
	 * goes on only if it takes the lock again, never beside another. */
	if (rc == 0 && got == 1)
		db_bind(db, SQL_RELOCK);
	return rc < 0 ? -1 : got == 1;
}

int sweep_deleted_members(struct db *db, int64_t within_s, int max, int64_t *out)
{
	if (db_exec(db, SQL_DELETED_MEMBERS, "ii", within_s, (int64_t)max) < 0)
		return -1;
	int n = 0, rc;
	while ((rc = db_next(db)) > 0)
		if (n < max)
			out[n++] = db_int(db, 0);
	return rc < 0 ? -1 : n;
}
