/*
 * Wake-up hints for waiting event readers. MySQL is the truth; a missed ring
 * only delays a waiter until its timeout, never loses an event.
 *
 * Same host: a shared-memory file (config "doorbell_path", in /dev/shm) holds
 * 65,536 32-bit counters indexed by hash(user). A writer bumps its recipients'
 * slots after its commit and FUTEX_WAKEs them; a waiter reads its slot BEFORE
 * querying MySQL, then futex-waits on that value, so a ring between its query
 * and its wait is never missed. Collisions only cause spurious re-checks.
 *
 * Across hosts: writers also bump one of DOORBELL_SHARDS counters in memcached;
 * each events process runs one watcher thread that multi-gets those counters
 * every "wake_poll_ms" and rings the local slots of every shard that moved.
 * Both happen only while memcached lists another host (each host's watcher
 * announces it in one key), so a single host never pays for them.
 *
 * Event loops: every ring is also appended to a ring log in the same file
 * (the slot's index), so one thread can follow the rings of all the users
 * its process waits for: it reads the log from its position, futex-waiting
 * on the log's head. Reading the slot before the query and comparing it
 * after parking keeps the no-missed-ring rule; the log only says whom to
 * look at.
 */
#ifndef WAKE_DOORBELL_H
#define WAKE_DOORBELL_H

#include <stdint.h>

#define DOORBELL_SLOTS 65536
#define DOORBELL_SHARDS 256
/* Entries in the ring log (a power of two). */
#define DOORBELL_LOG 65536

/* Maps the file (creating it). Returns 0 or -1. */
int doorbell_open(void);
uint32_t doorbell_read(int64_t user_id);
/* Waits until the slot differs from seen or timeout_ms passes. Returns 1 when
 * rung (or the value already differs), 0 on timeout. */
int doorbell_wait(int64_t user_id, uint32_t seen, int timeout_ms);
/* Rings one user's slot on this host. */
void doorbell_ring(int64_t user_id);
/* Rings users on this host and, when configured, on other hosts. */
void doorbell_ring_many(const int64_t *user_ids, int n);
/* 1 when wake-up hints also go to other hosts (through memcached): hints
 * are configured and another host is listed in memcached. */
int doorbell_cross_host(void);
/* Reads a hosts list ("id:expiry ..."): 1 when a host other than me is
 * listed unexpired at now_s; *my_expiry is my entry's expiry, 0 if none. */
int doorbell_hosts_parse(const char *val, const char *me, int64_t now_s, int64_t *my_expiry);
/* The slot of a user and its current value. */
unsigned doorbell_slot(int64_t user_id);
uint32_t doorbell_slot_read(unsigned slot);
/* The log's current position: a reader starts here. */
uint32_t doorbell_log_pos(void);
/* Waits up to timeout_ms for rings after *pos (not at all when some are
 * there), stores up to max rung slots in out and advances *pos. A value
 * DOORBELL_SLOTS + s means every slot of shard s (another host's hint).
 * Returns how many, or -1 when every slot rang or rings were lost (the
 * reader fell DOORBELL_LOG behind): every waiter must be checked. */
int doorbell_log_read(uint32_t *pos, unsigned *out, int max, int timeout_ms);
/* Ends every doorbell_log_read wait early (a reader has a new deadline). */
void doorbell_log_kick(void);
/* The host's epoch: a counter that every process of this host sees (one
 * process only when the file could not be mapped), bumped after a change
 * that makes what processes remember locally stale (a session ended).
 * Other hosts do not see it. */
uint32_t doorbell_epoch(void);
void doorbell_epoch_bump(void);
/* Starts the cross-host watcher thread (events.fcgi). */
int doorbell_watch_start(void);
int doorbell_shard(int64_t user_id);
/* Slot i (0-255) of shard s: the slots of users whose shard is s. */
unsigned doorbell_shard_slot(int shard, unsigned i);

#endif
