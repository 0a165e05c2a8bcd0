/*
 * Shared pieces of the benchmark programs: a monotonic clock, a latency
 * histogram, and a small HTTP/1.1 keep-alive client over epoll.
 *
 * The client is single-threaded: one struct loop owns an epoll instance and
 * any number of connections to 127.0.0.1. Requests are written whole; each
 * response is parsed incrementally (Content-Length, chunked, or until close)
 * and handed to the connection's callback. A connection in "streaming" mode
 * hands the decoded body over as it arrives (Server-Sent Events).
 * Every buffer has a fixed upper bound; exceeding it closes the connection
 * with an error instead of growing without limit.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

uint64_t now_ns(void);
double ns_to_ms(uint64_t ns);

/* --- histogram: log-linear buckets, at most 1/64 relative error --- */
#define HIST_EXP 48
#define HIST_SUB 128
struct hist {
	uint64_t n, min, max;
	double sum;
	uint64_t b[HIST_EXP][HIST_SUB];
};
void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
/* The value below which fraction q (0..1) of the samples lie. */
uint64_t hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

/* --- HTTP client --- */
#define HC_REQ_MAX (1u << 20)	/* largest request we build */
#define HC_RAW_MAX (8u << 20)	/* raw input buffered per connection */
#define HC_BODY_MAX (8u << 20)	/* largest response body */

struct loop {
	int epfd;
	int port;
	int nconns;	/* open connections */
};

struct hconn;
/* A complete response. body is NUL-terminated (len excludes the NUL). */
typedef void (*hc_resp_fn)(struct hconn *c, int status, const char *body, size_t len);
/* Streaming: decoded body bytes so far; return how many were consumed. */
typedef size_t (*hc_data_fn)(struct hconn *c, const char *data, size_t len);
/* The connection failed or the peer closed it; the struct is still valid and
 * may be reopened with hc_open(). */
typedef void (*hc_close_fn)(struct hconn *c, const char *why);
/* Headers of a response have arrived (status known, body may follow). */
typedef void (*hc_head_fn)(struct hconn *c, int status);

enum hc_state { HC_CLOSED, HC_CONNECTING, HC_READY };

struct hconn {
	struct loop *loop;
	int fd;
	enum hc_state state;
	int busy;		/* a request is outstanding */
	int streaming;		/* deliver the body through on_data */
	/* output */
	char *w;
	size_t wlen, woff, wcap;
	/* raw input */
	char *r;
	size_t rlen, rcap;
	/* decoded body */
	char *body;
	size_t blen, bcap;
	/* parser */
	int hdr_done, status, chunked, conn_close, until_close;
	long long clen;
	int cstate;
	size_t chunk_left;
	/* bookkeeping for the caller */
	uint64_t t_sent;
	void *user;
	long tag;
	hc_resp_fn on_resp;
	hc_data_fn on_data;
	hc_close_fn on_close;
	hc_head_fn on_head;
};

int loop_init(struct loop *l, int port);
void loop_free(struct loop *l);
/* Waits up to timeout_ms for events and handles them. Returns events seen or -1. */
int loop_poll(struct loop *l, int timeout_ms);

void hc_init(struct hconn *c, struct loop *l);
/* Starts a non-blocking connect. Returns 0 or -1. */
int hc_open(struct hconn *c);
void hc_close(struct hconn *c);
void hc_free(struct hconn *c);
/* Queues one request (and writes what it can), reconnecting first if the
 * connection is closed. extra_headers is a block of "Name: value\r\n" lines
 * or NULL. Returns 0 or -1 (busy, cannot connect, too big). */
int hc_request(struct hconn *c, const char *method, const char *path, const char *token,
	const char *extra_headers, const char *body, size_t body_len);

/* --- the host: spans of a stalled disk and paused CPUs (host.c) --- */
struct host_span {
	uint64_t start, end;	/* now_ns() */
};
struct host_report {
	int disk_watched;	/* 0: dir is on no block device */
	struct host_span *disk, *cpu;	/* in time order */
	size_t ndisk, ncpu;
};
struct host_watch;
/* Watches the block device holding dir (NULL: none) for spans of at least
 * min_ns with a request in flight and none completed, and every CPU for
 * spans of at least min_ns in which it ran nothing of ours. */
struct host_watch *host_watch_start(const char *dir, uint64_t min_ns);
void host_watch_stop(struct host_watch *w, struct host_report *r);
/* 1 if a span overlaps [from, to). */
int host_overlaps(const struct host_span *s, size_t n, uint64_t from, uint64_t to);
/* Appends " disk_watch=... disk_stalls=... cpu_pauses=..." for the spans
 * overlapping [from, to) to the RESULT line being printed. */
void host_print(const struct host_report *r, uint64_t from, uint64_t to);
void host_report_free(struct host_report *r);

/* --- small helpers for the programs --- */
void *xmalloc_or_die(size_t n);
void *xcalloc_or_die(size_t n, size_t size);
/* Raises RLIMIT_NOFILE as far as allowed; returns the soft limit now in force. */
long raise_nofile(void);

#endif
