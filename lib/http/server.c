/*
 * The FastCGI accept loop, the CGI fallback, and request dispatch.
 *
 * fcgi2's FCGX_Accept_r has no CGI fallback (only the stdio layer has), so
 * server_run() checks FCGX_IsCGI() once and, as plain CGI, builds the single
 * request from environ and stdin/stdout.
 *
 * Threaded mode creates threads on demand with small stacks:
 * one thread always waits in FCGX_Accept_r (under a mutex, as fcgi2 requires
 * for a shared listen socket); when it gets a request and no other thread is
 * idle, it starts one more before handling it. A request that waits
 * (req_park) leaves its thread: it goes to the parking lot (lib/wake/lot)
 * with its fcgi2 request and arena, and a small pool of resume threads
 * continues it when the lot hands it back. Waiting clients then cost
 * memory, not threads. A request held for work done elsewhere (req_hold: a
 * send waiting for its batch's commit) leaves its thread the same way, and
 * whoever holds it hands it to the resume threads (req_wake). Ended
 * requests' conns are kept for the next ones.
 */
#include "http/http.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <fcgiapp.h>

#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"
#include "util/stack.h"
#include "util/utf8.h"
#include "util/xalloc.h"
#include "wake/doorbell.h"
#include "wake/lot.h"

extern char **environ;

/* --- transports --- */

static int fcgx_read(void *ctx, char *buf, int n)
{
	FCGX_Request *r = ctx;
	return FCGX_GetStr(buf, n, r->in);
}

static int fcgx_write(void *ctx, const char *buf, int n)
{
	FCGX_Request *r = ctx;
	return FCGX_PutStr(buf, n, r->out) == n ? 0 : -1;
}

static int fcgx_flush(void *ctx)
{
	FCGX_Request *r = ctx;
	return FCGX_FFlush(r->out) == 0 && !FCGX_GetError(r->out) ? 0 : -1;
}

static int cgi_read(void *ctx, char *buf, int n)
{
	(void)ctx;
	size_t got = fread(buf, 1, (size_t)n, stdin);
	return ferror(stdin) ? -1 : (int)got;
}

static int cgi_write(void *ctx, const char *buf, int n)
{
	(void)ctx;
	return fwrite(buf, 1, (size_t)n, stdout) == (size_t)n ? 0 : -1;
}

static int cgi_flush(void *ctx)
{
	(void)ctx;
	return fflush(stdout) == 0 ? 0 : -1;
}

/* --- dispatch --- */

static int seg_next(const char **p, const char **seg, size_t *len)
{
	const char *s = *p;
	if (*s != '/')
		return 0;
	s++;
	const char *e = strchr(s, '/');
	*seg = s;
	*len = e ? (size_t)(e - s) : strlen(s);
	*p = s + *len;
	return 1;
}

/* Matches path against pattern ("{}" is one parameter). Returns 1 on match. */
static int match(struct req *req, const char *pattern, const char *path)
{
	const char *pp = pattern, *sp = path;
	int np = 0;
	for (;;) {
		const char *ps, *ss;
		size_t pl, sl;
		int a = seg_next(&pp, &ps, &pl), b = seg_next(&sp, &ss, &sl);
		if (!a || !b)
			return !a && !b && *pp == '\0' && *sp == '\0';
		if (pl == 2 && ps[0] == '{' && ps[1] == '}') {
			if (sl == 0 || np == HTTP_MAX_PARAMS)
				return 0;
			char *v = url_decode(req->arena, ss, sl, 0);
			if (v == NULL)
				return 0;
			req->params[np++] = v;
			req->nparams = np;
		} else if (pl != sl || memcmp(ps, ss, pl) != 0) {
			return 0;
		}
	}
}

static int origin_allowed(const char *origin)
{
	const char *list = config_str("cors_origins", "");
	size_t n = strlen(origin);
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		const char *e = p;
		while (*e != '\0' && *e != ',' && *e != ' ')
			e++;
		/* An empty entry (a list ending in a comma) matches nothing. */
		if (e > p && (size_t)(e - p) == n && memcmp(p, origin, n) == 0)
			return 1;
		p = e;
	}
	return 0;
}

