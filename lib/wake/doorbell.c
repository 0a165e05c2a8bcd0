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
#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"
#include "util/stack.h"

/*
 * The shared file: DOORBELL_SLOTS wake counters; DOORBELL_SHARDS counters
 * of the cross-host hints this host itself sent per shard; a header of 16
 * words (the log's head, the number of threads blocked on a slot, the
 * host's epoch, the epoch hints this host sent); then
 * the ring log, DOORBELL_LOG entries of (stamp << 32 | slot), where the
 * stamp of the ring at position pos is pos + 1 (mod 2^32).
 */
#define HDR_WORDS 16
#define SHM_WORDS (DOORBELL_SLOTS + DOORBELL_SHARDS + HDR_WORDS + 2 * DOORBELL_LOG)

static uint32_t *slots;
static uint32_t *sent;
static uint32_t *log_head;	/* futex word: rings appended so far */
static uint32_t *blocked;	/* threads in doorbell_wait, all processes */
static uint32_t *epoch;		/* doorbell_epoch */
static uint32_t *epoch_sent;	/* of EPOCH_KEY's count, this host's bumps */
static uint64_t *ring_log;
/* When the file cannot be mapped: this process only. */
static uint64_t local_words[SHM_WORDS / 2];
static int cross_host;

/*
 * Who else is there: hosts (doorbell files) announce themselves in one
 * memcached key, HOSTS_KEY = "id:expiry id:expiry ..." (unix seconds).
 * Hints go to memcached, and the watcher polls the shard counters, only
 * while some other host is listed, so a single host pays nothing for
 * being able to scale out. An events process (its watcher) renews its
 * entry; every process re-reads the key at most every HOSTS_CHECK_MS.
 */
#define HOSTS_KEY "m:wake-hosts"
/* Counts the epoch bumps of every host (sessions ended): another host's
 * bump bumps ours, so a session ended there stops passing here at once
 * too, not only after this host's own short session cache. */
#define EPOCH_KEY "m:wake-epoch"
#define HOSTS_MAX 32
/* An entry lives HOST_TTL_S after its renewal (hosts' clocks must agree
 * to within a few seconds), renewed every HOST_RENEW_S: a host that is
 * gone stops costing the others hints within HOST_TTL_S. */
#define HOST_TTL_S 15
#define HOST_RENEW_S 5
#define HOSTS_CHECK_MS 250
/* After a host (re)appears in the list, it rings all its waiters once this
 * much later: by then every process has seen it, and whatever was sent
 * before without a hint is read. */
#define HOSTS_SETTLE_MS 750

static char host_id[17];
static int others_present;	/* atomic: another host is listed */
static int64_t others_checked_ms;	/* atomic */

static void layout(uint32_t *base)
{
	slots = base;
	sent = base + DOORBELL_SLOTS;
	log_head = sent + DOORBELL_SHARDS;
	blocked = log_head + 1;
	epoch = log_head + 2;
	epoch_sent = log_head + 3;
	ring_log = (uint64_t *)(void *)(log_head + HDR_WORDS);
}

static unsigned slot_of(int64_t user_id)
{
	/* Multiplicative hash; the low 8 bits of the slot are the shard, so the
	 * watcher can ring every slot of one shard. */
	uint64_t h = (uint64_t)user_id * 0x9E3779B97F4A7C15ull;
	return doorbell_shard_slot(doorbell_shard(user_id), (unsigned)(h >> 56) & 0xFF);
}

unsigned doorbell_shard_slot(int shard, unsigned i)
{
	return (i << 8) | (unsigned)shard;
}

int doorbell_shard(int64_t user_id)
{
	return (int)((uint64_t)user_id % DOORBELL_SHARDS);
}

/* A host is its name and its doorbell file: processes sharing the file
 * wake each other without memcached. FNV-1a, in hex. */
