/*
 * load: the benchmark's load client. One process, one epoll loop, raw
 * HTTP/1.1 keep-alive connections to 127.0.0.1 (never a process per request).
 *
 *   load register -n N -o FILE [-x PREFIX] [-c CONC]
 *        registers N users through the API; writes "id token" lines.
 *   load conv -u FILE -i A -j B                      direct conversation A<->B
 *   load conv -u FILE -i OWNER -j FIRST -s SIZE      group of SIZE members
 *        prints "cid=N".
 *   load sendseq -u FILE -i SENDER -C CID -n COUNT [-w WARMUP]
 *        sequential sends on one connection: the cost of one send.
 *   load send -u FILE -c CLIENTS [-o OFFSET] -d SECONDS [-w SECONDS]
 *        CLIENTS concurrent senders, each over its own 1:1 conversation
 *        (users OFFSET+2k -> OFFSET+2k+1), closed loop: durable sends/s.
 *   load get -P PATH [-u FILE -i USER] -c CONNS -d SECONDS [-w SECONDS]
 *        GET PATH in a closed loop on CONNS connections: requests/s.
 *   load delivery -u FILE -k IDLE -K IDLE_OFFSET -r RECEIVERS -o OFFSET
 *        -R RATE -d SECONDS [-w SECONDS] [--sse] [--pidfile LIGHTTPD_PID] [--mark DIR]
 *        IDLE idle event waiters, RECEIVERS active ones, messages sent at RATE
 *        per second by their peers: send-to-delivery latency, RSS per waiter,
 *        errors among the waiters. With --mark, DIR/mark.start and DIR/mark.end
 *        are created when the measurement window opens and closes.
 *
 * Results are printed as one line "RESULT key=value ...".
 */
#include "bench.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

/* --- options --- */

static struct {
	int port;
	const char *users_file;
	const char *out;
	const char *prefix;
	const char *path;
	const char *pidfile;
	const char *mark;	/* directory for the window's start/end marker files */
	const char *disk;	/* a directory on the database's disk, watched for stalls */
	const char *trace;	/* delivery: a line per message to this file */
	int n, conc, i, j, size, offset, idle, idle_offset, receivers, sse, lp_timeout;
	long long cid;
	double duration, warmup, rate;
} opt = {
	.port = 18480, .prefix = "bench", .n = 0, .conc = 8, .i = 0, .j = 1, .size = 0,
	.duration = 5, .warmup = 1, .rate = 500, .lp_timeout = 55,
};

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "load: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

/* --- users --- */

struct user {
	long long id;
	char *token;
};
static struct user *users;
static int nusers;

static void load_users(void)
{
	if (opt.users_file == NULL)
		die("%s", "-u FILE is required");
	FILE *f = fopen(opt.users_file, "r");
	if (f == NULL)
		die("cannot open %s", opt.users_file);
	int cap = 1024;
	users = xcalloc_or_die((size_t)cap, sizeof(*users));
	char line[4096];
	while (fgets(line, sizeof(line), f) != NULL) {
		long long id;
		char tok[3000];
		if (sscanf(line, "%lld %2999s", &id, tok) != 2)
			continue;
		if (nusers == cap) {
			cap *= 2;
			struct user *u = realloc(users, (size_t)cap * sizeof(*users));
			if (u == NULL)
				die("%s", "out of memory");
			users = u;
		}
		users[nusers].id = id;
		users[nusers].token = strdup(tok);
		if (users[nusers].token == NULL)
			die("%s", "out of memory");
		nusers++;
	}
	fclose(f);
}

static void free_users(void)
{
	for (int k = 0; k < nusers; k++)
		free(users[k].token);
	free(users);
	users = NULL;
	nusers = 0;
}

static struct user *user_at(int k)
{
	if (k < 0 || k >= nusers) {
		char b[32];
		snprintf(b, sizeof(b), "%d", k);
		die("user index %s is beyond the users file", b);
	}
	return &users[k];
}

/* --- small JSON helpers --- */

static json_object *jparse(const char *body, size_t len)
{
	json_tokener *t = json_tokener_new();
	if (t == NULL)
		return NULL;
	json_object *o = json_tokener_parse_ex(t, body, (int)len);
	json_tokener_free(t);
	return o;
}

