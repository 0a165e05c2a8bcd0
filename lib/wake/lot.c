#include "wake/lot.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/stack.h"
#include "util/xalloc.h"
#include "wake/doorbell.h"

/* The longest the thread sleeps when nothing is due sooner (parkers with
 * an earlier deadline wake it). */
#define IDLE_MS 10000
#define READ_MAX 1024

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct parked **by_slot;	/* DOORBELL_SLOTS lists */
static struct parked **heap;	/* min-heap on due_ms */
static int nheap, capheap;
static int64_t sleep_until;	/* when the thread wakes next (under mu) */
static lot_ready_fn on_ready;
/* Hangup watch: one epoll set; parked requests by descriptor, so an event
 * for a descriptor that was handed back meanwhile finds nothing (or finds
 * a newer request on a reused descriptor: then the hangup is only a
 * spurious early wake, which its resume checks). */
static int ep = -1;
static struct parked **by_fd;
static int nfd;

/* --- the timer heap (under mu) --- */

static void heap_set(int i, struct parked *p)
{
	heap[i] = p;
	p->heap_i = i;
}

static void heap_up(int i)
{
	struct parked *p = heap[i];
	while (i > 0) {
		int up = (i - 1) / 2;
		if (heap[up]->due_ms <= p->due_ms)
			break;
		heap_set(i, heap[up]);
		i = up;
	}
	heap_set(i, p);
}

static void heap_down(int i)
{
	struct parked *p = heap[i];
	for (;;) {
		int c = 2 * i + 1;
		if (c >= nheap)
			break;
		if (c + 1 < nheap && heap[c + 1]->due_ms < heap[c]->due_ms)
			c++;
		if (heap[c]->due_ms >= p->due_ms)
			break;
		heap_set(i, heap[c]);
		i = c;
	}
	heap_set(i, p);
}

static void heap_push(struct parked *p)
{
	if (nheap == capheap) {
		capheap = capheap ? capheap * 2 : 1024;
		heap = xrealloc(heap, (size_t)capheap * sizeof(*heap));
	}
	heap_set(nheap++, p);
	heap_up(nheap - 1);
}

static void heap_remove(struct parked *p)
{
	int i = p->heap_i;
	struct parked *last = heap[--nheap];
	if (i < nheap) {
		heap_set(i, last);
		heap_down(i);
		heap_up(last->heap_i);
	}
	p->heap_i = -1;
}

/* --- lists --- */

static void unwatch(struct parked *p)
{
	if (p->fd < 0 || p->fd >= nfd || by_fd[p->fd] != p)
		return;
	by_fd[p->fd] = NULL;
	epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
}

static void unlink_parked(struct parked *p)
{
	unwatch(p);
	*p->pprev = p->next;
	if (p->next != NULL)
		p->next->pprev = p->pprev;
	p->next = NULL;
	p->pprev = NULL;
	heap_remove(p);
}

/* Unparks p onto the ready list, saying why. */
static void take(struct parked *p, int rung, int hangup, struct parked **ready)
{
	unlink_parked(p);
	p->rung = rung;
	p->hangup = hangup;
	p->next = *ready;
	*ready = p;
}

/* Moves every request of slot whose bell differs to the ready list. */
static void take_rung(unsigned slot, struct parked **ready)
{
	struct parked *p = by_slot[slot];
	if (p == NULL)
		return;
	uint32_t now = doorbell_slot_read(slot);
	while (p != NULL) {
		struct parked *next = p->next;
		if (p->bell != now)
			take(p, 1, 0, ready);
		p = next;
	}
}

static void run_ready(struct parked *ready)
{
	while (ready != NULL) {
		struct parked *next = ready->next;
		ready->next = NULL;
		on_ready(ready);
		ready = next;
	}
}