static void make_host_id(const char *path)
{
	char name[256] = "";
	gethostname(name, sizeof(name) - 1);
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *s = name; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	h = (h ^ '/') * 0x100000001b3ull;
	for (const char *s = path; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	snprintf(host_id, sizeof(host_id), "%016llx", (unsigned long long)h);
}

/* Calls fn for each well-formed "id:expiry" entry of a hosts list. */
static void hosts_each(const char *val, void (*fn)(const char *id, size_t idlen, int64_t exp,
	void *ctx), void *ctx)
{
	const char *p = val;
	while (p != NULL && *p) {
		while (*p == ' ')
			p++;
		const char *colon = strchr(p, ':');
		if (colon == NULL || colon == p || colon - p > 16)
			return;
		char *end;
		long long exp = strtoll(colon + 1, &end, 10);
		if (end == colon + 1)
			return;
		fn(p, (size_t)(colon - p), exp, ctx);
		p = end;
	}
}

struct hosts_scan {
	const char *me;
	int64_t now_s, my_expiry;
	int others;
};

static void scan_one(const char *id, size_t idlen, int64_t exp, void *ctx)
{
	struct hosts_scan *h = ctx;
	if (exp <= h->now_s)
		return;
	if (idlen == strlen(h->me) && memcmp(id, h->me, idlen) == 0)
		h->my_expiry = exp;
	else
		h->others = 1;
}

int doorbell_hosts_parse(const char *val, const char *me, int64_t now_s, int64_t *my_expiry)
{
	struct hosts_scan h = {me, now_s, 0, 0};
	hosts_each(val, scan_one, &h);
	*my_expiry = h.my_expiry;
	return h.others;
}

struct hosts_out {
	char *buf;
	size_t len, cap;
	int count;
	int64_t now_s;
};

static void keep_one(const char *id, size_t idlen, int64_t exp, void *ctx)
{
	struct hosts_out *o = ctx;
	int mine = idlen == strlen(host_id) && memcmp(id, host_id, idlen) == 0;
	if (mine || exp <= o->now_s || o->count >= HOSTS_MAX)
		return;
	int n = snprintf(o->buf + o->len, o->cap - o->len, " %.*s:%lld", (int)idlen, id,
		(long long)exp);
	if (n > 0 && (size_t)n < o->cap - o->len) {
		o->len += (size_t)n;
		o->count++;
	}
}

/* The list with our entry renewed (first) and expired ones dropped. */
static char *hosts_renewed(struct arena *a, const char *val, int64_t now_s)
{
	struct hosts_out o = {arena_alloc(a, (size_t)HOSTS_MAX * 40 + 1), 0,
		(size_t)HOSTS_MAX * 40 + 1, 1, now_s};
	o.len = (size_t)snprintf(o.buf, o.cap, "%s:%lld", host_id, (long long)(now_s + HOST_TTL_S));
	hosts_each(val, keep_one, &o);
	return o.buf;
}

/* Whether another host is listed, re-read at most every HOSTS_CHECK_MS.
 * When memcached cannot tell, the last answer stands. */
static int others(void)
{
	int64_t now = clock_ms();
	if (now - __atomic_load_n(&others_checked_ms, __ATOMIC_RELAXED) >= HOSTS_CHECK_MS) {
		__atomic_store_n(&others_checked_ms, now, __ATOMIC_RELAXED);
		struct arena a;
		arena_init_block(&a, 512);
		char *val;
		int rc = cache_get(HOSTS_KEY, &a, &val, NULL);
		if (rc >= 0) {
			int64_t mine;
			int o = rc == 1 && doorbell_hosts_parse(val, host_id, (int64_t)time(NULL), &mine);
			__atomic_store_n(&others_present, o, __ATOMIC_RELAXED);
		}
		arena_release(&a);
	}
	return __atomic_load_n(&others_present, __ATOMIC_RELAXED);
}

int doorbell_open(void)
{
	cross_host = config_str("memcached", NULL) != NULL && config_int("wake_cross_host", 1);
	const char *path = config_str("doorbell_path", "/dev/shm/messenger-doorbell");
	make_host_id(path);
	size_t size = SHM_WORDS * sizeof(uint32_t);
	layout((uint32_t *)local_words);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("doorbell: cannot open %s (%s); same-process wake-ups only", path,
			strerror(errno));
		return -1;
	}
	/* An older, shorter file grows; the new part reads as zeros. */
	struct stat st;
	if (fstat(fd, &st) != 0 ||
	    ((size_t)st.st_size < size && ftruncate(fd, (off_t)size) != 0)) {
		close(fd);
		return -1;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	layout(p);
	return 0;
}

static void ensure_layout(void)
{
	if (slots == NULL)
		layout((uint32_t *)local_words);
}

static uint32_t *slot_ptr(int64_t user_id)
{
	ensure_layout();
	return &slots[slot_of(user_id)];
}

int doorbell_cross_host(void)
{
	return cross_host && others();
}

unsigned doorbell_slot(int64_t user_id)
{
	return slot_of(user_id);
}

uint32_t doorbell_slot_read(unsigned slot)
{
	ensure_layout();
	return __atomic_load_n(&slots[slot % DOORBELL_SLOTS], __ATOMIC_ACQUIRE);
}

static long futex(uint32_t *p, int op, uint32_t val, const struct timespec *ts)
{
	/* Shared (not PRIVATE) futexes: the other side may be another process. */
	return syscall(SYS_futex, p, op, val, ts, NULL, 0);
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
	/* Counted, so that ringers skip the wake-up call while nobody blocks
	 * on a slot (event loops follow the log instead). The count is raised
	 * before the slot is checked again by FUTEX_WAIT, and a ringer bumps
	 * the slot before reading the count, so one of the two sees the other. */
	__atomic_add_fetch(blocked, 1, __ATOMIC_SEQ_CST);
	futex(p, FUTEX_WAIT, seen, &ts);
	__atomic_sub_fetch(blocked, 1, __ATOMIC_SEQ_CST);
	return __atomic_load_n(p, __ATOMIC_ACQUIRE) != seen;
}

/* A log entry that names no slot: it only ends the readers' waits. */
#define NO_SLOT 0xFFFFFFFFu
/* A log entry that names every slot. */
#define ALL_SLOTS 0xFFFFFFFEu
/* Entries from SHARD_BASE name every slot of one shard. */
#define SHARD_BASE 0xFFFF0000u

static void log_append(uint32_t slot)
{
	uint32_t pos = __atomic_fetch_add(log_head, 1, __ATOMIC_SEQ_CST);
	uint64_t e = ((uint64_t)(pos + 1) << 32) | slot;
	__atomic_store_n(&ring_log[pos % DOORBELL_LOG], e, __ATOMIC_RELEASE);
}

/* Bumps a slot and appends it to the log; the caller wakes log readers. */
static void ring_slot(uint32_t *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(blocked, __ATOMIC_SEQ_CST) > 0)
		futex(p, FUTEX_WAKE, INT_MAX, NULL);
	log_append((uint32_t)(p - slots));
}