static long long jint(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? (long long)json_object_get_int64(v) : 0;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* --- a batch of independent requests at a given concurrency --- */

struct job {
	const char *method;
	char path[256];
	const char *token;
	char *body;
	int status;
	char *resp;	/* response body (malloc) */
};

struct batch {
	struct job *jobs;
	int n, next, done, errors;
};

static void batch_issue(struct hconn *c);

static void batch_resp(struct hconn *c, int status, const char *body, size_t len)
{
	struct batch *b = c->user;
	struct job *j = &b->jobs[c->tag];
	j->status = status;
	j->resp = strndup(body, len);
	b->done++;
	batch_issue(c);
}

static void batch_close(struct hconn *c, const char *why)
{
	struct batch *b = c->user;
	if (c->tag >= 0 && b->jobs[c->tag].status == 0) {
		fprintf(stderr, "load: request failed: %s\n", why);
		b->jobs[c->tag].status = -1;
		b->done++;
		b->errors++;
	}
	c->tag = -1;
	if (b->next < b->n && hc_open(c) == 0)
		batch_issue(c);
}

static void batch_issue(struct hconn *c)
{
	struct batch *b = c->user;
	if (b->next >= b->n) {
		c->tag = -1;
		return;
	}
	if (c->state == HC_CLOSED && hc_open(c) < 0)
		return;
	struct job *j = &b->jobs[b->next];
	c->tag = b->next++;
	if (hc_request(c, j->method, j->path, j->token, NULL, j->body,
		    j->body ? strlen(j->body) : 0) < 0) {
		j->status = -1;
		b->done++;
		b->errors++;
		c->tag = -1;
	}
}

/* Runs the jobs; returns the number that did not get a 2xx answer. */
static int run_batch(struct job *jobs, int n, int conc)
{
	struct loop l;
	if (loop_init(&l, opt.port) < 0)
		die("%s", "epoll failed");
	struct batch b = {jobs, n, 0, 0, 0};
	if (conc > n)
		conc = n;
	if (conc < 1)
		conc = 1;
	struct hconn *cs = xcalloc_or_die((size_t)conc, sizeof(*cs));
	for (int k = 0; k < conc; k++) {
		hc_init(&cs[k], &l);
		cs[k].user = &b;
		cs[k].tag = -1;
		cs[k].on_resp = batch_resp;
		cs[k].on_close = batch_close;
		if (hc_open(&cs[k]) < 0)
			die("%s", "connect failed");
		batch_issue(&cs[k]);
	}
	uint64_t deadline = now_ns() + (uint64_t)600 * 1000000000u;
	while (b.done < n && now_ns() < deadline)
		loop_poll(&l, 100);
	for (int k = 0; k < conc; k++)
		hc_free(&cs[k]);
	free(cs);
	loop_free(&l);
	int bad = 0;
	for (int k = 0; k < n; k++) {
		if (jobs[k].status < 200 || jobs[k].status > 299) {
			if (bad < 3)
				fprintf(stderr, "load: %s %s -> %d %.300s\n", jobs[k].method,
					jobs[k].path, jobs[k].status,
					jobs[k].resp ? jobs[k].resp : "");
			bad++;
		}
	}
	return bad;
}

static void free_jobs(struct job *jobs, int n)
{
	for (int k = 0; k < n; k++) {
		free(jobs[k].body);
		free(jobs[k].resp);
	}
	free(jobs);
}

/* --- register --- */

static int cmd_register(void)
{
	if (opt.n <= 0 || opt.out == NULL)
		die("%s", "register needs -n N -o FILE");
	struct job *jobs = xcalloc_or_die((size_t)opt.n, sizeof(*jobs));
	for (int k = 0; k < opt.n; k++) {
		char b[256];
		snprintf(b, sizeof(b),
			"{\"username\":\"%.20s%d\",\"password\":\"bench-password-%d\","
			"\"display_name\":\"Bench %d\"}", opt.prefix, k, k, k);
		jobs[k].method = "POST";
		snprintf(jobs[k].path, sizeof(jobs[k].path), "/api/v1/auth/register");
		jobs[k].body = strdup(b);
		if (jobs[k].body == NULL)
			die("%s", "out of memory");
	}
	uint64_t t0 = now_ns();
	int bad = run_batch(jobs, opt.n, opt.conc);
	double secs = (double)(now_ns() - t0) / 1e9;
	FILE *f = fopen(opt.out, "w");
	if (f == NULL)
		die("cannot write %s", opt.out);
	int ok = 0;
	for (int k = 0; k < opt.n; k++) {
		if (jobs[k].status != 201)
			continue;
		json_object *o = jparse(jobs[k].resp, strlen(jobs[k].resp));
		json_object *u;
		const char *tok = o ? jstr(o, "access_token") : NULL;
		if (o && tok && json_object_object_get_ex(o, "user", &u)) {
			fprintf(f, "%lld %s\n", jint(u, "id"), tok);
			ok++;
		}
		json_object_put(o);
	}
	fclose(f);
	free_jobs(jobs, opt.n);
	printf("RESULT registered=%d failed=%d per_s=%.1f\n", ok, bad, ok / (secs > 0 ? secs : 1));
	return ok == opt.n ? 0 : 1;
}

/* --- conversations --- */

/* Creates a direct conversation between users a and b (as a). Returns its id. */
static long long make_direct(int a, int b)
{
	struct job j = {.method = "POST", .token = user_at(a)->token};
	snprintf(j.path, sizeof(j.path), "/api/v1/conversations");
	char body[128];
	snprintf(body, sizeof(body), "{\"type\":\"direct\",\"member_ids\":[%lld]}", user_at(b)->id);
	j.body = strdup(body);
	long long cid = 0;
	if (run_batch(&j, 1, 1) == 0) {
		json_object *o = jparse(j.resp, strlen(j.resp));
		cid = o ? jint(o, "id") : 0;
		json_object_put(o);
	}
	free(j.body);
	free(j.resp);
	return cid;
}

/* Direct conversations for pairs (first+2k, first+2k+1), k < n, made concurrently. */
static long long *make_pairs(int first, int n)
{
	struct job *jobs = xcalloc_or_die((size_t)n, sizeof(*jobs));
	for (int k = 0; k < n; k++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"type\":\"direct\",\"member_ids\":[%lld]}",
			user_at(first + 2 * k + 1)->id);
		jobs[k].method = "POST";
		jobs[k].token = user_at(first + 2 * k)->token;
		snprintf(jobs[k].path, sizeof(jobs[k].path), "/api/v1/conversations");
		jobs[k].body = strdup(body);
		if (jobs[k].body == NULL)
			die("%s", "out of memory");
	}
	if (run_batch(jobs, n, 8) != 0)
		die("%s", "could not create the conversations");
	long long *cids = xcalloc_or_die((size_t)n, sizeof(*cids));
	for (int k = 0; k < n; k++) {
		json_object *o = jparse(jobs[k].resp, strlen(jobs[k].resp));
		cids[k] = o ? jint(o, "id") : 0;
		json_object_put(o);
		if (cids[k] <= 0)
			die("%s", "conversation answer without an id");
	}
	free_jobs(jobs, n);
	return cids;
}

static int cmd_conv(void)
{
	load_users();
	long long cid = 0;
	if (opt.size <= 0) {
		cid = make_direct(opt.i, opt.j);
	} else {
		size_t cap = (size_t)opt.size * 24 + 128;
		char *body = xmalloc_or_die(cap);
		size_t o = (size_t)snprintf(body, cap,
			"{\"type\":\"group\",\"title\":\"bench group of %d\",\"member_ids\":[", opt.size);
		for (int k = 0; k < opt.size - 1; k++)
			o += (size_t)snprintf(body + o, cap - o, "%s%lld", k ? "," : "",
				user_at(opt.j + k)->id);
		snprintf(body + o, cap - o, "]}");
		struct job j = {.method = "POST", .token = user_at(opt.i)->token, .body = body};
		snprintf(j.path, sizeof(j.path), "/api/v1/conversations");
		if (run_batch(&j, 1, 1) == 0) {
			json_object *r = jparse(j.resp, strlen(j.resp));
			cid = r ? jint(r, "id") : 0;
			json_object_put(r);
		}
		free(j.body);
		free(j.resp);
	}
	free_users();
	if (cid <= 0)
		return 1;
	printf("cid=%lld\n", cid);
	return 0;
}

