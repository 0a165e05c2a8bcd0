/*
 * How many event requests (long-polls and streams) each user has open in
 * this process, so that one account cannot take the connections that
 * thousands of others wait on (lighttpd holds two descriptors per waiter,
 * and a process may open 20,000 here).
 *
 * At the limit the newest request is taken and the user's oldest is asked
 * to end: a client that vanished without closing (a phone losing its
 * network) leaves a stream that lives on until a write fails or its time
 * is up, and a user whose device reconnects again and again must not be
 * locked out by their own dead connections.
 */
#ifndef EVENTS_QUOTA_H
#define EVENTS_QUOTA_H

#include <stdint.h>

/* One open request; lives in the request's own memory until quota_leave. */
struct quota_ticket {
	int64_t uid;
	_Atomic int evicted;	/* set when a newer request took its place */
	struct quota_ticket *older, *newer;
};

enum {
	QUOTA_REFUSED = 0,	/* too many of the user's requests are ending */
	QUOTA_TAKEN = 1,
	QUOTA_TAKEN_EVICTING = 2, /* taken; the oldest must end: ring the user */
};

/* Counts t as one more open request of uid (at most max live ones). */
int quota_enter(struct quota_ticket *t, int64_t uid, int max);
/* Counts t's request as ended. */
void quota_leave(struct quota_ticket *t);
/* uid's open requests, those asked to end included (tests). */
int quota_count(int64_t uid);
/* The hash bucket of uid (tests). */
unsigned quota_bucket(int64_t uid);

#endif
