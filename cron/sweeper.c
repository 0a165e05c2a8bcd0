/*
 * sweeper: run from cron every minute. Announces "offline" for users whose
 * event connections went away, prunes the event log past its retention
 * (cursors older than that get 410 and resync), and deletes expired stream
 * tickets, old rate-limit windows and sessions ended long ago. It also
 * finishes account deletions that could not leave every group.
 *
 * One run at a time (a lock in the database: a run that meets another
 * waits for it, up to most of a minute, rather than scan beside it), and
 * each run within a time budget (sweeper_max_seconds): a backlog is worked
 * off over several runs, and a busy server, whose events keep passing the
 * limits while a run works, never keeps one going.
 */
#include <stdio.h>

#include "cache/cache.h"
#include "chat/chat.h"
#include "db/db.h"
#include "db/events.h"
#include "db/sweep.h"
#include "events/presence.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"
#include "wake/doorbell.h"

#define LOCK_WAIT_S 55
#define EPHEMERAL_BATCH 10000
#define PRUNE_ROWS 5000

static int64_t deadline;

/* Runs a batched delete while it returns full batches and time is left. */
static int64_t drain(struct db *db, int64_t (*fn)(struct db *, int), int batch)
{
	int64_t total = 0, n;
	do {
		n = fn(db, batch);
		if (n > 0)
			total += n;
	} while (n == batch && clock_ms() < deadline);
	return n < 0 ? -1 : total;
}

static int64_t tickets(struct db *db, int batch)
{
	return sweep_tickets(db, batch);
}

static int64_t rate_limits(struct db *db, int batch)
{
	/* A window may be a day long (login_window_seconds), and the sliding
	 * count reads the one before the current: keep two days. */
	return sweep_rate_limits(db, 2 * 86400, batch);
}

static int64_t sessions(struct db *db, int batch)
{
	return sweep_sessions(db, 86400, batch);
}

static int64_t rotated(struct db *db, int batch)
{
	/* Kept a week: a replay of one that recent still ends its session. */
	return sweep_rotated(db, 7 * 86400, batch);
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
	int locked = sweep_lock(db, LOCK_WAIT_S);
	if (locked <= 0) {
		if (locked == 0)
			log_warn("sweeper: another run still holds the lock after %d s; this one ends",
				LOCK_WAIT_S);
		db_close(db);
		cache_shutdown();
		return locked < 0;
	}
	deadline = clock_ms() + config_int_range("sweeper_max_seconds", 45, 5, 3600) * 1000;
	int failed = 0;

	/* Presence first: the minute's most visible work. */
	struct arena a;
	arena_init(&a);
	int off = presence_sweep(db, &a);
	failed |= off < 0;
	arena_release(&a);

	/* Account deletions of the last week that could not leave every group
	 * (each run tries them again, the newest first; one still failing
	 * after a week is left, logged every run until then). */
	int64_t gone[256];
	int ng = sweep_deleted_members(db, 7 * 86400, 256, gone);
	failed |= ng < 0;
	for (int i = 0; i < ng && clock_ms() < deadline; i++) {
		arena_init(&a);
		if (chat_leave_groups(db, &a, gone[i]) < 0)
			failed = 1;
		else
			log_info("sweeper: deleted account %lld left its remaining groups",
				(long long)gone[i]);
		arena_release(&a);
	}

	/* A direct conversation created while its peer's deletion committed
	 * (the deletion closes the others itself). */
	int64_t nc = sweep_close_direct(db, 7 * 86400);
	failed |= nc < 0;
	if (nc > 0)
		log_info("sweeper: closed %lld direct conversations of deleted accounts", (long long)nc);

	int ephemeral_s = (int)config_int_range("ephemeral_retention_seconds", 3600, 60, 86400);
	int64_t ne = events_prune_ephemeral(db, ephemeral_s, EPHEMERAL_BATCH, deadline);
	failed |= ne < 0;
	int days = (int)config_int_range("event_retention_days", 14, 1, 3650);
	int64_t total = ne > 0 ? ne : 0, n;
	int more;
	do {
		n = events_prune_old(db, days, PRUNE_ROWS, deadline, &more);
		if (n > 0)
			total += n;
	} while (n >= 0 && more && clock_ms() < deadline);
	failed |= n < 0;
	int64_t nt = drain(db, tickets, 1000);
	int64_t nr = drain(db, rate_limits, 1000);
	int64_t ns = drain(db, sessions, 1000);
	int64_t nk = drain(db, rotated, 1000);
	failed |= nt < 0 || nr < 0 || ns < 0 || nk < 0;
	db_close(db);
	cache_shutdown();
	log_info("sweeper: pruned %lld events, %lld tickets, %lld rate-limit windows, %lld "
		 "sessions, %lld rotated tokens; %d users went offline%s%s", (long long)total,
		(long long)nt, (long long)nr, (long long)ns, (long long)nk, off > 0 ? off : 0,
		clock_ms() >= deadline ? " (time budget spent; the next run goes on)" : "",
		failed ? " (with errors)" : "");
	return failed ? 1 : 0;
}