/* --- sends --- */

static char run_tag[24];

static void make_run_tag(void)
{
	snprintf(run_tag, sizeof(run_tag), "%lx%x", (unsigned long)(now_ns() / 1000000u),
		(unsigned)getpid());
}

/* A message body carrying its send time, so a receiver can compute latency. */
static int send_body(char *buf, size_t cap, unsigned long long n, uint64_t t)
{
	return snprintf(buf, cap,
		"{\"client_id\":\"b%s-%llu\",\"kind\":\"text\",\"body\":\"bench t=%" PRIu64
		" lorem ipsum dolor sit amet\"}", run_tag, n, t);
}

static int post_message(struct hconn *c, long long cid, const char *token, unsigned long long n)
{
	char path[96], body[256];
	snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", cid);
	int bl = send_body(body, sizeof(body), n, now_ns());
	return hc_request(c, "POST", path, token, NULL, body, (size_t)bl);
}

struct closed {
	struct hist h;
	uint64_t t_start, t_end;
	unsigned long long seq, ok, errors, total;
	int expect;	/* expected status (0: any 2xx) */
	int stop;
	long long *cids;	/* send */
	const char *path;	/* get */
	size_t bytes;
	uint64_t body_bytes, nbody;
};

static void closed_next(struct hconn *c);

static void closed_resp(struct hconn *c, int status, const char *body, size_t len)
{
	struct closed *s = c->user;
	uint64_t t = now_ns();
	(void)body;
	int good = s->expect ? status == s->expect : (status >= 200 && status < 300);
	if (c->t_sent >= s->t_start && t <= s->t_end) {
		if (good) {
			hist_add(&s->h, t - c->t_sent);
			s->ok++;
			s->body_bytes += len;
			s->nbody++;
		} else {
			s->errors++;
		}
	}
	if (!good && s->errors <= 3 && c->t_sent >= s->t_start)
		fprintf(stderr, "load: status %d: %.200s\n", status, body);
	s->total++;
	closed_next(c);
}

static void closed_close(struct hconn *c, const char *why)
{
	struct closed *s = c->user;
	if (now_ns() < s->t_end) {
		s->errors++;
		if (s->errors <= 3)
			fprintf(stderr, "load: connection lost: %s\n", why);
	}
	/* Reconnect, but give up on a server that keeps refusing. */
	if (s->errors > 1000)
		s->stop = 1;
	if (!s->stop && hc_open(c) == 0)
		closed_next(c);
}

static void closed_next(struct hconn *c)
{
	struct closed *s = c->user;
	if (s->stop || now_ns() >= s->t_end)
		return;
	int rc;
	if (s->cids) {
		int k = (int)c->tag;
		rc = post_message(c, s->cids[k], user_at(opt.offset + 2 * k)->token, s->seq++);
	} else {
		rc = hc_request(c, "GET", s->path,
			opt.users_file ? user_at(opt.i)->token : NULL, NULL, NULL, 0);
	}
	if (rc < 0)
		s->errors++;
}

static void run_closed(struct closed *s, int n)
{
	struct loop l;
	if (loop_init(&l, opt.port) < 0)
		die("%s", "epoll failed");
	struct hconn *cs = xcalloc_or_die((size_t)n, sizeof(*cs));
	uint64_t t0 = now_ns();
	s->t_start = t0 + (uint64_t)(opt.warmup * 1e9);
	s->t_end = s->t_start + (uint64_t)(opt.duration * 1e9);
	for (int k = 0; k < n; k++) {
		hc_init(&cs[k], &l);
		cs[k].user = s;
		cs[k].tag = k;
		cs[k].on_resp = closed_resp;
		cs[k].on_close = closed_close;
		if (hc_open(&cs[k]) < 0)
			die("%s", "connect failed");
		closed_next(&cs[k]);
	}
	while (now_ns() < s->t_end && !s->stop)
		loop_poll(&l, 50);
	/* Let outstanding requests finish (bounded). */
	uint64_t drain = now_ns() + 10000000000u;
	for (;;) {
		int busy = 0;
		for (int k = 0; k < n; k++)
			busy += cs[k].busy;
		if (!busy || now_ns() > drain)
			break;
		loop_poll(&l, 50);
	}
	s->stop = 1;
	for (int k = 0; k < n; k++)
		hc_free(&cs[k]);
	free(cs);
	loop_free(&l);
}

static void print_closed(const char *what, struct closed *s)
{
	printf("RESULT %s=%.1f ok=%llu errors=%llu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	       "mean_ms=%.3f body_bytes=%.0f clients=%d seconds=%.1f\n",
		what, (double)s->ok / opt.duration, s->ok, s->errors,
		ns_to_ms(hist_quantile(&s->h, 0.50)), ns_to_ms(hist_quantile(&s->h, 0.99)),
		ns_to_ms(s->h.max), hist_mean(&s->h) / 1e6,
		s->nbody ? (double)s->body_bytes / (double)s->nbody : 0.0, opt.conc, opt.duration);
}

static int cmd_send(void)
{
	load_users();
	make_run_tag();
	struct closed *s = xcalloc_or_die(1, sizeof(*s));
	hist_init(&s->h);
	s->expect = 201;
	s->cids = make_pairs(opt.offset, opt.conc);
	run_closed(s, opt.conc);
	print_closed("sends_per_s", s);
	int rc = s->errors ? 1 : 0;
	free(s->cids);
	free(s);
	free_users();
	return rc;
}