uint32_t doorbell_epoch(void)
{
	ensure_layout();
	return __atomic_load_n(epoch, __ATOMIC_SEQ_CST);
}

void doorbell_epoch_bump(void)
{
	ensure_layout();
	__atomic_add_fetch(epoch, 1, __ATOMIC_SEQ_CST);
	/* Before the caller's rings: a watcher that sees their hints reads
	 * this counter after them (the last key of its multi-get), and bumps
	 * its host's epoch before it rings. */
	if (!cross_host || !others())
		return;
	__atomic_add_fetch(epoch_sent, 1, __ATOMIC_SEQ_CST);
	if (cache_incr(EPOCH_KEY, NULL) < 0)
		__atomic_sub_fetch(epoch_sent, 1, __ATOMIC_SEQ_CST);
}

static void wake_log_readers(void)
{
	futex(log_head, FUTEX_WAKE, INT_MAX, NULL);
}

/* Rings the 256 slots of a shard (another host's hint): one log entry. */
static void ring_shard(int s)
{
	for (unsigned hi = 0; hi < 256; hi++)
		__atomic_add_fetch(&slots[doorbell_shard_slot(s, hi)], 1, __ATOMIC_SEQ_CST);
	/* The count of blocked waiters is read after the bumps (as in
	 * ring_slot): one that blocks meanwhile sees its slot moved. */
	if (__atomic_load_n(blocked, __ATOMIC_SEQ_CST) > 0) {
		for (unsigned hi = 0; hi < 256; hi++)
			futex(&slots[doorbell_shard_slot(s, hi)], FUTEX_WAKE, INT_MAX, NULL);
	}
	log_append(SHARD_BASE + (uint32_t)s);
}

/* Rings every slot: one log entry that tells readers to check everyone.
 * Hints may have been missed, another host's epoch bumps among them: the
 * epoch moves too (each session is checked again once). */
