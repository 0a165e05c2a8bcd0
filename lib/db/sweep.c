#include "db/sweep.h"

/* sweep_tickets */
static const char *const SQL_TICKETS =
	"DELETE FROM stream_tickets WHERE expires_at < NOW(3) LIMIT ?";
/* sweep_rate_limits */
static const char *const SQL_RATE_LIMITS =
	"DELETE FROM rate_limits WHERE window_start < NOW() - INTERVAL ? SECOND LIMIT ?";

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
