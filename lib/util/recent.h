/*
 * A process's short memory of keys (three integers) it saw lately, each
 * for a time of its own: direct-mapped (two keys that share a slot
 * forget each other, which only costs a second look elsewhere), one
 * mutex, no allocation. Used where asking memcached or MySQL again for
 * every request would be the cost (sessions confirmed, typing windows).
 */
#ifndef UTIL_RECENT_H
#define UTIL_RECENT_H

#include <pthread.h>
#include <stdint.h>

#define RECENT_SLOTS 1024

struct recent {
	pthread_mutex_t mu;
	struct recent_slot {
		int64_t a, b, c;
		int64_t until_ms;	/* CLOCK_MONOTONIC; 0 empty */
	} slot[RECENT_SLOTS];
};
#define RECENT_INIT {.mu = PTHREAD_MUTEX_INITIALIZER}

/* 1 when (a, b, c) was remembered and its time has not run out. */
int recent_has(struct recent *r, int64_t a, int64_t b, int64_t c);
/* Remembers (a, b, c) for ms from now. */
void recent_put(struct recent *r, int64_t a, int64_t b, int64_t c, int64_t ms);
/* recent_has and, when it is not there, recent_put, in one step: 0 when
 * it was there, else the end of the new entry (for recent_drop). */
int64_t recent_claim(struct recent *r, int64_t a, int64_t b, int64_t c, int64_t ms);
/* Forgets (a, b, c) when it is still the entry that recent_claim made
 * with that end (not a later claim's). */
void recent_drop(struct recent *r, int64_t a, int64_t b, int64_t c, int64_t until_ms);

#endif
