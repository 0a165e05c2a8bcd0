/* Milliseconds of CLOCK_MONOTONIC: for deadlines and intervals within a
 * process (never for timestamps that leave it). */
#ifndef UTIL_CLOCK_H
#define UTIL_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

static inline int64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds, through interruptions by signals. */
static inline void clock_sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

#endif
