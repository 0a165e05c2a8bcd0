/*
 * Group commit for sends.
 *
 * A send does not hold a thread while it waits for its commit: the handler
 * puts it in a queue and lets go of the request (req_hold), and the
 * thread goes back to taking requests. A writer thread takes up to
 * SEND_BATCH_MAX queued sends and writes them as one transaction
 * (msgs_send_batch), drops the cached views of all their conversations and
 * rings those conversations' members (one call each for the whole batch),
 * then hands the requests to the server's resume threads, which answer
 * them (req_wake). So under load a commit and each statement's fixed cost
 * are shared by the batch, and a send costs no thread switch of its own
 * (a batch costs the writer's and a resume thread's). A send that finds
 * nothing written or waiting (an idle server) is written and answered by
 * its own thread, alone (one CALL msg_send). Each send is answered only
 * after the commit that stored it.
 *
 * One writer writes at a time under load, which keeps batches large; a
 * second starts beside it only while writes are small (light load), so
 * that a send then does not wait for another's commit.
 *
 * A batch is all or nothing: when one of its messages would fail (not a
 * member, no such conversation, client_id taken), the procedure names it;
 * the writer sends those on their own (each gets its own outcome) and the
 * rest once more as a batch; if that fails too, each on its own. A message
 * with reply_to is always sent on its own (the batch does not check it).
 *
 * Waiting sends hold no database connection (each writer takes one from
 * the pool per batch).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "chat/chat.h"
#include "util/config.h"
#include "util/log.h"
#include "util/stack.h"
#include "wake/doorbell.h"

struct waiter {
	struct send_slot slot;
	struct req *req;
	int rc;			/* the outcome (SEND_*), -1 error, SENDQ_NO_DB */
	sendq_done_fn done;
	struct waiter *next;
};

#define SENDQ_NO_DB (-3)
/* A write of this many sends means load: one writer at a time. */
#define SENDQ_BUSY_BATCH 4
/* Writer threads (a second one writes only while writes are small). */
#define SENDQ_WRITERS 2

/* What this process has written since it started (sendq_stats). */
static _Atomic int64_t n_alone, n_batches, n_batched, n_fallbacks, n_refused;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;	/* a writer may start */
static pthread_once_t started = PTHREAD_ONCE_INIT;
static struct waiter *queue, **queue_end = &queue;	/* oldest first */
static int queued;		/* sends in the queue */
static int queue_max;		/* api_send_queue_max */
static int writing;		/* writers writing now */
static int last_batch;		/* sends the last write took */

/* Takes up to SEND_BATCH_MAX queued sends, oldest first, leaving for the
 * next batch a second send with the same sender and client_id (a retry
 * that overtook its first try: one batch must not hold both). Under mu. */
static int take(struct waiter **out)
{
	int n = 0;
	struct waiter **pp = &queue;
	while (*pp != NULL && n < SEND_BATCH_MAX) {
		struct waiter *w = *pp;
		const struct msg *m = w->slot.m;
		int clash = 0;
		for (int i = 0; i < n && !clash; i++)
			clash = out[i]->slot.m->sender_id == m->sender_id &&
				strcmp(out[i]->slot.m->client_id, m->client_id) == 0;
		if (clash) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		out[n++] = w;
	}
	if (*pp == NULL)
		queue_end = pp;
	queued -= n;
	return n;
}

/* Whether the first queued send may start a write now (under mu). With
 * nobody writing, always. While one write runs, a second may start only
 * when writes have been small (light load): then a send does not wait for
 * another's commit, which at 500 sends/s with one writer raised the 99th
 * percentile of send-to-delivery latency by 1-4 ms; under load (writes of
 * several sends) one writer at a time keeps batches large: measured at 32
 * senders, two writers at all times gave 3,630 sends/s against 4,210. */
static int may_lead(void)
{
	return writing == 0 || (writing == 1 && last_batch < SENDQ_BUSY_BATCH);
}

