#include "wake/doorbell.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"
#include "util/stack.h"

/* The shared file: DOORBELL_SLOTS wake counters, then DOORBELL_SHARDS
 * counters of the cross-host hints this host itself sent per shard. */
static uint32_t *slots;
static uint32_t *sent;
static uint32_t local_slots[DOORBELL_SLOTS + DOORBELL_SHARDS]; /* when shm cannot be mapped */
static int cross_host;

static unsigned slot_of(int64_t user_id)
{
	/* Multiplicative hash; the low 8 bits of the slot are the shard, so the
	 * watcher can ring every slot of one shard. */
	uint64_t h = (uint64_t)user_id * 0x9E3779B97F4A7C15ull;
	unsigned hi = (unsigned)(h >> 56) & 0xFF;
	return (hi << 8) | (unsigned)doorbell_shard(user_id);
}

int doorbell_shard(int64_t user_id)
{
	return (int)((uint64_t)user_id % DOORBELL_SHARDS);
}

int doorbell_open(void)
{
	cross_host = config_str("memcached", NULL) != NULL && config_int("wake_cross_host", 1);
	const char *path = config_str("doorbell_path", "/dev/shm/messenger-doorbell");
	size_t size = (DOORBELL_SLOTS + DOORBELL_SHARDS) * sizeof(uint32_t);
	sent = local_slots + DOORBELL_SLOTS;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("doorbell: cannot open %s (%s); same-process wake-ups only", path,
			strerror(errno));
		slots = local_slots;
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && (size_t)st.st_size < size && ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		slots = local_slots;
		return -1;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		slots = local_slots;
		return -1;
	}
	slots = p;
	sent = slots + DOORBELL_SLOTS;
	return 0;
}

static uint32_t *slot_ptr(int64_t user_id)
{
	if (slots == NULL) {
		slots = local_slots;
		sent = local_slots + DOORBELL_SLOTS;
	}
	return &slots[slot_of(user_id)];
}

uint32_t doorbell_read(int64_t user_id)
{
	return __atomic_load_n(slot_ptr(user_id), __ATOMIC_ACQUIRE);
}

int doorbell_wait(int64_t user_id, uint32_t seen, int timeout_ms)
{
	uint32_t *p = slot_ptr(user_id);
	if (__atomic_load_n(p, __ATOMIC_ACQUIRE) != seen)
		return 1;
	struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
	/* A parked waiter holds only the stack pages above this frame. */
	stack_trim();
	/* Shared (not PRIVATE) futex: the waker may be another process. */
	syscall(SYS_futex, p, FUTEX_WAIT, seen, &ts, NULL, 0);
	return __atomic_load_n(p, __ATOMIC_ACQUIRE) != seen;
}

static void ring_slot(uint32_t *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, p, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void doorbell_ring(int64_t user_id)
{
	ring_slot(slot_ptr(user_id));
}

void doorbell_ring_many(const int64_t *user_ids, int n)
{
	unsigned char shard_seen[DOORBELL_SHARDS];
	memset(shard_seen, 0, sizeof(shard_seen));
	for (int i = 0; i < n; i++) {
		doorbell_ring(user_ids[i]);
		shard_seen[doorbell_shard(user_ids[i])] = 1;
	}
	if (!cross_host)
		return;
	for (int s = 0; s < DOORBELL_SHARDS; s++) {
		if (!shard_seen[s])
			continue;
		char key[CACHE_KEY_MAX];
		cache_key(key, "wake", s);
		/* Count our own hint first, so this host's watcher can tell it
		 * from other hosts' and skip re-ringing what we just rang. */
		__atomic_add_fetch(&sent[s], 1, __ATOMIC_SEQ_CST);
		if (cache_incr(key, NULL) < 0) {
			__atomic_sub_fetch(&sent[s], 1, __ATOMIC_SEQ_CST);
			break; /* memcached down: other hosts wake at their timeout */
		}
	}
}

/*
 * The watcher: every wake_poll_ms, multi-get the shard counters. A shard's
 * counter minus the hints this host sent to it is what other hosts sent;
 * when that grows, ring the local slots of that shard. Our own hints were
 * rung locally by the sender already, so single-host traffic causes no
 * extra wake-ups. (A hint racing with one of ours may be seen one poll
 * later; a missed poll rings everyone once on recovery.)
 */
static void *watcher(void *arg)
{
	(void)arg;
	static char keybuf[DOORBELL_SHARDS][CACHE_KEY_MAX];
	static int64_t prev_remote[DOORBELL_SHARDS];
	const char *keys[DOORBELL_SHARDS];
	struct arena a;
	arena_init(&a);
	for (int s = 0; s < DOORBELL_SHARDS; s++) {
		cache_key(keybuf[s], "wake", s);
		keys[s] = keybuf[s];
	}
	int have_prev = 0, lost = 0;
	long interval = config_int("wake_poll_ms", 25);
	if (interval < 1)
		interval = 1;
	for (;;) {
		char *vals[DOORBELL_SHARDS];
		arena_reset(&a);
		if (cache_mget(keys, DOORBELL_SHARDS, &a, vals) == 0) {
			/* After an outage every hint in between is unknown: ring
			 * everyone once (a spurious re-check each, never a delay). */
			if (lost) {
				for (unsigned i = 0; i < DOORBELL_SLOTS; i++)
					ring_slot(&slots[i]);
				lost = 0;
			}
			for (int s = 0; s < DOORBELL_SHARDS; s++) {
				int64_t total = vals[s] ? (int64_t)strtoull(vals[s], NULL, 10) : 0;
				int64_t mine = (int64_t)__atomic_load_n(&sent[s], __ATOMIC_SEQ_CST);
				int64_t remote = total - mine;
				if (have_prev && remote > prev_remote[s]) {
					for (unsigned hi = 0; hi < 256; hi++)
						ring_slot(&slots[(hi << 8) | (unsigned)s]);
				}
				prev_remote[s] = remote;
			}
			have_prev = 1;
		} else {
			lost = lost || have_prev;
			have_prev = 0;
		}
		struct timespec ts = {interval / 1000, (interval % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int doorbell_watch_start(void)
{
	if (!cross_host)
		return 0;
	if (slots == NULL) {
		slots = local_slots;
		sent = local_slots + DOORBELL_SLOTS;
	}
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	int rc = pthread_create(&t, &attr, watcher, NULL);
	pthread_attr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}
