/*
 * sweeper: run from cron every minute. Prunes the event log past its
 * retention (cursors older than that get 410 and resync), expired stream
 * tickets and old rate-limit windows, and announces "offline" for users
 * whose event connections went away.
 */
#include <stdio.h>

#include "cache/cache.h"
#include "db/db.h"
#include "db/events.h"
#include "db/sweep.h"
#include "events/presence.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"
#include "wake/doorbell.h"

/* Runs a batched delete until it returns less than a batch. */
static int64_t drain(struct db *db, int64_t (*fn)(struct db *, int), int batch)
{
	int64_t total = 0, n;
	do {
		n = fn(db, batch);
		if (n > 0)
			total += n;
	} while (n == batch);
	return n < 0 ? -1 : total;
}

static int64_t tickets(struct db *db, int batch)
{
	return sweep_tickets(db, batch);
}

static int64_t rate_limits(struct db *db, int batch)
{
	/* The longest rate-limit window is an hour; keep a day. */
	return sweep_rate_limits(db, 86400, batch);
}

int main(void)
{
	if (config_load() < 0 || db_global_init() < 0)
		return 1;
	/* Presence changes are events: wake their readers like any writer. */
	cache_init(2);
	doorbell_open();
	struct db *db = db_open();
	if (db == NULL)
		return 1;
	int failed = 0;
	int days = (int)config_int("event_retention_days", 14);
	int eph = (int)config_int("ephemeral_retention_seconds", 3600);
	int64_t total = 0, n;
	do {
		n = events_prune(db, days, eph, 500);
		if (n > 0)
			total += n;
	} while (n > 0);
	failed |= n < 0;
	int64_t nt = drain(db, tickets, 1000);
	int64_t nr = drain(db, rate_limits, 1000);
	failed |= nt < 0 || nr < 0;
	struct arena a;
	arena_init(&a);
	int off = presence_sweep(db, &a);
	failed |= off < 0;
	arena_release(&a);
	db_close(db);
	cache_shutdown();
	log_info("sweeper: pruned %lld events, %lld tickets, %lld rate-limit windows; "
		 "%d users went offline%s", (long long)total, (long long)nt, (long long)nr, off,
		failed ? " (with errors)" : "");
	return failed ? 1 : 0;
}
