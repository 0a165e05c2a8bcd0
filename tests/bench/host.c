/*
 * What the host does to a run: spans in which the database's disk completed
 * nothing, and spans in which a CPU ran nothing of ours.
 *
 * Disk: a thread reads the device's line of /proc/diskstats every
 * millisecond. A stall starts when a request is in flight and ends at the
 * next completion of any kind (read, write, discard, cache flush).
 *
 * CPU: one thread pinned to each CPU sleeps 2 ms at a time; a sleep that
 * ends min_ns or more late means the CPU ran nothing for that long, or
 * nothing but what outranks a woken thread (on a VM: the hypervisor had
 * taken the virtual CPU away; a busy CPU still runs a thread that slept
 * within a millisecond or two).
 *
 * Spans of at least min_ns are kept. The threads take well under 1 % of a
 * core between them.
 */
#include "bench.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define SPANS_MAX 8192
#define CPUS_MAX 64

struct spans {
	pthread_mutex_t mu;
	struct host_span s[SPANS_MAX];
	size_t n;
};

struct cpu_watch {
	struct host_watch *w;
	pthread_t th;
	int cpu, started;
};

struct host_watch {
	pthread_t disk_th;
	int disk_started;
	int fd;
	unsigned maj, min;
	uint64_t min_ns;
	atomic_int stop;
	struct spans disk, cpu;
	struct cpu_watch cpus[CPUS_MAX];
	int ncpus;
};

static void spans_add(struct spans *sp, uint64_t start, uint64_t end)
{
	pthread_mutex_lock(&sp->mu);
	if (sp->n < SPANS_MAX)
		sp->s[sp->n++] = (struct host_span){start, end};
	pthread_mutex_unlock(&sp->mu);
}

/* Completions so far and requests in flight on the watched device; -1 if
 * its line cannot be read. */
static int disk_read(struct host_watch *w, unsigned long long *done, unsigned long long *inflight)
{
	char buf[16384];
	ssize_t len = pread(w->fd, buf, sizeof(buf) - 1, 0);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	for (char *line = buf; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		unsigned maj, min;
		char name[64];
		unsigned long long f[17] = {0};
		int got = sscanf(line, " %u %u %63s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu"
			" %llu %llu %llu %llu %llu %llu", &maj, &min, name, &f[0], &f[1], &f[2], &f[3], &f[4],
			&f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11], &f[12], &f[13], &f[14], &f[15], &f[16]);
		if (got >= 14 && maj == w->maj && min == w->min) {
			/* reads, writes, then (kernels since 4.18) discards and
			 * (since 5.5) flushes completed */
			*done = f[0] + f[4] + f[11] + f[15];
			*inflight = f[8];
			return 0;
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	return -1;
}

static void *disk_loop(void *arg)
{
	struct host_watch *w = arg;
	unsigned long long done0 = 0, inflight = 0;
	if (disk_read(w, &done0, &inflight) < 0)
		return NULL;
	uint64_t since = now_ns();	/* last completion, or last moment with nothing in flight */
	struct timespec tick = {0, 1000000};
	while (!atomic_load(&w->stop)) {
		nanosleep(&tick, NULL);
		unsigned long long done;
		if (disk_read(w, &done, &inflight) < 0)
			break;
		uint64_t now = now_ns();
		if (done != done0) {
			if (now - since >= w->min_ns)
				spans_add(&w->disk, since, now);
			done0 = done;
			since = now;
		} else if (inflight == 0) {
			since = now;
		}
	}
	return NULL;
}

static void *cpu_loop(void *arg)
{
	struct cpu_watch *c = arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(c->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		return NULL;
	const uint64_t nap = 2000000u;
	struct timespec ts = {0, (long)nap};
	while (!atomic_load(&c->w->stop)) {
		uint64_t a = now_ns();
		nanosleep(&ts, NULL);
		uint64_t b = now_ns();
		if (b - a >= nap + c->w->min_ns)
			spans_add(&c->w->cpu, a + nap, b);
	}
	return NULL;
}

struct host_watch *host_watch_start(const char *dir, uint64_t min_ns)
{
	struct host_watch *w = xcalloc_or_die(1, sizeof(*w));
	w->min_ns = min_ns;
	w->fd = -1;
	pthread_mutex_init(&w->disk.mu, NULL);
	pthread_mutex_init(&w->cpu.mu, NULL);
	struct stat st;
	unsigned long long a, b;
	if (dir != NULL && stat(dir, &st) == 0) {
		w->maj = major(st.st_dev);
		w->min = minor(st.st_dev);
		w->fd = open("/proc/diskstats", O_RDONLY | O_CLOEXEC);
		/* Not on a block device (tmpfs, overlay): no disk watch. */
		if (w->fd >= 0 && disk_read(w, &a, &b) == 0 &&
		    pthread_create(&w->disk_th, NULL, disk_loop, w) == 0)
			w->disk_started = 1;
	}
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int cpu = 0; cpu < CPU_SETSIZE && w->ncpus < CPUS_MAX; cpu++) {
			if (!CPU_ISSET(cpu, &set))
				continue;
			struct cpu_watch *c = &w->cpus[w->ncpus++];
			c->w = w;
			c->cpu = cpu;
			c->started = pthread_create(&c->th, NULL, cpu_loop, c) == 0;
		}
	}
	return w;
}

