/* Unit tests for lib/wake: a waiter is woken by a ring from another thread,
 * a ring before the wait is never missed, and a timeout returns 0. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "util/config.h"
#include "wake/doorbell.h"

static void *ringer(void *arg)
{
	usleep(50 * 1000);
	doorbell_ring(*(int64_t *)arg);
	return NULL;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/dev/shm/messenger-unit-%d", (int)getpid());
	setenv("MESSENGER_DOORBELL_PATH", path, 1);
	setenv("MESSENGER_CONF", "/nonexistent", 1);
	CHECK_EQ(config_load(), 0);
	CHECK_EQ(doorbell_open(), 0);

	int64_t uid = 4242;
	/* Timeout with no ring. */
	uint32_t v = doorbell_read(uid);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(doorbell_wait(uid, v, 100), 0);
	CHECK(ms_since(&t0) >= 90);

	/* A ring between read and wait is not missed. */
	v = doorbell_read(uid);
	doorbell_ring(uid);
	CHECK_EQ(doorbell_wait(uid, v, 5000), 1);

	/* A ring from another thread wakes a waiter long before its timeout. */
	v = doorbell_read(uid);
	pthread_t t;
	pthread_create(&t, NULL, ringer, &uid);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(doorbell_wait(uid, v, 5000), 1);
	CHECK(ms_since(&t0) < 2000);
	pthread_join(t, NULL);

	/* Shards: the slot's low byte is the user's shard. */
	CHECK_EQ(doorbell_shard(256 + 7), 7);
	unlink(path);
	return CHECK_DONE();
}
