#include "db/health.h"

static const char *const SQL_PING = "SELECT 1";

int db_health(struct db *db)
{
	if (db_exec(db, SQL_PING, "") < 0)
		return -1;
	while (db_next(db) > 0)
		;
	return 0;
}
