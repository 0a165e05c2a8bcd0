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
 * for it. A failed write is tried again a second later (twice); receipts
 * still not written, or waiting when the process ends, only leave a mark
 * behind until the reader's next delivery in that conversation.
 */
#include <pthread.h>
#include <stdlib.h>

#include "chat/chat.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/stack.h"

#define RECEIPTS_EVERY_MS 50
/* After a failed write: wait this long, and try the failed receipts again
 * (merged with newer ones) at most RECEIPTS_TRIES times in all. */
#define RECEIPTS_RETRY_MS 1000
#define RECEIPTS_TRIES 3
/* Waiting receipts. When full they are collapsed (one per conversation and
 * reader); a receipt of a new pair that still finds no room is dropped,
 * logged: at one batch per RECEIPTS_EVERY_MS that is 80,000 readers'
 * receipts a second. A list that stays full (the database away) is
 * collapsed again only after RECEIPTS_MAX / 8 more receipts, so each
 * arrival costs a scan, not a sort, under the lock. */
#define RECEIPTS_MAX 4096
/* Receipts per transaction: it holds share locks on their conversations
 * (sends to them wait) until it commits. */
#define RECEIPTS_BATCH 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct receipt waiting[RECEIPTS_MAX];
static int nwaiting;
static int started;
static int skip_collapse;	/* arrivals at a full list before the next sort */
static _Atomic int64_t n_dropped;

/* Makes room (under mu): collapses the list, else raises the waiting
 * receipt of the same pair. 1 when r is in the list, 0 when dropped. */
static int full(struct receipt r)
{
	if (skip_collapse > 0) {
		skip_collapse--;
	} else {
		nwaiting = receipts_collapse(waiting, nwaiting);
		if (nwaiting == RECEIPTS_MAX)
			skip_collapse = RECEIPTS_MAX / 8;
	}
	if (nwaiting < RECEIPTS_MAX) {
		waiting[nwaiting++] = r;
		return 1;
	}
	for (int i = 0; i < nwaiting; i++) {
		if (waiting[i].conversation_id == r.conversation_id &&
		    waiting[i].user_id == r.user_id) {
			if (waiting[i].seq < r.seq)
				waiting[i].seq = r.seq;
			if (waiting[i].tries > r.tries)
				waiting[i].tries = r.tries;
			return 1;
		}
	}
	return 0;
}

static int write_all(struct receipt *r, int n);

void receipts_add(int64_t uid, int64_t cid, int64_t seq)
{
	struct receipt r = {cid, uid, seq, 0};
	pthread_mutex_lock(&mu);
	if (!started) {
		/* No writer (plain CGI: the process ends with its request, and
		 * what waited in the list would go with it): written now. */
		pthread_mutex_unlock(&mu);
		if (write_all(&r, 1) != 0)
			log_warn("receipts: delivered receipt for user %lld in conversation %lld "
				"not written", (long long)uid, (long long)cid);
		return;
	}
	int kept = 1;
	if (nwaiting < RECEIPTS_MAX)
		waiting[nwaiting++] = r;
	else
		kept = full(r);
	if (nwaiting == 1)
		pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	if (!kept && n_dropped++ % 1000 == 0)
		log_warn("receipts: %d waiting; delivered receipt for user %lld in conversation "
			"%lld dropped", RECEIPTS_MAX, (long long)uid, (long long)cid);
}

/* Puts receipts whose write failed back (under mu). */
static void requeue(const struct receipt *r, int n)
{
	for (int i = 0; i < n; i++) {
		if (nwaiting < RECEIPTS_MAX)
			waiting[nwaiting++] = r[i];
		else if (!full(r[i]))
			n_dropped++;
	}
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
 * seq and the fewest tries among those merged (a newer receipt has had
 * fewer). Returns the new count. */
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
		else if (r[i].tries < r[k - 1].tries)
			r[k - 1].tries = r[i].tries;
	}
	return k;
}

/* Each receipt gets RECEIPTS_TRIES writes of its own: one that came
 * during an outage is not dropped with older ones. */
int receipts_retry(struct receipt *r, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		if (++r[i].tries < RECEIPTS_TRIES)
			r[k++] = r[i];
	return k;
}

/* Writes r; returns how many of them are at the front of r again, not
 * written (the database unreachable, or a write failed). */
static int write_all(struct receipt *r, int n)
{
	struct db *db = db_pool_acquire();
	if (db == NULL)
		return n;
	struct arena a;
	arena_init(&a);
	int failed = 0;
	for (int i = 0; i < n; i += RECEIPTS_BATCH) {
		int k = n - i < RECEIPTS_BATCH ? n - i : RECEIPTS_BATCH;
		if (chat_mark_delivered(db, &a, r + i, k) < 0) {
			for (int j = 0; j < k; j++)
				r[failed + j] = r[i + j];
			failed += k;
		}
		arena_reset(&a);
	}
	arena_release(&a);
	db_pool_release(db);
	return failed;
}

static void *writer(void *arg)
{
	(void)arg;
	static struct receipt batch[RECEIPTS_MAX];
	int64_t next = 0;	/* no write before this (ms) */
	for (;;) {
		pthread_mutex_lock(&mu);
		while (nwaiting == 0) {
			stack_trim();
			pthread_cond_wait(&cv, &mu);
		}
		int64_t wait = next - clock_ms();
		if (wait > 0) {
			/* Those that come meanwhile join this batch. */
			pthread_mutex_unlock(&mu);
			clock_sleep_ms(wait);
			pthread_mutex_lock(&mu);
		}
		int n = nwaiting;
		for (int i = 0; i < n; i++)
			batch[i] = waiting[i];
		nwaiting = 0;
		pthread_mutex_unlock(&mu);
		next = clock_ms() + RECEIPTS_EVERY_MS;
		n = receipts_collapse(batch, n);
		int failed = write_all(batch, n);
		if (failed == 0)
			continue;
		int again = receipts_retry(batch, failed);
		if (again < failed)
			log_warn("receipts: %d delivered receipts not written after %d tries; dropped "
				"(their marks move with the readers' next deliveries)", failed - again,
				RECEIPTS_TRIES);
		if (again == 0)
			continue;
		log_warn("receipts: %d delivered receipts not written; trying again in %d ms",
			again, RECEIPTS_RETRY_MS);
		pthread_mutex_lock(&mu);
		requeue(batch, again);
		pthread_mutex_unlock(&mu);
		next = clock_ms() + RECEIPTS_RETRY_MS;
	}
	return NULL;
}

int receipts_start(void)
{
	pthread_mutex_lock(&mu);
	int first = !started;
	started = 1;
	pthread_mutex_unlock(&mu);
	if (!first)
		return 0;
	if (thread_start(writer, NULL, 256 * 1024) == 0)
		return 0;
	pthread_mutex_lock(&mu);
	started = 0;
	pthread_mutex_unlock(&mu);
	return -1;
}