static void set_request_id(struct req *req)
{
	const char *given = req_header(req, "X-Request-Id");
	if (given != NULL) {
		size_t n = strlen(given);
		/* 1-31 characters, as the API document promises. */
		int ok = n > 0 && n <= 31 && n < sizeof(req->request_id);
		for (size_t i = 0; ok && i < n; i++) {
			char c = given[i];
			ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '_';
		}
		if (ok) {
			memcpy(req->request_id, given, n + 1);
			return;
		}
	}
	unsigned char rnd[12];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(req->request_id + 2 * i, 3, "%02x", rnd[i]);
}

static int content_type_is_json(const char *ct)
{
	if (ct == NULL)
		return 0;
	size_t n = strlen("application/json");
	if (strncasecmp(ct, "application/json", n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

int req_is_json(struct req *req)
{
	return content_type_is_json(req_header(req, "Content-Type"));
}

static void parse_json_body(const struct server_opts *o, struct req *req, int *ok)
{
	*ok = 0;
	if (!req_is_json(req)) {
		resp_problem(req, 415, "unsupported_media_type",
			"Send the body as application/json.");
		return;
	}
	if (req_read_body(req, o->max_body) < 0)
		return;
	if (req->body_len == 0) {
		resp_problem(req, 400, "invalid_json", "The request body is empty.");
		return;
	}
	/* json-c's own check lets overlong forms and surrogates through, which
	 * MariaDB then refuses (a 500 instead of a 400). */
	if (!utf8_valid(req->body, req->body_len)) {
		resp_problem(req, 400, "invalid_json", "The request body is not valid UTF-8.");
		return;
	}
	json_tokener *tok = json_tokener_new_ex(64);
	if (tok == NULL)
		xalloc_fail(sizeof(*tok));
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *j = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (j == NULL || err != json_tokener_success || used != req->body_len) {
		json_object_put(j);
		resp_problem(req, 400, "invalid_json", "The request body is not valid JSON.");
		return;
	}
	if (!json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		resp_problem(req, 400, "invalid_json", "The request body must be a JSON object.");
		return;
	}
	req->json = j;
	*ok = 1;
}

void server_dispatch(const struct server_opts *o, struct req *req)
{
	set_request_id(req);
	log_set_request_id(req->request_id);

	const char *origin = req_header(req, "Origin");
	if (origin != NULL && origin_allowed(origin)) {
		resp_header(req, "Access-Control-Allow-Origin", origin);
		resp_header(req, "Vary", "Origin");
		resp_header(req, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
		if (strcmp(req->method, "OPTIONS") == 0) {
			resp_header(req, "Access-Control-Allow-Methods",
				"GET, POST, PUT, PATCH, DELETE");
			resp_header(req, "Access-Control-Allow-Headers",
				"Authorization, Content-Type, Last-Event-ID, X-Request-Id");
			resp_header(req, "Access-Control-Max-Age", "600");
			resp_json(req, 204, NULL);
			return;
		}
	}

	const struct route *found = NULL;
	int path_matched = 0;
	char allow[64] = "";	/* the methods the path has, for a 405 */
	for (size_t i = 0; i < o->nroutes && found == NULL; i++) {
		req->nparams = 0;
		if (!match(req, o->routes[i].pattern, req->path))
			continue;
		path_matched = 1;
		if (strcmp(o->routes[i].method, req->method) == 0)
			found = &o->routes[i];
		else if (strstr(allow, o->routes[i].method) == NULL) {
			size_t used = strlen(allow);
			snprintf(allow + used, sizeof(allow) - used, "%s%s", used ? ", " : "",
				o->routes[i].method);
		}
	}
	if (found == NULL) {
		if (path_matched) {
			resp_header(req, "Allow", allow);
			resp_problem(req, 405, "method_not_allowed",
				"This method is not allowed on this resource.");
		} else
			resp_problem(req, 404, "not_found", "No such resource.");
		return;
	}
	req->route = found;
	if (!req_query_ok(req)) {
		resp_problem(req, 400, "invalid_query", "The query string is malformed (a broken "
			"%-escape, a NUL byte or text that is not UTF-8).");
		return;
	}
	if ((found->flags & ROUTE_AUTH) && o->authenticate != NULL) {
		int r = o->authenticate(req);
		if (r < 0 && !req->headers_sent)
			resp_problem(req, 500, "internal", "Authentication failed unexpectedly.");
		if (r <= 0)
			return;
	}
	if (found->flags & ROUTE_JSON) {
		int ok;
		parse_json_body(o, req, &ok);
		if (!ok)
			return;
	} else if (!(found->flags & ROUTE_RAW)) {
		/* Drain any body so the connection stays in step; cap it. */
		if (req_read_body(req, o->max_body) < 0)
			return;
	}
	found->handler(req);
	if (!req->headers_sent && req->resume == NULL)
		resp_problem(req, 500, "internal", "The server could not complete the request.");
}

void req_park(struct req *req, int64_t user_id, uint32_t bell, int64_t wait_ms,
	void (*resume)(struct req *req, void *state), void *state)
{
	req->resume = resume;
	req->resume_state = state;
	req->park_user = user_id;
	req->park_bell = bell;
	req->park_ms = wait_ms < 0 ? 0 : wait_ms;
}

/* Continues a parked request once. */
static void resume_once(struct req *req)
{
	void (*fn)(struct req *, void *) = req->resume;
	req->resume = NULL;
	log_set_request_id(req->request_id);
	fn(req, req->resume_state);
	if (!req->headers_sent && req->resume == NULL && !req->client_gone)
		resp_problem(req, 500, "internal", "The server could not complete the request.");
}

/* Runs a parked request to its end on this thread (CGI, unthreaded, or
 * no parking lot). */
static void finish_in_place(struct req *req)
{
	while (req->resume != NULL) {
		int64_t w = req->park_ms > INT32_MAX ? INT32_MAX : req->park_ms;
		doorbell_wait(req->park_user, req->park_bell, (int)w);
		resume_once(req);
	}
}

static void req_prepare(struct req *req, struct arena *a, struct http_io *io, void *app)
{
	memset(req, 0, sizeof(*req));
	req->arena = a;
	req->io = io;
	req->app = app;
	const char *m = FCGX_GetParam("REQUEST_METHOD", io->env);
	req->method = arena_strdup(a, m ? m : "GET");
	const char *uri = FCGX_GetParam("REQUEST_URI", io->env);
	if (uri == NULL)
		uri = FCGX_GetParam("PATH_INFO", io->env);
	if (uri == NULL)
		uri = "/";
	const char *q = strchr(uri, '?');
	size_t plen = q ? (size_t)(q - uri) : strlen(uri);
	const char *prefix = config_str("api_prefix", "/api/v1");
	size_t pl = strlen(prefix);
	if (plen >= pl && memcmp(uri, prefix, pl) == 0) {
		uri += pl;
		plen -= pl;
	}
	req->path = plen ? arena_strndup(a, uri, plen) : "/";
	if (q == NULL) {
		const char *qs = FCGX_GetParam("QUERY_STRING", io->env);
		req->query = arena_strdup(a, qs ? qs : "");
	} else {
		req->query = arena_strdup(a, q + 1);
	}
	const char *ra = FCGX_GetParam("REMOTE_ADDR", io->env);
	req->remote_addr = arena_strdup(a, ra ? ra : "");
	char net[64];
	http_addr_net(req->remote_addr, net, sizeof(net));
	req->client_net = arena_strdup(a, net);
}

void req_on_end(struct req *req, void (*fn)(struct req *req, void *state), void *state)
{
	req->on_end = fn;
	req->on_end_state = state;
}

static void req_finish(const struct server_opts *o, struct req *req)
{
	if (req->on_end != NULL) {
		req->on_end(req, req->on_end_state);
		req->on_end = NULL;
	}
	if (o->after != NULL)
		o->after(req);
	json_object_put(req->json);
	req->json = NULL;
	log_set_request_id(NULL);
}

/* --- loops --- */

static const struct server_opts *g_opts;
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int listen_fd;
/* The web server reaches us over a Unix socket (see conn_settle). */
static int listen_unix;
static int n_threads, n_idle;
static int use_lot;		/* parked requests go to the lot */
static int n_resumers;		/* resume threads running */

/* One FastCGI request and everything it keeps while parked. */
struct conn {
	struct parked park;	/* first: the lot hands this back */
	struct conn *next_run;
	FCGX_Request fr;
	struct http_io io;
	struct req req;
	struct arena arena;
};

/* Ended requests' conns kept for the next ones (a held send takes a new
 * conn for its thread's next request each time; allocating and freeing
 * one with its arena block per send showed in api.fcgi's profile). */
#define SPARE_CONNS_MAX 64
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *spare;
static int n_spare;

/* arena_block: the size of the arena's first block (a parked request
 * keeps it, so threaded servers use a small one); a kept conn has its
 * first block already, of the size the process uses. */
static struct conn *conn_new(size_t arena_block)
{
	pthread_mutex_lock(&spare_lock);
	struct conn *c = spare;
	if (c != NULL) {
		spare = c->next_run;
		n_spare--;
	}
	pthread_mutex_unlock(&spare_lock);
	if (c != NULL) {
		c->park = (struct parked){0};
		c->next_run = NULL;
		return c;
	}
	c = xcalloc(1, sizeof(*c));
	/* Fails only for a negative socket. */
	if (FCGX_InitRequest(&c->fr, listen_fd, 0) != 0)
		abort();
	arena_init_block(&c->arena, arena_block);
	return c;
}

static void conn_free(struct conn *c)
{
	/* fcgi2 closes the connection at the end of a request unless the web
	 * server asked to keep it; then it is closed here. */
	if (c->fr.ipcFd >= 0)
		FCGX_Free(&c->fr, 1);
	arena_release(&c->arena);
	free(c);
}

/* Keeps an ended request's conn (its transport finished, its arena reset)
 * for conn_new, or frees it. */
static void conn_done(struct conn *c)
{
	if (c->fr.ipcFd < 0) {
		pthread_mutex_lock(&spare_lock);
		int keep = n_spare < SPARE_CONNS_MAX;
		if (keep) {
			c->next_run = spare;
			spare = c;
			n_spare++;
		}
		pthread_mutex_unlock(&spare_lock);
		if (keep)
			return;
	}
	conn_free(c);
}

/* The resume threads' queues: requests whose doorbell rang (a message to
 * deliver) go before those whose timer is due (heartbeats, presence
 * refreshes, timeouts), so idle clients' upkeep never delays a delivery. */
struct runq {
	struct conn *head, *tail;
};
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t run_cond = PTHREAD_COND_INITIALIZER;
static struct runq run_rung, run_timer;
static int rung_in_a_row;	/* a timer goes first after 16 of them */

static void runq_push(struct runq *q, struct conn *c)
{
	c->next_run = NULL;
	if (q->tail != NULL)
		q->tail->next_run = c;
	else
		q->head = c;
	q->tail = c;
}

static struct conn *runq_pop(struct runq *q)
{
	struct conn *c = q->head;
	if (c != NULL) {
		q->head = c->next_run;
		if (q->head == NULL)
			q->tail = NULL;
	}
	return c;
}

static struct conn *runq_next(void)
{
	struct conn *c = NULL;
	if (rung_in_a_row >= 16)
		c = runq_pop(&run_timer);
	if (c == NULL && (c = runq_pop(&run_rung)) != NULL) {
		rung_in_a_row++;
		return c;
	}
	if (c == NULL)
		c = runq_pop(&run_timer);
	if (c != NULL)
		rung_in_a_row = 0;
	return c;
}

int server_holds(void)
{
	return n_resumers > 0;
}

void req_hold(struct req *req, void (*hand)(struct req *req, void *state),
	void (*resume)(struct req *req, void *state), void *state)
{
	if (!server_holds()) {
		/* A handler's mistake (see server_holds): answered rather than
		 * left hanging or resumed as if its work had been done. */
		log_error("server: a request was held in a process without resume threads");
		resp_problem(req, 500, "internal", "The server could not complete the request.");
		return;
	}
	req->hand = hand;
	req->resume = resume;
	req->resume_state = state;
}

void req_wake(struct req **reqs, int n)
{
	if (n <= 0)
		return;
	pthread_mutex_lock(&run_lock);
	for (int i = 0; i < n; i++)
		runq_push(&run_rung, (struct conn *)(void *)((char *)reqs[i] -
			offsetof(struct conn, req)));
	/* Each resume thread takes requests until none are left: two
	 * wake-ups (one per core) answer a batch with few thread switches. */
	for (int i = 0; i < n && i < 2; i++)
		pthread_cond_signal(&run_cond);
	pthread_mutex_unlock(&run_lock);
}

static void on_ready(struct parked *p)
{
	struct conn *c = (struct conn *)(void *)p;
	pthread_mutex_lock(&run_lock);
	runq_push(p->rung ? &run_rung : &run_timer, c);
	pthread_cond_signal(&run_cond);
	pthread_mutex_unlock(&run_lock);
}

/* Reads and drops what is left of the request's input, up to the end the
 * web server marks after the body: 1 when that end was read. Usually only
 * the end marker is left, already here. A body still on its way (lighttpd
 * streams it; a request answered before its body was read) is waited for
 * at most 100 ms, so that a client stalling it does not hold the thread:
 * then the read fails and fcgi2 closes as it always did. */
static int input_drained(FCGX_Request *r)
{
	if (FCGX_HasSeenEOF(r->in) != EOF) {
		struct timeval tv = {.tv_sec = 0, .tv_usec = 100 * 1000};
		setsockopt(r->ipcFd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char sink[4096];
		while (FCGX_GetStr(sink, (int)sizeof(sink), r->in) > 0)
			;
	}
	/* A failed read also ends the stream: only a clean end counts. */
	return FCGX_HasSeenEOF(r->in) == EOF && FCGX_GetError(r->in) == 0;
}

/* After its handler ran: parks the request, hands it over (req_hold), or
 * ends it. Returns 1 when
 * parked (the conn may already be running elsewhere: do not touch it). */
static int conn_settle(const struct server_opts *o, struct conn *c)
{
	struct req *req = &c->req;
	if (req->resume != NULL && req->hand == NULL && !use_lot)
		finish_in_place(req);
	if (req->resume != NULL) {
		if (o->after != NULL)
			o->after(req);
		req->app = NULL;
		log_set_request_id(NULL);
		if (req->hand != NULL) {
			void (*hand)(struct req *, void *) = req->hand;
			req->hand = NULL;
			hand(req, req->resume_state);
			return 1;
		}
		lot_park(&c->park, req->park_user, req->park_bell, req->park_ms, c->fr.ipcFd);
		return 1;
	}
	req_finish(o, req);
	/* fcgi2 ends a connection with shutdown() and then waits in poll()
	 * until the web server closes its end, so that closing with unread
	 * input cannot reset a TCP connection before the answer is read: a
	 * sleep and a wake-up per request, about a tenth of a send's CPU time
	 * here. Over a Unix socket what we wrote stays readable whatever we
	 * close; once the input's end is read, the web server writes nothing
	 * more, so the connection is closed at once (detached). The answer
	 * and its end record go out first (fcgi2 closes its streams in this
	 * order; FCGX_Finish_r's second close is a no-op), so reading the
	 * input's end never delays them. A connection the web server asked to
	 * keep (lighttpd never does) is left to fcgi2. */
	if (listen_unix && !c->fr.keepConnection) {
		FCGX_FClose(c->fr.err);
		FCGX_FClose(c->fr.out);
		if (input_drained(&c->fr))
			FCGX_Detach(&c->fr);
	}
	FCGX_Finish_r(&c->fr);
	arena_reset(&c->arena);
	return 0;
}

/* After a hangup wake: whether the web server closed the request's
 * connection or sent more (an abort); a request on a reused descriptor
 * sees neither and carries on. */
static int client_left(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void *resumer(void *arg)
{
	(void)arg;
	const struct server_opts *o = g_opts;
	void *app = o->thread_init ? o->thread_init() : NULL;
	for (;;) {
		struct conn *c;
		pthread_mutex_lock(&run_lock);
		while ((c = runq_next()) == NULL)
			pthread_cond_wait(&run_cond, &run_lock);
		pthread_mutex_unlock(&run_lock);
		c->req.app = app;
		if (c->park.hangup && client_left(c->fr.ipcFd))
			c->req.client_gone = 1;
		resume_once(&c->req);
		if (!conn_settle(o, c))
			conn_done(c);
	}
	return NULL;
}

static void *worker(void *arg);

/* Accepts that failed for want of descriptors or memory (logged 1 in 100). */
static _Atomic unsigned accept_failures;

static void spawn_worker(void)
{
	if (thread_start(worker, NULL, g_opts->stack_size) != 0) {
		pthread_mutex_lock(&count_lock);
		n_threads--;
		n_idle--;
		pthread_mutex_unlock(&count_lock);
	}
}

/* arg is non-NULL for the process's main thread, which never leaves. */
static void *worker(void *arg)
{
	const struct server_opts *o = g_opts;
	void *app = o->thread_init ? o->thread_init() : NULL;
	size_t block = o->arena_block > 0 ? o->arena_block : o->threaded ? 1024 : 8192;
	struct conn *c = conn_new(block);
	for (;;) {
		pthread_mutex_lock(&accept_lock);
		int rc = FCGX_Accept_r(&c->fr);
		pthread_mutex_unlock(&accept_lock);
		if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
			/* Out of descriptors or memory for a moment (thousands of
			 * waiters): the requests already held go on, and the next
			 * connection is taken when some have ended. */
			if (accept_failures++ % 100 == 0)
				log_warn("server: accept: %s; trying again", strerror(-rc));
			clock_sleep_ms(100);
			continue;
		}
		if (rc < 0) {
			log_error("server: accept failed (%d); this thread stops taking requests", rc);
			if (o->threaded && arg == NULL) {
				pthread_mutex_lock(&count_lock);
				n_threads--;
				n_idle--;
				pthread_mutex_unlock(&count_lock);
			}
			break;
		}
		if (o->threaded) {
			int need = 0;
			pthread_mutex_lock(&count_lock);
			n_idle--;
			if (n_idle == 0 && n_threads < o->max_threads) {
				n_threads++;
				n_idle++;
				need = 1;
			}
			pthread_mutex_unlock(&count_lock);
			if (need)
				spawn_worker();
		}
		if (o->write_timeout_ms > 0) {
			struct timeval tv = {o->write_timeout_ms / 1000, (o->write_timeout_ms % 1000) * 1000};
			if (setsockopt(c->fr.ipcFd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
				log_warn("server: SO_SNDTIMEO: %s", strerror(errno));
		}
		c->io = (struct http_io){fcgx_read, fcgx_write, fcgx_flush, c->fr.envp, &c->fr};
		req_prepare(&c->req, &c->arena, &c->io, app);
		server_dispatch(o, &c->req);
		if (conn_settle(o, c))
			c = conn_new(block);
		if (o->threaded) {
			int leave = 0;
			pthread_mutex_lock(&count_lock);
			/* Shrink when many threads sit idle; always keep one. */
			int keep = o->idle_threads > 0 ? o->idle_threads : 8;
			if (arg == NULL && n_idle >= keep && n_threads > 1) {
				n_threads--;
				leave = 1;
			} else {
				n_idle++;
			}
			pthread_mutex_unlock(&count_lock);
			if (leave)
				break;
		}
	}
	conn_free(c);
	if (o->thread_free)
		o->thread_free(app);
	return NULL;
}

#ifdef __SANITIZE_ADDRESS__
/* Sanitizer builds exit through exit() on SIGTERM so LeakSanitizer runs its
 * leak check when lighttpd stops its backends. (exit() is not
 * async-signal-safe; acceptable in a test build, never in release.) */
static void on_term(int sig)
{
	(void)sig;
	exit(0);
}
#endif

int server_is_cgi(void)
{
	return FCGX_IsCGI();
}

int server_run(const struct server_opts *o)
{
	g_opts = o;
	resp_set_unavailable(o->unavailable);
	if (FCGX_Init() != 0) {
		log_error("FCGX_Init failed");
		return 1;
	}
	/* fcgi2 installs a SIGTERM handler that only sets a flag; lighttpd's
	 * shutdown must stop us, so restore the default. Keep SIGPIPE ignored:
	 * a client that leaves must not kill the process. */
#ifdef __SANITIZE_ADDRESS__
	signal(SIGTERM, on_term);
#else
	signal(SIGTERM, SIG_DFL);
#endif
	signal(SIGPIPE, SIG_IGN);

	if (FCGX_IsCGI()) {
		struct arena a;
		arena_init(&a);
		void *app = o->thread_init ? o->thread_init() : NULL;
		struct http_io io = {cgi_read, cgi_write, cgi_flush, environ, NULL};
		struct req req;
		req_prepare(&req, &a, &io, app);
		server_dispatch(o, &req);
		finish_in_place(&req);
		req_finish(o, &req);
		fflush(stdout);
		if (o->thread_free)
			o->thread_free(app);
		arena_release(&a);
		return 0;
	}

	listen_fd = 0; /* lighttpd passes the listening socket as fd 0 */
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	listen_unix = getsockname(listen_fd, (struct sockaddr *)&sa, &salen) == 0
		&& sa.ss_family == AF_UNIX;
	n_threads = 1;
	n_idle = 1;
	if (o->threaded && o->resume_threads > 0) {
		use_lot = o->parks && lot_start(on_ready) == 0;
		for (int i = 0; (use_lot || !o->parks) && i < o->resume_threads; i++) {
			if (thread_start(resumer, NULL, g_opts->stack_size) != 0)
				return 1;
			n_resumers++;
		}
	}
	worker((void *)o);
	return 0;
}
