/*
 * sweeper: run from cron every minute. Prunes the event log past its
 * retention (cursors older than that get 410 and resync), expired stream
 * tickets and old rate-limit windows.
 */
#include <stdio.h>

#include "db/db.h"
#include "db/events.h"
#include "util/config.h"
#include "util/log.h"

int main(void)
{
	if (config_load() < 0 || db_global_init() < 0)
		return 1;
	struct db *db = db_open();
	if (db == NULL)
		return 1;
	int days = (int)config_int("event_retention_days", 14);
	int eph = (int)config_int("ephemeral_retention_seconds", 3600);
	int64_t total = 0, n;
	do {
		n = events_prune(db, days, eph, 500);
		if (n > 0)
			total += n;
	} while (n > 0);
	db_close(db);
	if (n < 0)
		return 1;
	log_info("sweeper: pruned %lld events", (long long)total);
	return 0;
}
