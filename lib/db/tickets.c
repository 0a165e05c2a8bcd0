#include "db/tickets.h"

/* tickets_create */
static const char *const SQL_TICKET_INSERT =
	"INSERT INTO stream_tickets (ticket_hash, user_id, session_id, expires_at) "
	"VALUES (?, ?, ?, NOW(3) + INTERVAL ? SECOND)";
/* tickets_take: read, then delete; the DELETE's row count decides who wins. */
static const char *const SQL_TICKET_GET =
	"SELECT user_id, session_id, expires_at > NOW(3) FROM stream_tickets WHERE ticket_hash = ?";
static const char *const SQL_TICKET_DELETE =
	"DELETE FROM stream_tickets WHERE ticket_hash = ?";

int tickets_create(struct db *db, const unsigned char hash[32], int64_t uid, int64_t sid,
	int ttl_s)
{
	if (db_exec(db, SQL_TICKET_INSERT, "biii", (const void *)hash, (size_t)32, uid, sid,
		    (int64_t)ttl_s) == 0)
		return 0;
	/* The hash is of 32 random bytes: a duplicate is this very insert,
	 * run again after the connection was lost on its way back. */
	return db_errno(db) == DB_ER_DUP_ENTRY ? 0 : -1;
}

int tickets_take(struct db *db, const unsigned char hash[32], int64_t *uid, int64_t *sid)
{
	if (db_exec(db, SQL_TICKET_GET, "b", (const void *)hash, (size_t)32) < 0)
		return -1;
	int rc = db_next(db);
	if (rc <= 0)
		return rc;
	int64_t u = db_int(db, 0), s = db_int(db, 1);
	int fresh = db_int(db, 2) == 1;
	while (db_next(db) > 0)
		;
	if (db_exec(db, SQL_TICKET_DELETE, "b", (const void *)hash, (size_t)32) < 0)
		return -1;
	if (db_affected(db) != 1 || !fresh)
		return 0;
	*uid = u;
	*sid = s;
	return 1;
}
