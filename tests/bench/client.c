/* The benchmark's clock, histogram and epoll HTTP/1.1 client (see bench.h). */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

void *xmalloc_or_die(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "out of memory (%zu bytes)\n", n);
		exit(2);
	}
	return p;
}

void *xcalloc_or_die(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL) {
		fprintf(stderr, "out of memory (%zu x %zu bytes)\n", n, size);
		exit(2);
	}
	return p;
}

long raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (long)rl.rlim_cur;
}

/* --- histogram --- */

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static void hist_index(uint64_t v, int *e, int *s)
{
	if (v < HIST_SUB) {
		*e = 0;
		*s = (int)v;
		return;
	}
	int msb = 63 - __builtin_clzll(v);
	int shift = msb - 6;	/* leaves 7 significant bits: 64..127 */
	if (shift >= HIST_EXP) {
		*e = HIST_EXP - 1;
		*s = HIST_SUB - 1;
		return;
	}
	*e = shift;
	*s = (int)(v >> shift);
}

void hist_add(struct hist *h, uint64_t v)
{
	int e, s;
	hist_index(v, &e, &s);
	h->b[e][s]++;
	h->n++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->n == 0)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	uint64_t seen = 0;
	for (int e = 0; e < HIST_EXP; e++) {
		for (int s = 0; s < HIST_SUB; s++) {
			if (h->b[e][s] == 0)
				continue;
			seen += h->b[e][s];
			if (seen > want) {
				uint64_t lo = (uint64_t)s << e;
				uint64_t mid = lo + (((uint64_t)1 << e) >> 1);
				if (mid > h->max)
					mid = h->max;
				if (mid < h->min)
					mid = h->min;
				return mid;
			}
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->n ? h->sum / (double)h->n : 0.0;
}

/* --- event loop --- */

int loop_init(struct loop *l, int port)
{
	memset(l, 0, sizeof(*l));
	l->port = port;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -1 : 0;
}

void loop_free(struct loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

static void hc_fail(struct hconn *c, const char *why)
{
	hc_close(c);
	if (c->on_close)
		c->on_close(c, why);
}

static int buf_reserve(char **p, size_t *cap, size_t need, size_t max)
{
	if (need <= *cap)
		return 0;
	if (need > max)
		return -1;
	size_t n = *cap ? *cap : 1024;
	while (n < need)
		n *= 2;
	if (n > max)
		n = max;
	char *q = realloc(*p, n);
	if (q == NULL)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

static void parser_reset(struct hconn *c)
{
	c->hdr_done = 0;
	c->status = 0;
	c->chunked = 0;
	c->conn_close = 0;
	c->until_close = 0;
	c->clen = -1;
	c->cstate = 0;
	c->chunk_left = 0;
	c->blen = 0;
}

void hc_init(struct hconn *c, struct loop *l)
{
	memset(c, 0, sizeof(*c));
	c->loop = l;
	c->fd = -1;
	parser_reset(c);
}

int hc_open(struct hconn *c)
{
	if (c->state != HC_CLOSED)
		return 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)c->loop->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);	/* traffic only to 127.0.0.1 */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
	if (epoll_ctl(c->loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->state = HC_CONNECTING;
	c->busy = 0;
	c->wlen = c->woff = 0;
	c->rlen = 0;
	parser_reset(c);
	c->loop->nconns++;
	return 0;
}

void hc_close(struct hconn *c)
{
	if (c->fd >= 0) {
		close(c->fd);	/* also removes it from the epoll set */
		c->fd = -1;
		c->loop->nconns--;
	}
	c->state = HC_CLOSED;
	c->busy = 0;
	c->wlen = c->woff = 0;
	c->rlen = 0;
	parser_reset(c);
}

void hc_free(struct hconn *c)
{
	hc_close(c);
	free(c->w);
	free(c->r);
	free(c->body);
	c->w = c->r = c->body = NULL;
	c->wcap = c->rcap = c->bcap = 0;
}

static int hc_flush(struct hconn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->w + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->woff += (size_t)n;
	}
	c->wlen = c->woff = 0;
	return 0;
}

int hc_request(struct hconn *c, const char *method, const char *path, const char *token,
	const char *extra_headers, const char *body, size_t body_len)
{
	if (c->busy)
		return -1;
	/* A server may end a keep-alive connection after any response
	 * (lighttpd: server.max-keep-alive-requests); reconnect then. */
	if (c->state == HC_CLOSED && hc_open(c) < 0)
		return -1;
	char head[4096];
	int hn = snprintf(head, sizeof(head),
		"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s%s",
		method, path,
		token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "",
		extra_headers ? extra_headers : "");
	if (hn < 0 || (size_t)hn >= sizeof(head))
		return -1;
	char clen[96];
	int cn = 0;
	if (body != NULL)
		cn = snprintf(clen, sizeof(clen),
			"Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
	size_t need = (size_t)hn + (size_t)cn + 2 + (body ? body_len : 0);
	if (buf_reserve(&c->w, &c->wcap, need, HC_REQ_MAX) < 0)
		return -1;
	memcpy(c->w, head, (size_t)hn);
	size_t o = (size_t)hn;
	if (cn > 0) {
		memcpy(c->w + o, clen, (size_t)cn);
		o += (size_t)cn;
	}
	memcpy(c->w + o, "\r\n", 2);
	o += 2;
	if (body != NULL && body_len > 0) {
		memcpy(c->w + o, body, body_len);
		o += body_len;
	}
	c->wlen = o;
	c->woff = 0;
	c->busy = 1;
	c->t_sent = now_ns();
	if (c->state == HC_READY && hc_flush(c) < 0) {
		hc_fail(c, "write failed");
		return -1;
	}
	return 0;
}

/* --- response parsing --- */

static const char *find_crlf(const char *p, size_t n)
{
	const char *q = memchr(p, '\r', n);
	while (q != NULL && (size_t)(q - p) + 1 < n) {
		if (q[1] == '\n')
			return q;
		q = memchr(q + 1, '\r', n - (size_t)(q + 1 - p));
	}
	return NULL;
}

/* Parses the header block r[0..hlen). Returns 0 or -1. */
static int parse_head(struct hconn *c, size_t hlen)
{
	const char *p = c->r, *end = c->r + hlen;
	if (hlen < 12 || memcmp(p, "HTTP/1.", 7) != 0)
		return -1;
	c->status = atoi(p + 9);
	if (c->status < 100 || c->status > 599)
		return -1;
	int http10 = p[7] == '0';
	c->conn_close = http10;
	const char *line = find_crlf(p, hlen);
	while (line != NULL && line + 2 < end) {
		const char *s = line + 2;
		const char *e = find_crlf(s, (size_t)(end - s));
		if (e == NULL)
			e = end;
		size_t n = (size_t)(e - s);
		if (n > 15 && strncasecmp(s, "Content-Length:", 15) == 0) {
			c->clen = strtoll(s + 15, NULL, 10);
		} else if (n > 18 && strncasecmp(s, "Transfer-Encoding:", 18) == 0) {
			if (memmem(s, n, "chunked", 7) != NULL)
				c->chunked = 1;
		} else if (n > 11 && strncasecmp(s, "Connection:", 11) == 0) {
			if (memmem(s, n, "close", 5) != NULL)
				c->conn_close = 1;
			else if (memmem(s, n, "keep-alive", 10) != NULL)
				c->conn_close = 0;
		}
		line = e < end ? e : NULL;
	}
	if (c->chunked)
		c->clen = -1;
	if (c->status == 204 || c->status == 304 || (c->status >= 100 && c->status < 200))
		c->clen = 0, c->chunked = 0;
	if (!c->chunked && c->clen < 0)
		c->until_close = 1;
	if (c->clen > (long long)HC_BODY_MAX)
		return -1;
	return 0;
}

static int body_append(struct hconn *c, const char *p, size_t n)
{
	if (buf_reserve(&c->body, &c->bcap, c->blen + n + 1, HC_BODY_MAX + 1) < 0)
		return -1;
	memcpy(c->body + c->blen, p, n);
	c->blen += n;
	c->body[c->blen] = '\0';
	return 0;
}

static void stream_out(struct hconn *c)
{
	if (!c->streaming || c->on_data == NULL || c->blen == 0)
		return;
	size_t used = c->on_data(c, c->body, c->blen);
	if (used > c->blen)
		used = c->blen;
	memmove(c->body, c->body + used, c->blen - used);
	c->blen -= used;
	if (c->body)
		c->body[c->blen] = '\0';
}

static void complete(struct hconn *c)
{
	int status = c->status, close_it = c->conn_close || c->until_close;
	if (c->body == NULL && body_append(c, "", 0) < 0) {
		hc_fail(c, "out of memory");
		return;
	}
	/* Detach the body and reset before the callback: it may issue the next
	 * request (or reopen the connection) at once. */
	char *b = c->body;
	size_t len = c->blen, bcap = c->bcap;
	c->body = NULL;
	c->bcap = 0;
	c->busy = 0;
	if (close_it)
		hc_close(c);
	else
		parser_reset(c);
	if (c->on_resp)
		c->on_resp(c, status, b, len);
	/* Give the buffer back unless the callback made a new one. */
	if (c->body == NULL) {
		c->body = b;
		c->bcap = bcap;
		c->blen = 0;
	} else {
		free(b);
	}
}

/* Consumes what it can from r. Returns 1 if a response completed, 0 if more
 * input is needed, -1 on a protocol error. */
static int parse_some(struct hconn *c)
{
	size_t off = 0;
	int done = 0;
	if (!c->hdr_done) {
		const char *e = memmem(c->r, c->rlen, "\r\n\r\n", 4);
		if (e == NULL)
			return c->rlen > 65536 ? -1 : 0;
		size_t hlen = (size_t)(e - c->r) + 4;
		if (parse_head(c, hlen) < 0)
			return -1;
		c->hdr_done = 1;
		c->blen = 0;
		off = hlen;
		if (c->status >= 100 && c->status < 200) {
			/* interim response: drop it and wait for the real one */
			memmove(c->r, c->r + off, c->rlen - off);
			c->rlen -= off;
			parser_reset(c);
			return 0;
		}
		if (c->on_head)
			c->on_head(c, c->status);
	}
	if (c->chunked) {
		for (;;) {
			size_t avail = c->rlen - off;
			if (c->cstate == 0) {		/* size line */
				const char *e = find_crlf(c->r + off, avail);
				if (e == NULL) {
					if (avail > 64)
						return -1;
					break;
				}
				char *endp;
				unsigned long long n = strtoull(c->r + off, &endp, 16);
				if (endp == c->r + off || n > HC_BODY_MAX)
					return -1;
				off = (size_t)(e - c->r) + 2;
				c->chunk_left = (size_t)n;
				c->cstate = n == 0 ? 3 : 1;
			} else if (c->cstate == 1) {	/* data */
				if (avail == 0)
					break;
				size_t take = avail < c->chunk_left ? avail : c->chunk_left;
				if (body_append(c, c->r + off, take) < 0)
					return -1;
				off += take;
				c->chunk_left -= take;
				if (c->chunk_left == 0)
					c->cstate = 2;
			} else if (c->cstate == 2) {	/* CRLF after data */
				if (avail < 2)
					break;
				if (c->r[off] != '\r' || c->r[off + 1] != '\n')
					return -1;
				off += 2;
				c->cstate = 0;
			} else {			/* trailers until an empty line */
				const char *e = find_crlf(c->r + off, avail);
				if (e == NULL)
					break;
				size_t ln = (size_t)(e - (c->r + off));
				off += ln + 2;
				if (ln == 0) {
					done = 1;
					break;
				}
			}
		}
	} else if (c->clen >= 0) {
		size_t need = (size_t)c->clen - c->blen;
		size_t avail = c->rlen - off;
		size_t take = avail < need ? avail : need;
		if (take > 0 && body_append(c, c->r + off, take) < 0)
			return -1;
		off += take;
		if (c->blen == (size_t)c->clen)
			done = 1;
	} else {
		size_t avail = c->rlen - off;
		if (avail > 0 && body_append(c, c->r + off, avail) < 0)
			return -1;
		off += avail;
	}
	memmove(c->r, c->r + off, c->rlen - off);
	c->rlen -= off;
	if (!done)
		stream_out(c);
	return done;
}

static void on_readable(struct hconn *c)
{
	for (;;) {
		if (buf_reserve(&c->r, &c->rcap, c->rlen + 16384, HC_RAW_MAX) < 0) {
			hc_fail(c, "input buffer limit");
			return;
		}
		ssize_t n = recv(c->fd, c->r + c->rlen, c->rcap - c->rlen, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			hc_fail(c, "read error");
			return;
		}
		if (n == 0) {
			if (c->hdr_done && c->until_close) {
				c->conn_close = 1;
				complete(c);
				return;
			}
			hc_fail(c, c->busy ? "server closed the connection mid-request"
					   : "server closed an idle connection");
			return;
		}
		c->rlen += (size_t)n;
		while (c->rlen > 0 && c->state == HC_READY) {
			if (!c->busy) {
				hc_fail(c, "unexpected data from the server");
				return;
			}
			int r = parse_some(c);
			if (r < 0) {
				hc_fail(c, "malformed response");
				return;
			}
			if (r == 0)
				break;
			complete(c);
		}
		if (c->state != HC_READY)
			return;
	}
}

int loop_poll(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(l->epfd, evs, 256, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++) {
		struct hconn *c = evs[i].data.ptr;
		uint32_t e = evs[i].events;
		if (c->state == HC_CLOSED)
			continue;
		if (c->state == HC_CONNECTING) {
			if (!(e & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
				continue;
			int err = 0;
			socklen_t len = sizeof(err);
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err != 0 || (e & EPOLLERR)) {
				hc_fail(c, "connect failed");
				continue;
			}
			c->state = HC_READY;
		}
		if ((e & EPOLLOUT) && c->wlen > c->woff && hc_flush(c) < 0) {
			hc_fail(c, "write failed");
			continue;
		}
		if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			on_readable(c);
	}
	return n;
}
