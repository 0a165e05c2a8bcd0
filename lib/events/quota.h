/*
 * How many event requests (long-polls and streams) each user has open in
 * this process, so that one account cannot take the connections that
 * thousands of others wait on (lighttpd holds two descriptors per waiter,
 * and a process may open 20,000 here).
 */
#ifndef EVENTS_QUOTA_H
#define EVENTS_QUOTA_H

#include <stdint.h>

/* Counts one more open request of uid; 1, or 0 (counting nothing) when
 * uid already has max open. */
int quota_enter(int64_t uid, int max);
/* Counts one of uid's requests as ended. */
void quota_leave(int64_t uid);
/* uid's open requests (tests). */
int quota_count(int64_t uid);

#endif