static int cmd_get(void)
{
	if (opt.path == NULL)
		die("%s", "get needs -P PATH");
	if (opt.users_file)
		load_users();
	struct closed *s = xcalloc_or_die(1, sizeof(*s));
	hist_init(&s->h);
	s->expect = 200;
	s->path = opt.path;
	run_closed(s, opt.conc);
	print_closed("requests_per_s", s);
	int rc = s->errors ? 1 : 0;
	free(s);
	free_users();
	return rc;
}

static void seq_resp(struct hconn *c, int status, const char *body, size_t len)
{
	*(int *)c->user = status;
	if (status != 201)
		fprintf(stderr, "load: send answered %d: %.*s\n", status, (int)(len > 300 ? 300 : len), body);
}

static int cmd_sendseq(void)
{
	load_users();
	make_run_tag();
	if (opt.cid <= 0 || opt.n <= 0)
		die("%s", "sendseq needs -C CID -n COUNT");
	struct loop l;
	if (loop_init(&l, opt.port) < 0)
		die("%s", "epoll failed");
	struct hist *h = xcalloc_or_die(1, sizeof(*h));
	hist_init(h);
	struct hconn c;
	hc_init(&c, &l);
	int status = 0;
	c.user = &status;
	c.on_resp = seq_resp;
	unsigned long long errors = 0;
	int warm = (int)opt.warmup;
	for (int k = 0; k < warm + opt.n; k++) {
		if (c.state == HC_CLOSED && hc_open(&c) < 0)
			die("%s", "connect failed");
		if (post_message(&c, opt.cid, user_at(opt.i)->token, (unsigned long long)k) < 0) {
			errors++;
			continue;
		}
		uint64_t deadline = now_ns() + 60000000000u;
		while (c.busy && c.state != HC_CLOSED && now_ns() < deadline)
			loop_poll(&l, 100);
		if (c.busy || status != 201) {
			errors++;
			hc_close(&c);
			continue;
		}
		if (k >= warm)
			hist_add(h, now_ns() - c.t_sent);
	}
	printf("RESULT send_ms_p50=%.3f send_ms_p99=%.3f send_ms_mean=%.3f send_ms_max=%.3f "
	       "n=%llu errors=%llu\n",
		ns_to_ms(hist_quantile(h, 0.5)), ns_to_ms(hist_quantile(h, 0.99)),
		hist_mean(h) / 1e6, ns_to_ms(h->max), (unsigned long long)h->n, errors);
	hc_free(&c);
	loop_free(&l);
	free(h);
	free_users();
	return errors ? 1 : 0;
}

/* --- process memory (the server side of the waiters) --- */

/* Reads "Key:   123 kB" style fields from a /proc status-like file. */
static long proc_field(const char *file, const char *key)
{
	FILE *f = fopen(file, "r");
	if (f == NULL)
		return -1;
	char line[256];
	size_t kl = strlen(key);
	long v = -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

struct stackmem {
	long rss_kb;		/* lighttpd + all its children */
	long events_rss_kb, events_threads, events_fds, lighttpd_rss_kb;
	int nprocs;
	long kernel_kb;		/* machine-wide Slab + KernelStack + PageTables */
};

static int read_pidfile(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	int pid = -1;
	if (fscanf(f, "%d", &pid) != 1)
		pid = -1;
	fclose(f);
	return pid;
}

static int ppid_of(const char *pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	int ppid = -1;
	if (p == NULL || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

static int is_events_proc(const char *pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, "events.fcgi") != NULL;
}

/* Open file descriptors of a process: a parked request holds one. */
static long count_fds(const char *pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%.20s/fd", pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void stack_mem(struct stackmem *m)
{
	memset(m, 0, sizeof(*m));
	if (opt.pidfile == NULL)
		return;
	int lp = read_pidfile(opt.pidfile);
	if (lp <= 0)
		return;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", lp);
	m->lighttpd_rss_kb = proc_field(path, "VmRSS");
	m->rss_kb = m->lighttpd_rss_kb;
	m->nprocs = 1;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]) || ppid_of(e->d_name) != lp)
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/status", e->d_name);
		long rss = proc_field(path, "VmRSS");
		if (rss < 0)
			continue;
		m->rss_kb += rss;
		m->nprocs++;
		if (is_events_proc(e->d_name)) {
			m->events_rss_kb += rss;
			m->events_threads += proc_field(path, "Threads");
			m->events_fds += count_fds(e->d_name);
		}
	}
	if (d != NULL)
		closedir(d);
	m->kernel_kb = proc_field("/proc/meminfo", "Slab") +
		       proc_field("/proc/meminfo", "KernelStack") +
		       proc_field("/proc/meminfo", "PageTables");
}

/* --- delivery: idle waiters, active receivers, paced senders --- */

struct waiter {
	struct hconn c;
	int user;		/* index into users */
	int active;		/* a receiver that measures latency */
	int recv_idx;
	int phase;		/* 0 idle, 1 asking for the head, 2 waiting/streaming */
	int started;		/* counted as parked once */
	char cursor[128];
};

struct dstate {
	struct waiter *w;
	int nw, nidle, nrecv;
	int starting, parked;
	uint64_t t_run, t_start, t_end;
	struct hist lat, ack;
	unsigned long long sent, acked, acked_window, send_errors, late, delivered, delivered_all, dup;
	unsigned long long idle_errors, recv_errors, repolls, reconnects;
	unsigned long long *acked_per, *recv_per;
	uint64_t *ack_t, *del_t, *sent_t;	/* per message number: ack, delivery and send times */
	unsigned long long nmax;
	long long *cids;
	int stop, need_restart;
};
static struct dstate D;

