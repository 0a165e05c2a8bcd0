/*
 * Stream tickets: short-lived single-use credentials that let EventSource
 * (which cannot send headers) open GET /events/stream. Only the SHA-256 of a
 * ticket is stored.
 */
#ifndef DB_TICKETS_H
#define DB_TICKETS_H

#include <stdint.h>

#include "db/db.h"

/* Stores a ticket for (uid, sid) that expires in ttl_s seconds. 0 or -1. */
int tickets_create(struct db *db, const unsigned char hash[32], int64_t uid, int64_t sid,
	int ttl_s);
/* Consumes a ticket: it is deleted whether or not it was still valid, and
 * only the caller whose DELETE removed it may use it, so a ticket opens one
 * stream at most. Returns 1 (valid; *uid and *sid set), 0 (unknown, used or
 * expired), or -1. */
int tickets_take(struct db *db, const unsigned char hash[32], int64_t *uid, int64_t *sid);

#endif
