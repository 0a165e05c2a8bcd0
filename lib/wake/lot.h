/*
 * The parking lot: requests waiting for a user's doorbell or a deadline,
 * held without a thread each. One thread follows the doorbell's ring log
 * and a timer heap, and hands each request that is due (rung, or its
 * deadline passed) to the ready callback, once.
 *
 * The no-missed-ring rule: the parker read the user's slot (bell) before
 * its query; lot_park compares the slot with it under the lot's lock, and
 * any ring after that comparison is in the log after the lot's position.
 *
 * A parked request's connection is watched too: when the web server
 * closes it (the client left) or sends anything more, the request is
 * handed back at once with hangup set, so its memory and descriptor do
 * not wait for its deadline.
 */
#ifndef WAKE_LOT_H
#define WAKE_LOT_H

#include <stdint.h>

struct parked {
	struct parked *next, **pprev;	/* the slot's list */
	unsigned slot;
	uint32_t bell;
	int64_t due_ms;			/* clock_ms() */
	int heap_i;
	int fd;				/* watched for hangups; -1 none */
	int rung;			/* handed back by a ring (1) or its timer (0) */
	int hangup;			/* handed back because fd became readable */
};

typedef void (*lot_ready_fn)(struct parked *p);

/* Starts the lot's thread. ready runs on it, without the lot's lock held.
 * Returns 0 or -1. */
int lot_start(lot_ready_fn ready);
/* Parks p until user_id's slot differs from bell, wait_ms pass or fd (the
 * request's connection; -1 for none) becomes readable or closes. When the
 * slot already differs, ready(p) runs at once on the calling thread. */
void lot_park(struct parked *p, int64_t user_id, uint32_t bell, int64_t wait_ms, int fd);
/* Requests parked now (for tests and /health). */
int lot_count(void);

#endif