static void urlenc(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

/* One event (from either transport) seen by waiter w. */
static void handle_event(struct waiter *w, json_object *ev)
{
	if (!w->active)
		return;
	const char *type = jstr(ev, "type");
	json_object *m;
	if (type == NULL || strcmp(type, "message.new") != 0 ||
	    !json_object_object_get_ex(ev, "message", &m))
		return;
	const char *cid = jstr(m, "client_id");
	const char *body = jstr(m, "body");
	char pre[40];
	snprintf(pre, sizeof(pre), "b%s-", run_tag);
	if (cid == NULL || body == NULL || strncmp(cid, pre, strlen(pre)) != 0)
		return;	/* not from this run */
	const char *t = strstr(body, "t=");
	if (t == NULL)
		return;
	uint64_t sent = strtoull(t + 2, NULL, 10), now = now_ns();
	unsigned long long num = strtoull(cid + strlen(pre), NULL, 10);
	if (num < D.nmax && D.del_t[num] == 0) {
		D.del_t[num] = now;
		D.sent_t[num] = sent;
	}
	D.delivered_all++;
	D.recv_per[w->recv_idx]++;
	if (sent >= D.t_start && sent < D.t_end && now >= sent) {
		hist_add(&D.lat, now - sent);
		D.delivered++;
	}
}

static void waiter_start(struct waiter *w);
static void waiter_error(struct waiter *w, const char *why, int status);

static void waiter_poll(struct waiter *w)
{
	char path[256], enc[200];
	urlenc(enc, sizeof(enc), w->cursor);
	snprintf(path, sizeof(path), "/api/v1/events?since=%s&timeout=%d", enc, opt.lp_timeout);
	w->phase = 2;
	if (hc_request(&w->c, "GET", path, user_at(w->user)->token, NULL, NULL, 0) < 0) {
		waiter_error(w, "cannot send", 0);
		return;
	}
	if (!w->started) {
		w->started = 1;
		D.starting--;
		D.parked++;
	}
}

static void waiter_error(struct waiter *w, const char *why, int status)
{
	if (!w->started) {
		w->started = 1;
		D.starting--;
	}
	w->phase = 0;
	D.need_restart++;
	if (w->active)
		D.recv_errors++;
	else
		D.idle_errors++;
	if (D.idle_errors + D.recv_errors <= 5)
		fprintf(stderr, "load: waiter %d (%s): %s (status %d)\n", w->user,
			w->active ? "receiver" : "idle", why, status);
}

static void lp_resp(struct hconn *c, int status, const char *body, size_t len)
{
	struct waiter *w = c->user;
	if (D.stop)
		return;
	if (status != 200) {
		waiter_error(w, "long-poll answered an error", status);
		return;	/* the main loop restarts it */
	}
	json_object *o = jparse(body, len);
	const char *next = o ? jstr(o, "next") : NULL;
	if (next == NULL) {
		waiter_error(w, "long-poll answer without next", status);
		json_object_put(o);
		return;
	}
	snprintf(w->cursor, sizeof(w->cursor), "%s", next);
	json_object *evs;
	if (w->phase == 2 && json_object_object_get_ex(o, "events", &evs)) {
		size_t n = json_object_array_length(evs);
		for (size_t k = 0; k < n; k++)
			handle_event(w, json_object_array_get_idx(evs, k));
		if (n == 0)
			D.repolls++;
	}
	json_object_put(o);
	if (c->state == HC_CLOSED && hc_open(c) < 0) {
		waiter_error(w, "cannot reconnect", 0);
		return;
	}
	waiter_poll(w);
}

static size_t sse_data(struct hconn *c, const char *data, size_t len)
{
	struct waiter *w = c->user;
	size_t used = 0;
	for (;;) {
		const char *f = data + used;
		const char *e = memmem(f, len - used, "\n\n", 2);
		if (e == NULL)
			break;
		size_t flen = (size_t)(e - f);
		const char *line = f;
		while (line < f + flen) {
			const char *nl = memchr(line, '\n', (size_t)(f + flen - line));
			if (nl == NULL)
				nl = f + flen;
			size_t ll = (size_t)(nl - line);
			if (ll > 6 && memcmp(line, "data: ", 6) == 0 && w->active) {
				json_object *o = jparse(line + 6, ll - 6);
				if (o)
					handle_event(w, o);
				json_object_put(o);
			} else if (ll > 4 && memcmp(line, "id: ", 4) == 0 && ll - 4 < sizeof(w->cursor)) {
				memcpy(w->cursor, line + 4, ll - 4);
				w->cursor[ll - 4] = '\0';
			}
			line = nl + 1;
		}
		used = (size_t)(e - data) + 2;
	}
	return used;
}

static void sse_head(struct hconn *c, int status)
{
	struct waiter *w = c->user;
	if (status == 200 && !w->started) {
		w->started = 1;
		D.starting--;
		D.parked++;
	}
}

static void sse_resp(struct hconn *c, int status, const char *body, size_t len)
{
	struct waiter *w = c->user;
	(void)body;
	(void)len;
	if (D.stop)
		return;
	if (status != 200) {
		waiter_error(w, "stream answered an error", status);
	} else {
		w->phase = 0;	/* the server ended the stream; resume it */
		D.need_restart++;
	}
}

static void waiter_close(struct hconn *c, const char *why)
{
	struct waiter *w = c->user;
	if (D.stop)
		return;
	waiter_error(w, why, 0);
}

/* (Re)starts a waiter: fetch the head, then wait from there. */
static void waiter_start(struct waiter *w)
{
	struct hconn *c = &w->c;
	if (c->state != HC_CLOSED && c->busy)
		hc_close(c);
	if (c->state == HC_CLOSED && hc_open(c) < 0) {
		waiter_error(w, "cannot connect", 0);
		return;
	}
	if (opt.sse) {
		char hdr[300] = "";
		if (w->cursor[0])
			snprintf(hdr, sizeof(hdr), "Last-Event-ID: %s\r\n", w->cursor);
		c->streaming = 1;
		c->on_data = sse_data;
		c->on_head = sse_head;
		c->on_resp = sse_resp;
		w->phase = 2;
		if (hc_request(c, "GET", "/api/v1/events/stream", user_at(w->user)->token,
			    hdr[0] ? hdr : NULL, NULL, 0) < 0)
			waiter_error(w, "cannot send", 0);
		return;
	}
	c->on_resp = lp_resp;
	if (w->cursor[0]) {
		waiter_poll(w);
		return;
	}
	w->phase = 1;
	if (hc_request(c, "GET", "/api/v1/events", user_at(w->user)->token, NULL, NULL, 0) < 0)
		waiter_error(w, "cannot send", 0);
}

static void restart_failed(void)
{
	if (D.need_restart == 0 || D.stop)
		return;
	D.need_restart = 0;
	for (int k = 0; k < D.nw; k++) {
		if (D.w[k].phase == 0 && D.w[k].started) {
			D.reconnects++;
			waiter_start(&D.w[k]);
		}
	}
}

/* Senders. */
struct sender {
	struct hconn c;
	int recv;	/* receiver index of the outstanding send */
	unsigned long long num;	/* its message number */
};

static void send_resp(struct hconn *c, int status, const char *body, size_t len)
{
	struct sender *s = c->user;
	uint64_t now = now_ns();
	if (status == 201) {
		if (s->num < D.nmax)
			D.ack_t[s->num] = now;
		D.acked++;
		D.acked_per[s->recv]++;
		if (c->t_sent >= D.t_start && c->t_sent < D.t_end) {
			hist_add(&D.ack, now - c->t_sent);
			D.acked_window++;
		}
	} else {
		D.send_errors++;
		if (D.send_errors <= 3)
			fprintf(stderr, "load: send answered %d: %.*s\n", status,
				(int)(len > 300 ? 300 : len), body);
	}
}

static void send_close(struct hconn *c, const char *why)
{
	if (D.stop)
		return;
	D.send_errors++;
	if (D.send_errors <= 3)
		fprintf(stderr, "load: sender connection lost: %s\n", why);
	hc_open(c);
}

/* Tells a watching script where the measurement window starts and ends
 * (it samples CPU and statement counters then): creates DIR/mark.NAME. */
static void mark(const char *name)
{
	if (opt.mark == NULL)
		return;
	char path[4096];
	snprintf(path, sizeof(path), "%s/mark.%s", opt.mark, name);
	FILE *f = fopen(path, "w");
	if (f != NULL)
		fclose(f);
}

static void poll_for(struct loop *l, double seconds)
{
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	while (now_ns() < end)
		loop_poll(l, 20);
}

static int cmd_delivery(void)
{
	load_users();
	make_run_tag();
	long lim = raise_nofile();
	int R = opt.receivers, K = opt.idle;
	if (R < 1 || K < 0)
		die("%s", "delivery needs -r RECEIVERS >= 1 and -k IDLE >= 0");
	if (lim > 0 && lim < (long)(R + K + 64 + opt.conc)) {
		char b[32];
		snprintf(b, sizeof(b), "%ld", lim);
		die("the open-file limit (%s) is too low for that many waiters", b);
	}
	memset(&D, 0, sizeof(D));
	hist_init(&D.lat);
	hist_init(&D.ack);
	D.nidle = K;
	D.nrecv = R;
	D.nw = K + R;
	D.acked_per = xcalloc_or_die((size_t)R, sizeof(*D.acked_per));
	D.recv_per = xcalloc_or_die((size_t)R, sizeof(*D.recv_per));
	D.cids = make_pairs(opt.offset, R);
	D.nmax = (unsigned long long)(opt.rate * (opt.warmup + opt.duration + 1)) + 16;
	D.ack_t = xcalloc_or_die((size_t)D.nmax, sizeof(uint64_t));
	D.del_t = xcalloc_or_die((size_t)D.nmax, sizeof(uint64_t));
	D.sent_t = xcalloc_or_die((size_t)D.nmax, sizeof(uint64_t));

	struct loop l;
	if (loop_init(&l, opt.port) < 0)
		die("%s", "epoll failed");

	/* Wait for waiters of an earlier run to leave the events process. */
	struct stackmem m0, m1;
	uint64_t drain_end = now_ns() + 75000000000u;
	for (;;) {
		stack_mem(&m0);
		if (opt.pidfile == NULL || m0.events_fds < 200 || now_ns() > drain_end)
			break;
		poll_for(&l, 0.5);
	}
	poll_for(&l, 0.5);
	stack_mem(&m0);

	D.w = xcalloc_or_die((size_t)D.nw, sizeof(*D.w));
	for (int k = 0; k < D.nw; k++) {
		struct waiter *w = &D.w[k];
		hc_init(&w->c, &l);
		w->c.user = w;
		w->c.on_close = waiter_close;
		if (k < K) {
			w->user = opt.idle_offset + k;
		} else {
			w->active = 1;
			w->recv_idx = k - K;
			w->user = opt.offset + 2 * w->recv_idx;
		}
		user_at(w->user);
	}

	/* Park the idle waiters, a bounded number in flight at a time. */
	uint64_t t_conn = now_ns();
	int next = 0;
	uint64_t park_deadline = now_ns() + 120000000000u;
	while ((next < D.nw || D.starting > 0) && now_ns() < park_deadline) {
		while (next < D.nw && D.starting < 256) {
			D.starting++;
			waiter_start(&D.w[next++]);
		}
		loop_poll(&l, 10);
		restart_failed();
	}
	double connect_s = (double)(now_ns() - t_conn) / 1e9;
	/* Long-poll: the request is sent, but is it parked? Wait until the
	 * events process holds a connection per waiter (bounded), then
	 * settle. */
	uint64_t settle_deadline = now_ns() + 30000000000u;
	while (opt.pidfile && now_ns() < settle_deadline) {
		stack_mem(&m1);
		if (m1.events_fds >= m0.events_fds + D.nw - 8)
			break;
		poll_for(&l, 0.25);
	}
	poll_for(&l, 1.0);
	stack_mem(&m1);

	/* Senders, paced at opt.rate. */
	int S = opt.conc;
	struct sender *ss = xcalloc_or_die((size_t)S, sizeof(*ss));
	for (int k = 0; k < S; k++) {
		hc_init(&ss[k].c, &l);
		ss[k].c.user = &ss[k];
		ss[k].c.on_resp = send_resp;
		ss[k].c.on_close = send_close;
		if (hc_open(&ss[k].c) < 0)
			die("%s", "connect failed");
	}
	poll_for(&l, 0.2);
	struct host_watch *hw = host_watch_start(opt.disk, 5000000u);
	uint64_t t0 = now_ns();
	D.t_start = t0 + (uint64_t)(opt.warmup * 1e9);
	D.t_end = D.t_start + (uint64_t)(opt.duration * 1e9);
	double interval = 1e9 / opt.rate;
	unsigned long long n = 0;
	uint64_t max_lag = 0;
	int rr = 0, marked = 0;
	for (;;) {
		uint64_t now = now_ns();
		if (now >= D.t_end)
			break;
		if (!marked && now >= D.t_start) {
			mark("start");
			marked = 1;
		}
		uint64_t due = t0 + (uint64_t)((double)n * interval);
		while (due <= now) {
			struct sender *s = NULL;
			for (int k = 0; k < S && s == NULL; k++) {
				struct sender *c = &ss[(rr + k) % S];
				if (c->c.state != HC_CLOSED && !c->c.busy)
					s = c;
			}
			if (s == NULL)
				break;	/* every sender busy: this one goes out late */
			rr = (int)((s - ss) + 1) % S;
			if (now - due > max_lag)
				max_lag = now - due;
			if (now - due > 1000000u)
				D.late++;
			int r = (int)(n % (unsigned long long)R);
			s->recv = r;
			s->num = n;
			if (post_message(&s->c, D.cids[r], user_at(opt.offset + 2 * r + 1)->token, n) < 0)
				D.send_errors++;
			D.sent++;
			n++;
			due = t0 + (uint64_t)((double)n * interval);
		}
		restart_failed();
		now = now_ns();
		int ms = due > now ? (int)((due - now + 999999) / 1000000) : 0;
		loop_poll(&l, ms > 20 ? 20 : ms);
	}
	mark("end");
	/* Let the last messages arrive (bounded). */
	uint64_t drain = now_ns() + 10000000000u;
	while (now_ns() < drain) {
		int busy = 0;
		for (int k = 0; k < S; k++)
			busy += ss[k].c.busy;
		if (!busy && D.delivered_all >= D.acked)
			break;
		loop_poll(&l, 20);
	}
	/* Delivery measured from the sender's acknowledgement (commit seen by
	 * the sender) instead of from the request start; early deliveries are 0. */
	struct hist *after = xcalloc_or_die(1, sizeof(*after));
	hist_init(after);
	double interval_ns = 1e9 / opt.rate;
	for (unsigned long long k = 0; k < D.nmax && k < n; k++) {
		uint64_t due = t0 + (uint64_t)((double)k * interval_ns);
		if (due < D.t_start || due >= D.t_end || !D.ack_t[k] || !D.del_t[k])
			continue;
		hist_add(after, D.del_t[k] > D.ack_t[k] ? D.del_t[k] - D.ack_t[k] : 0);
	}
	/* The deliveries over 5 ms, and how many of them were on their way while
	 * the database's disk completed nothing, or a CPU ran nothing of ours,
	 * for 5 ms or more (host.c). */
	struct host_report hr;
	host_watch_stop(hw, &hr);
	unsigned long long slow = 0, slow_disk = 0, slow_cpu = 0, slow_host = 0;
	for (unsigned long long k = 0; k < D.nmax && k < n; k++) {
		uint64_t s0 = D.sent_t[k], s1 = D.del_t[k];
		if (s1 == 0 || s0 < D.t_start || s0 >= D.t_end || s1 < s0 || s1 - s0 <= 5000000u)
			continue;
		slow++;
		int d = host_overlaps(hr.disk, hr.ndisk, s0, s1);
		int c = host_overlaps(hr.cpu, hr.ncpu, s0, s1);
		slow_disk += d;
		slow_cpu += c;
		slow_host += d || c;
	}
	if (opt.trace != NULL) {
		/* ms since the window's start: sent, acknowledged, delivered (-1: not) */
		FILE *tf = fopen(opt.trace, "w");
		if (tf == NULL)
			die("cannot write %s", opt.trace);
		fprintf(tf, "# window start: %" PRIu64 " ns of CLOCK_MONOTONIC\n", D.t_start);
		for (unsigned long long k = 0; k < D.nmax && k < n; k++) {
			if (D.sent_t[k] == 0)
				continue;
			double base = (double)D.t_start;
			fprintf(tf, "%llu %.3f %.3f %.3f\n", k, ((double)D.sent_t[k] - base) / 1e6,
				D.ack_t[k] ? ((double)D.ack_t[k] - base) / 1e6 : -1.0,
				((double)D.del_t[k] - base) / 1e6);
		}
		for (size_t k = 0; k < hr.ndisk; k++)
			fprintf(tf, "disk %.3f %.3f\n", ((double)hr.disk[k].start - (double)D.t_start) / 1e6,
				((double)hr.disk[k].end - (double)D.t_start) / 1e6);
		for (size_t k = 0; k < hr.ncpu; k++)
			fprintf(tf, "cpu %.3f %.3f\n", ((double)hr.cpu[k].start - (double)D.t_start) / 1e6,
				((double)hr.cpu[k].end - (double)D.t_start) / 1e6);
		fclose(tf);
	}
	unsigned long long lost = 0;
	for (int r = 0; r < R; r++)
		if (D.acked_per[r] > D.recv_per[r])
			lost += D.acked_per[r] - D.recv_per[r];
	int idle_open = 0;
	for (int k = 0; k < K; k++)
		idle_open += D.w[k].c.state != HC_CLOSED && D.w[k].c.busy;
	D.stop = 1;

	long rss_delta = m1.rss_kb - m0.rss_kb;
	long kern_delta = m1.kernel_kb - m0.kernel_kb;
	printf("RESULT transport=%s idle=%d receivers=%d rate=%.0f achieved_per_s=%.1f sent=%llu acked=%llu "
	       "send_errors=%llu late=%llu max_lag_ms=%.3f delivered=%llu undelivered=%llu "
	       "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f ack_p50_ms=%.3f ack_p99_ms=%.3f "
	       "after_ack_p50_ms=%.3f after_ack_p99_ms=%.3f after_ack_max_ms=%.3f "
	       "idle_open=%d idle_errors=%llu recv_errors=%llu repolls=%llu reconnects=%llu "
	       "connect_s=%.2f rss_before_kb=%ld rss_after_kb=%ld events_threads=%ld events_fds=%ld "
	       "rss_per_waiter_bytes=%.0f lighttpd_per_waiter_bytes=%.0f events_per_waiter_bytes=%.0f "
	       "kernel_per_waiter_bytes=%.0f procs=%d slow_over_5ms=%llu slow_in_disk_stall=%llu "
	       "slow_in_cpu_pause=%llu slow_in_either=%llu",
		opt.sse ? "sse" : "longpoll", K, R, opt.rate, (double)D.acked_window / opt.duration,
		D.sent, D.acked, D.send_errors,
		D.late, ns_to_ms(max_lag), D.delivered, lost,
		ns_to_ms(hist_quantile(&D.lat, 0.5)), ns_to_ms(hist_quantile(&D.lat, 0.99)),
		ns_to_ms(D.lat.max), ns_to_ms(hist_quantile(&D.ack, 0.5)),
		ns_to_ms(hist_quantile(&D.ack, 0.99)), ns_to_ms(hist_quantile(after, 0.5)),
		ns_to_ms(hist_quantile(after, 0.99)), ns_to_ms(after->max), idle_open, D.idle_errors, D.recv_errors,
		D.repolls, D.reconnects, connect_s, m0.rss_kb, m1.rss_kb, m1.events_threads, m1.events_fds,
		D.nw ? (double)rss_delta * 1024.0 / D.nw : 0.0,
		D.nw ? (double)(m1.lighttpd_rss_kb - m0.lighttpd_rss_kb) * 1024.0 / D.nw : 0.0,
		D.nw ? (double)(m1.events_rss_kb - m0.events_rss_kb) * 1024.0 / D.nw : 0.0,
		D.nw ? (double)kern_delta * 1024.0 / D.nw : 0.0, m1.nprocs, slow, slow_disk, slow_cpu,
		slow_host);
	host_print(&hr, D.t_start, D.t_end);
	printf("\n");
	host_report_free(&hr);

	for (int k = 0; k < S; k++)
		hc_free(&ss[k].c);
	for (int k = 0; k < D.nw; k++)
		hc_free(&D.w[k].c);
	free(ss);
	free(D.w);
	free(D.acked_per);
	free(D.recv_per);
	free(D.cids);
	free(D.ack_t);
	free(D.del_t);
	free(D.sent_t);
	free(after);
	loop_free(&l);
	free_users();
	int bad = D.send_errors || lost || D.idle_errors || D.recv_errors || idle_open < K;
	return bad ? 1 : 0;
}

/* --- mcflush SOCKET: empties the stack's memcached (on a unix socket) --- */

static int cmd_mcflush(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		die("socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("cannot connect to memcached at %s", path);
	static const char cmd[] = "flush_all\r\n";
	char buf[64];
	ssize_t n = -1;
	if (write(fd, cmd, sizeof(cmd) - 1) == (ssize_t)sizeof(cmd) - 1)
		n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 4 || memcmp(buf, "OK\r\n", 4) != 0)
		die("memcached at %s did not flush", path);
	return 0;
}

/* --- main --- */

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: load register|conv|sendseq|send|get|delivery [options] | "
			"mcflush SOCKET\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	const char *cmd = argv[1];
	if (strcmp(cmd, "mcflush") == 0 && argc == 3)
		return cmd_mcflush(argv[2]);
	static const struct option lo[] = {
		{"sse", no_argument, NULL, 'E'},
		{"pidfile", required_argument, NULL, 'F'},
		{"lp-timeout", required_argument, NULL, 'T'},
		{"mark", required_argument, NULL, 'M'},
		{"disk", required_argument, NULL, 'D'},
		{"trace", required_argument, NULL, 'Z'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "p:u:o:x:P:n:c:i:j:s:k:K:r:R:d:w:C:", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': opt.port = atoi(optarg); break;
		case 'u': opt.users_file = optarg; break;
		case 'o':
			if (strcmp(cmd, "register") == 0)
				opt.out = optarg;
			else
				opt.offset = atoi(optarg);
			break;
		case 'x': opt.prefix = optarg; break;
		case 'P': opt.path = optarg; break;
		case 'n': opt.n = atoi(optarg); break;
		case 'c': opt.conc = atoi(optarg); break;
		case 'i': opt.i = atoi(optarg); break;
		case 'j': opt.j = atoi(optarg); break;
		case 's': opt.size = atoi(optarg); break;
		case 'k': opt.idle = atoi(optarg); break;
		case 'K': opt.idle_offset = atoi(optarg); break;
		case 'r': opt.receivers = atoi(optarg); break;
		case 'R': opt.rate = atof(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'C': opt.cid = atoll(optarg); break;
		case 'E': opt.sse = 1; break;
		case 'F': opt.pidfile = optarg; break;
		case 'T': opt.lp_timeout = atoi(optarg); break;
		case 'M': opt.mark = optarg; break;
		case 'D': opt.disk = optarg; break;
		case 'Z': opt.trace = optarg; break;
		default: return 2;
		}
	}
	if (opt.conc < 1 || opt.conc > 10000 || opt.duration <= 0 || opt.duration > 3600 ||
	    opt.warmup < 0 || opt.rate <= 0 || opt.rate > 100000)
		die("%s", "option out of range");
	if (strcmp(cmd, "register") == 0)
		return cmd_register();
	if (strcmp(cmd, "conv") == 0)
		return cmd_conv();
	if (strcmp(cmd, "sendseq") == 0)
		return cmd_sendseq();
	if (strcmp(cmd, "send") == 0)
		return cmd_send();
	if (strcmp(cmd, "get") == 0)
		return cmd_get();
	if (strcmp(cmd, "delivery") == 0)
		return cmd_delivery();
	die("unknown command %s", cmd);
	return 2;
}
