/* Housekeeping statements for cron/sweeper (events are pruned by
 * events_prune() in db/events.h). */
#ifndef DB_SWEEP_H
#define DB_SWEEP_H

#include <stdint.h>

#include "db/db.h"

/* Deletes up to batch stream tickets that expired. Returns the count or -1. */
int64_t sweep_tickets(struct db *db, int batch);
/* Deletes up to batch rate-limit windows that started more than older_s
 * seconds ago. Returns the count or -1. */
int64_t sweep_rate_limits(struct db *db, int64_t older_s, int batch);

#endif