static void ring_all(void)
{
	__atomic_add_fetch(epoch, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < DOORBELL_SLOTS; i++)
		__atomic_add_fetch(&slots[i], 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(blocked, __ATOMIC_SEQ_CST) > 0) {
		for (unsigned i = 0; i < DOORBELL_SLOTS; i++)
			futex(&slots[i], FUTEX_WAKE, INT_MAX, NULL);
	}
	log_append(ALL_SLOTS);
	wake_log_readers();
}

void doorbell_ring(int64_t user_id)
{
	ring_slot(slot_ptr(user_id));
	wake_log_readers();
}

void doorbell_ring_many(const int64_t *user_ids, int n)
{
	unsigned char shard_seen[DOORBELL_SHARDS];
	memset(shard_seen, 0, sizeof(shard_seen));
	for (int i = 0; i < n; i++) {
		ring_slot(slot_ptr(user_ids[i]));
		shard_seen[doorbell_shard(user_ids[i])] = 1;
	}
	if (n > 0)
		wake_log_readers();
	if (!cross_host || n == 0 || !others())
		return;
	int failed = 0;
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
			/* One server of a pool may be down while the others hold
			 * the rest of the shards; after a few failures memcached
			 * is taken as gone (other hosts wake at their timeout, or
			 * all at once when their watcher sees it back). */
			if (++failed >= 3)
				break;
		}
	}
}

uint32_t doorbell_log_pos(void)
{
	ensure_layout();
	return __atomic_load_n(log_head, __ATOMIC_ACQUIRE);
}

void doorbell_log_kick(void)
{
	/* Moving the head (not only waking) also ends a wait that is about to
	 * start with the old head. */
	ensure_layout();
	log_append(NO_SLOT);
	wake_log_readers();
}

/* The reader fell a whole log behind: it restarts at the head. */
static int overran(uint32_t *pos, uint32_t head)
{
	log_warn("wake: the ring log overran; checking every waiter");
	*pos = head;
	return -1;
}

int doorbell_log_read(uint32_t *pos, unsigned *out, int max, int timeout_ms)
{
	ensure_layout();
	uint32_t head = __atomic_load_n(log_head, __ATOMIC_ACQUIRE);
	if (head == *pos && timeout_ms > 0) {
		struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
		futex(log_head, FUTEX_WAIT, *pos, &ts);
		head = __atomic_load_n(log_head, __ATOMIC_ACQUIRE);
	}
	if (head - *pos > DOORBELL_LOG)
		return overran(pos, head);
	int n = 0, spins = 0;
	while (*pos != head && n < max) {
		uint64_t e = __atomic_load_n(&ring_log[*pos % DOORBELL_LOG], __ATOMIC_ACQUIRE);
		uint32_t stamp = (uint32_t)(e >> 32), want = *pos + 1;
		if (stamp != want) {
			/* Overwritten: we fell a whole log behind. */
			if ((int32_t)(stamp - want) > 0)
				return overran(pos, head);
			/* Claimed but not written yet: the ringer is between two
			 * instructions. Give it a moment; after 20 ms treat the
			 * ring as lost (the caller then checks everyone). */
			if (++spins > 1000) {
				*pos = head;
				return -1;
			}
			struct timespec ts = {0, 20000};
			nanosleep(&ts, NULL);
			continue;
		}
		uint32_t slot = (uint32_t)(e & 0xFFFFFFFFu);
		(*pos)++;
		if (slot == ALL_SLOTS)
			return -1;
		if (slot >= SHARD_BASE && slot < SHARD_BASE + DOORBELL_SHARDS)
			out[n++] = DOORBELL_SLOTS + (slot - SHARD_BASE);
		else if (slot != NO_SLOT)
			out[n++] = slot % DOORBELL_SLOTS;
	}
	return n;
}

/*
 * The watcher: every wake_poll_ms it reads the hosts list (renewing our
 * entry when due) and, while another host is listed, multi-gets the shard
 * counters. A shard's counter minus the hints this host sent to it is what
 * other hosts sent; when that grows, ring the local slots of that shard.
 * Our own hints were rung locally by the sender already. Whenever hints
 * may have gone unseen, everyone here is rung once (a spurious re-check
 * each, never a delay): after a memcached outage, when another host
 * appears (its hints before our first poll), and shortly after we
 * (re)appear in the list (senders that had not seen us yet sent none).
 */
