/* Housekeeping statements for cron/sweeper (events are pruned by
 * events_prune_ephemeral() and events_prune_old() in db/events.h). */
#ifndef DB_SWEEP_H
#define DB_SWEEP_H

#include <stdint.h>

#include "db/db.h"

/* Deletes up to batch stream tickets that expired. Returns the count or -1. */
int64_t sweep_tickets(struct db *db, int batch);
/* Deletes up to batch rate-limit windows that started more than older_s
 * seconds ago. Returns the count or -1. */
int64_t sweep_rate_limits(struct db *db, int64_t older_s, int batch);
/* Deletes up to batch sessions that expired more than older_s seconds ago
 * (ended ones too, once they would have expired; their refresh tokens go
 * with them). Returns the count or -1. */
int64_t sweep_sessions(struct db *db, int64_t older_s, int batch);
/* Deletes up to batch refresh tokens rotated more than older_s seconds ago
 * (a replay of one then finds nothing, instead of ending its session).
 * Returns the count or -1. */
int64_t sweep_rotated(struct db *db, int64_t older_s, int batch);
/* Up to max accounts deleted within the last within_s seconds that are
 * still members of a group (their deletion could not finish leaving them,
 * or an add crossed it). Fills out; the count or -1. */
int sweep_deleted_members(struct db *db, int64_t within_s, int max, int64_t *out);
/* Closes the still open direct conversations of accounts deleted within the
 * last within_s seconds; how many, or -1. */
int64_t sweep_close_direct(struct db *db, int64_t within_s);
/* Takes the sweeper's lock on this connection, waiting up to wait_s for a
 * run that holds it. 1 taken, 0 not (another run), -1 error. */
int sweep_lock(struct db *db, int wait_s);

#endif
