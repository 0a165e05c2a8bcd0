/* Clocks: CLOCK_MONOTONIC milliseconds for deadlines and intervals within a
 * process (never for timestamps that leave it); wall-clock milliseconds and
 * the database's times for ages of stored rows. */
#ifndef UTIL_CLOCK_H
#define UTIL_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline int64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds since the epoch (CLOCK_REALTIME): to compare with times
 * that come from elsewhere (the database's). */
static inline int64_t clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A time as the database gives it ("2026-12-04 17:14:23[.123456]", UTC,
 * the connections' time zone) in milliseconds since the epoch, or -1 when
 * it does not read as one. */
static inline int64_t clock_stored_ms(const char *dt)
{
	struct tm tm = {0};
	int used = 0;
	int64_t ms = 0;
	if (dt == NULL || sscanf(dt, "%4d-%2d-%2d %2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
		    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
		return -1;
	if (dt[used] == '.')
		for (int i = 1, scale = 100; i <= 3 && dt[used + i] >= '0' && dt[used + i] <= '9';
		     i++, scale /= 10)
			ms += (dt[used + i] - '0') * scale;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Sleeps ms milliseconds, through interruptions by signals. */
static inline void clock_sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

#endif
