/* Unit tests for lib/wake: a waiter is woken by a ring from another thread,
 * a ring before the wait is never missed, and a timeout returns 0; the ring
 * log reports rung slots in order and says when it overran; the parking lot
 * hands back a parked request once, on a ring or at its deadline. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "util/clock.h"
#include "util/config.h"
#include "wake/doorbell.c"
#include "wake/lot.h"

/* What the lot handed back, in order. */
static pthread_mutex_t got_mu = PTHREAD_MUTEX_INITIALIZER;
static struct parked *got[8];
static int64_t got_at[8];
static int got_hangup[8];
static int ngot;

static void on_ready(struct parked *p)
{
	pthread_mutex_lock(&got_mu);
	if (ngot < 8) {
		got_at[ngot] = clock_ms();
		got_hangup[ngot] = p->hangup;
		got[ngot++] = p;
	}
	pthread_mutex_unlock(&got_mu);
}

static int wait_got(int n, int ms)
{
	for (int i = 0; i < ms; i++) {
		pthread_mutex_lock(&got_mu);
		int k = ngot;
		pthread_mutex_unlock(&got_mu);
		if (k >= n)
			return k;
		usleep(1000);
	}
	return ngot;
}

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

	/* The hosts list: another host counts while its entry is unexpired. */
	int64_t mine;
	CHECK_EQ(doorbell_hosts_parse("", "aaaa", 150, &mine), 0);
	CHECK_EQ(mine, 0);
	CHECK_EQ(doorbell_hosts_parse("aaaa:200", "aaaa", 150, &mine), 0);
	CHECK_EQ(mine, 200);
	CHECK_EQ(doorbell_hosts_parse("aaaa:100 bbbb:200", "aaaa", 150, &mine), 1);
	CHECK_EQ(mine, 0);
	CHECK_EQ(doorbell_hosts_parse("aaaa:300 bbbb:200", "aaaa", 250, &mine), 0);
	CHECK_EQ(mine, 300);
	CHECK_EQ(doorbell_hosts_parse("bbbb", "aaaa", 0, &mine), 0);
	CHECK_EQ(doorbell_hosts_parse(":5 bbbb:x", "aaaa", 0, &mine), 0);
	CHECK_EQ(doorbell_hosts_parse("aaaaa:300", "aaaa", 0, &mine), 1);

	/* The ring log: rings in order, by slot; a kick names no slot. */
	uint32_t pos = doorbell_log_pos();
	unsigned rung[8];
	CHECK_EQ(doorbell_log_read(&pos, rung, 8, 0), 0);
	doorbell_ring(uid);
	int64_t two[2] = {uid + 1, uid};
	doorbell_ring_many(two, 2);
	doorbell_log_kick();
	CHECK_EQ(doorbell_log_read(&pos, rung, 8, 1000), 3);
	CHECK_EQ(rung[0], doorbell_slot(uid));
	CHECK_EQ(rung[1], doorbell_slot(uid + 1));
	CHECK_EQ(rung[2], doorbell_slot(uid));
	CHECK_EQ(pos, doorbell_log_pos());
	/* A wait with nothing new times out empty. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(doorbell_log_read(&pos, rung, 8, 50), 0);
	CHECK(ms_since(&t0) >= 40);
	/* Every slot of a shard in one entry. */
	pos = doorbell_log_pos();
	ring_shard(doorbell_shard(uid));
	CHECK_EQ(doorbell_log_read(&pos, rung, 8, 0), 1);
	CHECK_EQ(rung[0], DOORBELL_SLOTS + (unsigned)doorbell_shard(uid));
	CHECK(doorbell_read(uid) != v);
	/* A reader more than a whole log behind learns that it lost rings. */
	for (int i = 0; i < DOORBELL_LOG + 5; i++)
		doorbell_ring(uid);
	CHECK_EQ(doorbell_log_read(&pos, rung, 8, 0), -1);
	CHECK_EQ(pos, doorbell_log_pos());

	/* The lot. */
	CHECK_EQ(lot_start(on_ready), 0);
	struct parked a, b, c, d;
	/* A ring after the bell was read: handed back at once, on this thread. */
	v = doorbell_read(uid);
	doorbell_ring(uid);
	lot_park(&a, uid, v, 60000, -1);
	CHECK_EQ(wait_got(1, 10), 1);
	CHECK(got[0] == &a);
	CHECK_EQ(lot_count(), 0);
	/* A ring while parked: handed back long before the deadline. */
	v = doorbell_read(uid);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	lot_park(&b, uid, v, 60000, -1);
	lot_park(&c, uid + 1, doorbell_read(uid + 1), 60000, -1);
	CHECK_EQ(lot_count(), 2);
	pthread_create(&t, NULL, ringer, &uid);
	CHECK_EQ(wait_got(2, 5000), 2);
	CHECK(got[1] == &b);
	CHECK(ms_since(&t0) < 2000);
	pthread_join(t, NULL);
	CHECK_EQ(lot_count(), 1);
	/* A deadline sooner than everything parked wakes the lot's thread,
	 * which otherwise sleeps until the earliest one. */
	int64_t parked_at = clock_ms();
	lot_park(&d, uid + 2, doorbell_read(uid + 2), 150, -1);
	CHECK_EQ(wait_got(3, 5000), 3);
	CHECK(got[2] == &d);
	CHECK(got_at[2] - parked_at >= 140);
	CHECK(got_at[2] - parked_at < 1000);
	/* Handed back once: more rings of a returned request change nothing. */
	doorbell_ring(uid);
	usleep(50 * 1000);
	CHECK_EQ(wait_got(4, 0), 3);
	CHECK_EQ(lot_count(), 1);
	CHECK_EQ(got_hangup[1], 0);
	CHECK_EQ(got_hangup[2], 0);

	/* The connection of a parked request closes: handed back at once. */
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct parked e;
	int64_t at = clock_ms();
	lot_park(&e, uid + 3, doorbell_read(uid + 3), 60000, sv[0]);
	CHECK_EQ(lot_count(), 2);
	usleep(50 * 1000);
	CHECK_EQ(wait_got(4, 0), 3); /* an open connection alone wakes nothing */
	close(sv[1]);
	CHECK_EQ(wait_got(4, 5000), 4);
	CHECK(got[3] == &e);
	CHECK_EQ(got_hangup[3], 1);
	CHECK(got_at[3] - at < 2000);
	CHECK_EQ(lot_count(), 1);
	close(sv[0]);

	/* Another host's hint rings a whole shard: its parked requests come
	 * back, the others stay. */
	struct parked f;
	lot_park(&f, uid + 5, doorbell_read(uid + 5), 60000, -1);
	ring_shard(doorbell_shard(uid + 5));
	wake_log_readers();
	CHECK_EQ(wait_got(5, 5000), 5);
	CHECK(got[4] == &f);
	CHECK_EQ(got_hangup[4], 0);
	CHECK_EQ(lot_count(), doorbell_shard(uid + 1) == doorbell_shard(uid + 5) ? 0 : 1);
	unlink(path);
	return CHECK_DONE();
}