static void *watcher(void *arg)
{
	(void)arg;
	static char keybuf[DOORBELL_SHARDS][CACHE_KEY_MAX];
	static int64_t prev_remote[DOORBELL_SHARDS], prev_total[DOORBELL_SHARDS], prev_epochs,
		prev_epoch_total;
	/* The shards' counters, then EPOCH_KEY: memcached answers a
	 * multi-get key by key, in order, so a bump made before a hint is
	 * seen with it. */
	const char *keys[DOORBELL_SHARDS + 1];
	struct arena a;
	arena_init(&a);
	for (int s = 0; s < DOORBELL_SHARDS; s++) {
		cache_key(keybuf[s], "wake", s);
		keys[s] = keybuf[s];
	}
	keys[DOORBELL_SHARDS] = EPOCH_KEY;
	int have_prev = 0, lost = 0, was_others = 0;
	int64_t ring_all_at = 0, renewed_s = 0;
	long interval = config_int_range("wake_poll_ms", 25, 1, 10000);
	if (interval < 1)
		interval = 1;
	for (;;) {
		arena_reset(&a);
		int64_t now = clock_ms(), now_s = (int64_t)time(NULL);
		char *hosts = NULL;
		int hrc = cache_get(HOSTS_KEY, &a, &hosts, NULL);
		int others_now = was_others, listed = 1;
		if (hrc >= 0) {
			int64_t my_expiry = 0;
			others_now = hrc == 1 && doorbell_hosts_parse(hosts, host_id, now_s, &my_expiry);
			listed = my_expiry > now_s;
			__atomic_store_n(&others_present, others_now, __ATOMIC_RELAXED);
			__atomic_store_n(&others_checked_ms, now, __ATOMIC_RELAXED);
		}
		if (others_now) {
			char *vals[DOORBELL_SHARDS + 1];
			if (cache_mget(keys, DOORBELL_SHARDS + 1, &a, vals) == 0) {
				if (lost || !was_others)
					ring_all_at = now;
				lost = 0;
				/* A counter lower than it was has been lost and made
				 * again (evicted, memcached restarted between two
				 * polls, its key moved to another server of a pool):
				 * a hint that made it again may hide in the drop, so
				 * that counts as a hint. */
				const char *ev = vals[DOORBELL_SHARDS];
				int64_t etotal = ev ? (int64_t)strtoull(ev, NULL, 10) : 0;
				int64_t epochs = etotal -
					(int64_t)__atomic_load_n(epoch_sent, __ATOMIC_SEQ_CST);
				if (have_prev && (epochs > prev_epochs || etotal < prev_epoch_total))
					__atomic_add_fetch(epoch, 1, __ATOMIC_SEQ_CST);
				prev_epochs = epochs;
				prev_epoch_total = etotal;
				int dropped = 0, rang = 0;
				for (int s = 0; s < DOORBELL_SHARDS; s++) {
					int64_t total = vals[s] ? (int64_t)strtoull(vals[s], NULL, 10) : 0;
					int64_t mine = (int64_t)__atomic_load_n(&sent[s], __ATOMIC_SEQ_CST);
					int64_t remote = total - mine;
					int lower = have_prev && total < prev_total[s];
					dropped += lower;
					/* Many at once (memcached restarted): everyone
					 * below, in one go. */
					if (have_prev && (remote > prev_remote[s] || lower) && dropped <= 8) {
						ring_shard(s);
						rang = 1;
					}
					prev_remote[s] = remote;
					prev_total[s] = total;
				}
				/* The log's readers once for all the shards rung. */
				if (rang)
					wake_log_readers();
				if (dropped > 8)
					ring_all_at = now;
				have_prev = 1;
			} else {
				lost = lost || have_prev;
				have_prev = 0;
			}
		} else {
			have_prev = 0;
		}
		was_others = others_now;
		/* Announce ourselves after the first poll of the counters, so
		 * hints sent once others see us are counted. */
		if (hrc >= 0 && (!listed || now_s - renewed_s >= HOST_RENEW_S)) {
			const char *v = hosts_renewed(&a, hosts, now_s);
			if (cache_set(HOSTS_KEY, v, strlen(v), HOST_TTL_S) == 0) {
				if (!listed)
					ring_all_at = now + HOSTS_SETTLE_MS;
				renewed_s = now_s;
			}
		}
		if (ring_all_at != 0 && now >= ring_all_at) {
			ring_all();
			ring_all_at = 0;
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
	ensure_layout();
	return thread_start(watcher, NULL, 256 * 1024);
}