static void alone(struct db *db, struct waiter *w, int *down)
{
	/* Once a send of this batch found the database unreachable, the rest
	 * are answered so at once: each would wait out a connect timeout. */
	if (*down) {
		w->rc = SENDQ_NO_DB;
		return;
	}
	n_alone++;
	w->rc = msgs_send(db, w->slot.a, w->slot.m, &w->slot.members, &w->slot.nmembers);
	/* The waiting sender holds no connection of its own to tell why. */
	if (w->rc < 0 && db_is_down(db)) {
		w->rc = SENDQ_NO_DB;
		*down = 1;
	}
}

/* After the commits of a batch's sends: drops the conversations' cached
 * views (one memcached connection for all), then rings every member of
 * their conversations (one call: one wake-up of each event loop), so a
 * member woken by the ring who reloads a page sees the new message;
 * before any of the senders is answered. Not under mu. */
static void after_commit(struct arena *a, struct waiter **w, int n)
{
	int total = 0, nconv = 0;
	int64_t convs[SEND_BATCH_MAX];
	for (int i = 0; i < n; i++) {
		if (w[i]->rc != SEND_OK)
			continue;
		total += w[i]->slot.nmembers;
		int64_t c = w[i]->slot.m->conversation_id;
		int seen = 0;
		for (int k = 0; k < nconv && !seen; k++)
			seen = convs[k] == c;
		if (!seen)
			convs[nconv++] = c;
	}
	if (nconv == 0)
		return;
	int64_t *all = arena_alloc(a, sizeof(*all) * (size_t)total);
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (w[i]->rc != SEND_OK)
			continue;
		for (int j = 0; j < w[i]->slot.nmembers; j++)
			all[k++] = w[i]->slot.members[j];
	}
	chat_invalidate_many(convs, nconv);
	doorbell_ring_many(all, k);
}

/* Writes the taken sends on db (NULL: unreachable). Not under mu. */
static void write_batch(struct db *db, struct waiter **w, int n)
{
	if (db == NULL) {
		for (int i = 0; i < n; i++)
			w[i]->rc = SENDQ_NO_DB;
		return;
	}
	struct send_slot slots[SEND_BATCH_MAX];
	struct waiter *in[SEND_BATCH_MAX];
	int k = 0, down = 0;
	for (int i = 0; i < n; i++) {
		if (w[i]->slot.m->reply_to > 0) {
			alone(db, w[i], &down);
		} else {
			in[k] = w[i];
			slots[k++] = w[i]->slot;
		}
	}
	/* A batch that fails names the sends that would fail: they go on
	 * their own and the rest is tried once more as a batch. */
	for (int round = 0; k > 0; round++) {
		int rc = k == 1 ? 1 : msgs_send_batch(db, slots, k);
		/* The database unreachable (the batch waited out a connect
		 * already): the batch's sends are answered so at once, not each
		 * after a connect timeout of its own. */
		if (rc < 0 && db_is_down(db))
			down = 1;
		if (rc == 0) {
			n_batches++;
			n_batched += k;
			for (int i = 0; i < k; i++) {
				in[i]->slot = slots[i];
				in[i]->rc = SEND_OK;
			}
			return;
		}
		if (k > 1)
			n_fallbacks++;
		int rest = 0;
		for (int i = 0; i < k; i++) {
			if (rc == 1 && round == 0 && k > 1 && !slots[i].misfit) {
				in[rest] = in[i];
				slots[rest++] = slots[i];
			} else {
				/* A batch whose commit was lost after it happened is
				 * found by msg_send as duplicates, answered with the
				 * stored messages. */
				alone(db, in[i], &down);
			}
		}
		/* None named: nothing tells the rest apart, each alone. */
		if (rest == k) {
			for (int i = 0; i < k; i++)
				alone(db, in[i], &down);
			return;
		}
		k = rest;
	}
}

