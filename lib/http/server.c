/*
 * The FastCGI accept loop, the CGI fallback, and request dispatch.
 *
 * fcgi2's FCGX_Accept_r has no CGI fallback (only the stdio layer has), so
 * server_run() checks FCGX_IsCGI() once and, as plain CGI, builds the single
 * request from environ and stdin/stdout.
 *
 * Threaded mode (events.fcgi) creates threads on demand with small stacks:
 * one thread always waits in FCGX_Accept_r (under a mutex, as fcgi2 requires
 * for a shared listen socket); when it gets a request and no other thread is
 * idle, it starts one more before handling it.
 */
#include "http/http.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <fcgiapp.h>

#include "util/config.h"
#include "util/log.h"

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
			char *v = url_decode(req->arena, ss, sl);
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
		if ((size_t)(e - p) == n && memcmp(p, origin, n) == 0)
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
		int ok = n > 0 && n < sizeof(req->request_id);
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

static void parse_json_body(const struct server_opts *o, struct req *req, int *ok)
{
	*ok = 0;
	if (!content_type_is_json(req_header(req, "Content-Type"))) {
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
	json_tokener *tok = json_tokener_new_ex(64);
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
	for (size_t i = 0; i < o->nroutes && found == NULL; i++) {
		req->nparams = 0;
		if (!match(req, o->routes[i].pattern, req->path))
			continue;
		path_matched = 1;
		if (strcmp(o->routes[i].method, req->method) == 0)
			found = &o->routes[i];
	}
	if (found == NULL) {
		if (path_matched)
			resp_problem(req, 405, "method_not_allowed",
				"This method is not allowed on this resource.");
		else
			resp_problem(req, 404, "not_found", "No such resource.");
		return;
	}
	req->route = found;
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
	if (!req->headers_sent)
		resp_problem(req, 500, "internal", "The server could not complete the request.");
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
}

static void req_finish(const struct server_opts *o, struct req *req)
{
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
static int n_threads, n_idle;

static void *worker(void *arg);

static void spawn_worker(void)
{
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (g_opts->stack_size)
		pthread_attr_setstacksize(&attr, g_opts->stack_size);
	if (pthread_create(&t, &attr, worker, NULL) != 0) {
		pthread_mutex_lock(&count_lock);
		n_threads--;
		n_idle--;
		pthread_mutex_unlock(&count_lock);
		log_error("cannot start a worker thread: %s", strerror(errno));
	}
	pthread_attr_destroy(&attr);
}

/* arg is non-NULL for the process's main thread, which never leaves. */
static void *worker(void *arg)
{
	const struct server_opts *o = g_opts;
	FCGX_Request fr;
	struct arena a;
	/* A thread per waiting client: keep what each one holds small. */
	arena_init_block(&a, o->threaded ? 1024 : 8192);
	void *app = o->thread_init ? o->thread_init() : NULL;
	if (FCGX_InitRequest(&fr, listen_fd, 0) != 0) {
		log_error("FCGX_InitRequest failed");
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&accept_lock);
		int rc = FCGX_Accept_r(&fr);
		pthread_mutex_unlock(&accept_lock);
		if (rc < 0)
			break;
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
		struct http_io io = {fcgx_read, fcgx_write, fcgx_flush, fr.envp, &fr};
		struct req req;
		req_prepare(&req, &a, &io, app);
		server_dispatch(o, &req);
		req_finish(o, &req);
		FCGX_Finish_r(&fr);
		arena_reset(&a);
		if (o->threaded) {
			int leave = 0;
			pthread_mutex_lock(&count_lock);
			/* Shrink when many threads sit idle; always keep one. */
			if (arg == NULL && n_idle >= 8 && n_threads > 1) {
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
	FCGX_Free(&fr, 0);
	if (o->thread_free)
		o->thread_free(app);
	arena_release(&a);
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

int server_run(const struct server_opts *o)
{
	g_opts = o;
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
		req_finish(o, &req);
		fflush(stdout);
		if (o->thread_free)
			o->thread_free(app);
		arena_release(&a);
		return 0;
	}

	listen_fd = 0; /* lighttpd passes the listening socket as fd 0 */
	n_threads = 1;
	n_idle = 1;
	worker((void *)o);
	return 0;
}