void lot_park(struct parked *p, int64_t user_id, uint32_t bell, int64_t wait_ms, int fd)
{
	p->slot = doorbell_slot(user_id);
	p->bell = bell;
	p->due_ms = clock_ms() + (wait_ms < 0 ? 0 : wait_ms);
	p->next = NULL;
	p->pprev = NULL;
	p->heap_i = -1;
	p->fd = fd;
	p->hangup = 0;
	int kick = 0;
	pthread_mutex_lock(&mu);
	if (doorbell_slot_read(p->slot) != bell) {
		pthread_mutex_unlock(&mu);
		p->rung = 1;
		on_ready(p);
		return;
	}
	struct parked **head = &by_slot[p->slot];
	p->next = *head;
	if (*head != NULL)
		(*head)->pprev = &p->next;
	*head = p;
	p->pprev = head;
	heap_push(p);
	if (fd >= 0 && fd < nfd && ep >= 0) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
			.data.fd = fd};
		by_fd[fd] = p;
		/* A descriptor still in the set (it should not be) is re-armed
		 * for this request rather than left unwatched. */
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0 &&
		    (errno != EEXIST || epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) != 0)) {
			log_warn("lot: cannot watch descriptor %d (%s); its request waits for its "
				"deadline if the client goes", fd, strerror(errno));
			by_fd[fd] = NULL;
		}
	}
	if (p->due_ms < sleep_until) {
		sleep_until = p->due_ms;
		kick = 1;
	}
	pthread_mutex_unlock(&mu);
	if (kick)
		doorbell_log_kick();
}

int lot_count(void)
{
	pthread_mutex_lock(&mu);
	int n = nheap;
	pthread_mutex_unlock(&mu);
	return n;
}

static void *lot_thread(void *arg)
{
	(void)arg;
	uint32_t pos = doorbell_log_pos();
	static unsigned rung[READ_MAX];
	for (;;) {
		int64_t now = clock_ms();
		pthread_mutex_lock(&mu);
		int64_t until = nheap > 0 ? heap[0]->due_ms : now + IDLE_MS;
		if (until > now + IDLE_MS)
			until = now + IDLE_MS;
		sleep_until = until;
		pthread_mutex_unlock(&mu);

		int64_t wait = until - now;
		int n = doorbell_log_read(&pos, rung, READ_MAX, wait > 0 ? (int)wait : 0);

		struct parked *ready = NULL;
		pthread_mutex_lock(&mu);
		/* Awake: the heap is read again before the next sleep, so
		 * parkers need not kick meanwhile. */
		sleep_until = INT64_MIN;
		if (n < 0) {
			/* Everyone rang, or rings were lost. */
			for (unsigned s = 0; s < DOORBELL_SLOTS; s++)
				take_rung(s, &ready);
		}
		for (int i = 0; i < n; i++) {
			if (rung[i] < DOORBELL_SLOTS) {
				take_rung(rung[i], &ready);
				continue;
			}
			/* A whole shard. */
			for (unsigned k = 0; k < 256; k++)
				take_rung(doorbell_shard_slot((int)(rung[i] - DOORBELL_SLOTS), k), &ready);
		}
		now = clock_ms();
		while (nheap > 0 && heap[0]->due_ms <= now)
			take(heap[0], 0, 0, &ready);
		pthread_mutex_unlock(&mu);
		run_ready(ready);
	}
	return NULL;
}

/* Hands back parked requests whose connection became readable or closed. */
static void *hangup_thread(void *arg)
{
	(void)arg;
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		struct parked *ready = NULL;
		pthread_mutex_lock(&mu);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			struct parked *p = fd >= 0 && fd < nfd ? by_fd[fd] : NULL;
			if (p != NULL)
				take(p, 0, 1, &ready);
		}
		pthread_mutex_unlock(&mu);
		run_ready(ready);
	}
	return NULL;
}

int lot_start(lot_ready_fn ready)
{
	on_ready = ready;
	by_slot = xcalloc(DOORBELL_SLOTS, sizeof(*by_slot));
	sleep_until = INT64_MIN;
	/* Without the hangup watch a request that lost its client waits for
	 * its deadline, as before. */
	struct rlimit rl;
	nfd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
			rl.rlim_cur < (1u << 20) ? (int)rl.rlim_cur : 1 << 20;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep >= 0) {
		by_fd = xcalloc((size_t)nfd, sizeof(*by_fd));
		if (thread_start(hangup_thread, NULL, 256 * 1024) != 0) {
			close(ep);
			ep = -1;
			free(by_fd);
			by_fd = NULL;
		}
	}
	if (ep < 0)
		nfd = 0;
	return thread_start(lot_thread, NULL, 256 * 1024);
}