/* Writes batches as they queue up, for as long as the process runs. */
static void *writer(void *arg)
{
	(void)arg;
	struct arena a;
	arena_init(&a);
	for (;;) {
		pthread_mutex_lock(&mu);
		while (queue == NULL || !may_lead())
			pthread_cond_wait(&work, &mu);
		writing++;
		struct waiter *batch[SEND_BATCH_MAX];
		int n = take(batch);
		last_batch = n;
		/* Sends left behind (a retry beside its first try) may go with
		 * the other writer while writes are small. */
		if (queue != NULL && may_lead())
			pthread_cond_signal(&work);
		pthread_mutex_unlock(&mu);
		struct db *db = db_pool_acquire();
		write_batch(db, batch, n);
		db_pool_release(db);
		/* The next batch may start while this one's members are rung
		 * and its cached views dropped; its senders are answered after. */
		pthread_mutex_lock(&mu);
		writing--;
		if (queue != NULL)
			pthread_cond_signal(&work);
		pthread_mutex_unlock(&mu);
		after_commit(&a, batch, n);
		arena_reset(&a);
		struct req *done[SEND_BATCH_MAX];
		for (int i = 0; i < n; i++)
			done[i] = batch[i]->req;
		req_wake(done, n);
	}
	return NULL;
}

static void start_writers(void)
{
	for (int i = 0; i < SENDQ_WRITERS; i++) {
		if (thread_start(writer, NULL, 256 * 1024) != 0) {
			/* Without a writer no send could ever be answered. */
			log_error("sendq: cannot start a writer thread");
			abort();
		}
	}
}

/* The request has left its thread: into the queue (sendq_send counted it). */
static void enqueue(struct req *req, void *state)
{
	(void)req;
	struct waiter *w = state;
	pthread_mutex_lock(&mu);
	w->next = NULL;
	*queue_end = w;
	queue_end = &w->next;
	if (may_lead())
		pthread_cond_signal(&work);
	pthread_mutex_unlock(&mu);
}

/* Its batch has committed (or failed): the sender's answer. */
static void answer(struct req *req, void *state)
{
	struct waiter *w = state;
	if (w->rc == SENDQ_NO_DB)
		resp_unavailable(req);
	else
		w->done(req, w->slot.m, w->rc);
}

static void read_config(void)
{
	queue_max = (int)config_int_range("api_send_queue_max", 4096, 1, 1000000);
}

void sendq_send(struct req *req, struct msg *m, sendq_done_fn done)
{
	static pthread_once_t configured = PTHREAD_ONCE_INIT;
	pthread_once(&configured, read_config);
	struct waiter *w = arena_alloc(req->arena, sizeof(*w));
	*w = (struct waiter){.slot = {.m = m, .a = req->arena}, .req = req, .done = done};
	/* Nothing written or waiting (an idle server), or a process that
	 * cannot hold requests (plain CGI): this thread writes the send itself
	 * and answers it, without handing it to two other threads; sends that
	 * arrive meanwhile queue for the writers. */
	pthread_mutex_lock(&mu);
	if ((queued == 0 && writing == 0) || !server_holds()) {
		/* last_batch stays the writers' own: under load, sends that
		 * queue meanwhile wait for one writer rather than start a
		 * second beside this lone write. */
		writing++;
		pthread_mutex_unlock(&mu);
		write_batch(app_db_try(req), &w, 1);
		/* Its outcome is w->rc; the connection goes back with what it
		 * wrote noted. */
		app_db_release(req);
		pthread_mutex_lock(&mu);
		writing--;
		if (queue != NULL)
			pthread_cond_signal(&work);
		pthread_mutex_unlock(&mu);
		after_commit(req->arena, &w, 1);
		answer(req, w);
		return;
	}
	/* Each waiting send keeps its web server connection open: beyond the
	 * limit the server is overloaded (or its database stalls), and the
	 * client is told to try again shortly (its client_id makes that
	 * safe). */
	int full = queued >= queue_max;
	if (!full)
		queued++;
	pthread_mutex_unlock(&mu);
	if (full) {
		n_refused++;
		resp_header(req, "Retry-After", "1");
		resp_problem(req, 503, "overloaded", "Too many messages are waiting to be stored; "
			"send this one again in a moment.");
		return;
	}
	pthread_once(&started, start_writers);
	/* The request waits for its batch holding neither a thread nor a
	 * database connection. */
	app_db_release(req);
	req_hold(req, enqueue, answer, w);
}

void sendq_stats(struct sendq_stats *st)
{
	st->alone = n_alone;
	st->batches = n_batches;
	st->batched = n_batched;
	st->fallbacks = n_fallbacks;
	pthread_mutex_lock(&mu);
	st->waiting = queued;
	pthread_mutex_unlock(&mu);
	st->refused = n_refused;
}
