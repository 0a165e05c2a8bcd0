/*
 * Delivered receipts, written together.
 *
 * events.fcgi marks a message delivered once it has handed the reader its
 * message.new event. Written one at a time, every delivered message cost
 * a transaction of its own (a durable commit and half a dozen statements),
 * about as much database work as the send itself. Here the receipts of
 * all of the process's readers wait in one list, and one thread writes all
 * that are waiting in one transaction (msg_delivered_batch, sql/0011), at
 * most once every RECEIPTS_EVERY_MS: a lone receipt after a quiet spell
 * goes at once; under load a batch holds everything that came meanwhile,
 * and a reader's receipts for one conversation collapse into the highest.
 *
 * A receipt is written after the reader got the event and nobody waits
 * for it, so a failed write (or a process that ends with receipts waiting)
 * only leaves a mark behind until the reader's next delivery in that
 * conversation, as a failed single write always did.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "chat/chat.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/stack.h"

#define RECEIPTS_EVERY_MS 50
/* Waiting receipts; more are dropped (logged) until the writer catches up:
 * at one batch per RECEIPTS_EVERY_MS that is 80,000 receipts a second. */
#define RECEIPTS_MAX 4096
/* Receipts per transaction. */
#define RECEIPTS_BATCH 512

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct receipt waiting[RECEIPTS_MAX];
static int nwaiting;
static int started;
static _Atomic int64_t n_dropped;

void receipts_add(int64_t uid, int64_t cid, int64_t seq)
{
	pthread_mutex_lock(&mu);
	int room = nwaiting < RECEIPTS_MAX;
	if (room) {
		waiting[nwaiting++] = (struct receipt){cid, uid, seq};
		if (nwaiting == 1)
			pthread_cond_signal(&cv);
	}
	pthread_mutex_unlock(&mu);
	if (!room && n_dropped++ % 1000 == 0)
		log_warn("receipts: %d waiting; delivered receipt for user %lld in conversation "
			"%lld dropped", RECEIPTS_MAX, (long long)uid, (long long)cid);
}

/* By conversation, then reader, the highest seq first. */
static int cmp(const void *x, const void *y)
{
	const struct receipt *a = x, *b = y;
	if (a->conversation_id != b->conversation_id)
		return a->conversation_id < b->conversation_id ? -1 : 1;
	if (a->user_id != b->user_id)
		return a->user_id < b->user_id ? -1 : 1;
	return a->seq > b->seq ? -1 : a->seq < b->seq;
}

/* Sorts r and keeps each (conversation, reader) once, with its highest
 * seq. Returns the new count. */
int receipts_collapse(struct receipt *r, int n)
{
	if (n <= 0)
		return 0;
	qsort(r, (size_t)n, sizeof(*r), cmp);
	int k = 1;
	for (int i = 1; i < n; i++) {
		if (r[i].conversation_id != r[k - 1].conversation_id ||
		    r[i].user_id != r[k - 1].user_id)
			r[k++] = r[i];
	}
	return k;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void write_all(struct receipt *r, int n)
{
	struct db *db = db_pool_acquire();
	if (db == NULL) {
		log_warn("receipts: database unreachable; %d delivered receipts not written", n);
		return;
	}
	struct arena a;
	arena_init(&a);
	for (int i = 0; i < n; i += RECEIPTS_BATCH) {
		int k = n - i < RECEIPTS_BATCH ? n - i : RECEIPTS_BATCH;
		if (chat_mark_delivered(db, &a, r + i, k) < 0)
			log_warn("receipts: %d delivered receipts not written", k);
		arena_reset(&a);
	}
	arena_release(&a);
	db_pool_release(db);
}

static void *writer(void *arg)
{
	(void)arg;
	static struct receipt batch[RECEIPTS_MAX];
	int64_t last = 0;
	for (;;) {
		pthread_mutex_lock(&mu);
		while (nwaiting == 0) {
			stack_trim();
			pthread_cond_wait(&cv, &mu);
		}
		int64_t wait = last + RECEIPTS_EVERY_MS - clock_ms();
		if (wait > 0) {
			/* Those that come meanwhile join this batch. */
			pthread_mutex_unlock(&mu);
			sleep_ms(wait);
			pthread_mutex_lock(&mu);
		}
		int n = nwaiting;
		for (int i = 0; i < n; i++)
			batch[i] = waiting[i];
		nwaiting = 0;
		pthread_mutex_unlock(&mu);
		last = clock_ms();
		write_all(batch, receipts_collapse(batch, n));
	}
	return NULL;
}

int receipts_start(void)
{
	pthread_mutex_lock(&mu);
	int first = !started;
	started = 1;
	pthread_mutex_unlock(&mu);
	return first ? thread_start(writer, NULL, 256 * 1024) : 0;
}