static int span_cmp(const void *a, const void *b)
{
	const struct host_span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static size_t spans_take(struct spans *sp, struct host_span **out)
{
	*out = NULL;
	if (sp->n == 0)
		return 0;
	*out = xcalloc_or_die(sp->n, sizeof(**out));
	memcpy(*out, sp->s, sp->n * sizeof(**out));
	qsort(*out, sp->n, sizeof(**out), span_cmp);
	return sp->n;
}

void host_watch_stop(struct host_watch *w, struct host_report *r)
{
	memset(r, 0, sizeof(*r));
	atomic_store(&w->stop, 1);
	if (w->disk_started)
		pthread_join(w->disk_th, NULL);
	for (int k = 0; k < w->ncpus; k++)
		if (w->cpus[k].started)
			pthread_join(w->cpus[k].th, NULL);
	if (w->fd >= 0)
		close(w->fd);
	r->disk_watched = w->disk_started;
	r->ndisk = spans_take(&w->disk, &r->disk);
	r->ncpu = spans_take(&w->cpu, &r->cpu);
	pthread_mutex_destroy(&w->disk.mu);
	pthread_mutex_destroy(&w->cpu.mu);
	free(w);
}

/* Count, longest and sum of the spans overlapping [from, to). */
static void spans_sum(const struct host_span *s, size_t n, uint64_t from, uint64_t to,
	unsigned long long *count, uint64_t *max, uint64_t *total)
{
	*count = 0;
	*max = *total = 0;
	for (size_t k = 0; k < n; k++) {
		if (s[k].end <= from || s[k].start >= to)
			continue;
		uint64_t len = s[k].end - s[k].start;
		(*count)++;
		*total += len;
		if (len > *max)
			*max = len;
	}
}

int host_overlaps(const struct host_span *s, size_t n, uint64_t from, uint64_t to)
{
	for (size_t k = 0; k < n; k++)
		if (s[k].start < to && s[k].end > from)
			return 1;
	return 0;
}

void host_print(const struct host_report *r, uint64_t from, uint64_t to)
{
	unsigned long long dn, cn;
	uint64_t dmax, dtot, cmax, ctot;
	spans_sum(r->disk, r->ndisk, from, to, &dn, &dmax, &dtot);
	spans_sum(r->cpu, r->ncpu, from, to, &cn, &cmax, &ctot);
	printf(" disk_watch=%d disk_stalls=%llu disk_stall_max_ms=%.1f disk_stall_total_ms=%.1f"
	       " cpu_pauses=%llu cpu_pause_max_ms=%.1f cpu_pause_total_ms=%.1f",
		r->disk_watched, dn, ns_to_ms(dmax), ns_to_ms(dtot), cn, ns_to_ms(cmax), ns_to_ms(ctot));
}

void host_report_free(struct host_report *r)
{
	free(r->disk);
	free(r->cpu);
	memset(r, 0, sizeof(*r));
}
