/*
 * HTTP layer over fcgi2: requests, responses, routing and problem+json.
 * No SQL and no domain rules live here. Each request owns an arena that is
 * cleared when the request ends; nothing in struct req survives it.
 */
#ifndef HTTP_HTTP_H
#define HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "util/arena.h"

#define HTTP_MAX_PARAMS 6
#define REQ_PREFETCH_MAX 4

/* Transport of one request: fcgi2 streams, or stdin/stdout when run as CGI. */
struct http_io {
	int (*read)(void *ctx, char *buf, int n);	/* bytes read, 0 at end, -1 error */
	int (*write)(void *ctx, const char *buf, int n); /* 0 or -1 */
	int (*flush)(void *ctx);			/* 0 or -1 (client gone) */
	char **env;					/* borrowed CGI-style params */
	void *ctx;
};

struct req {
	struct arena *arena;
	struct http_io *io;
	const char *method;
	const char *path;	/* below /api/v1, percent-encoded, never NULL */
	const char *query;	/* raw query string without '?', never NULL */
	const char *remote_addr;
	/* The client as rate limits count it (http_addr_net). */
	const char *client_net;
	const char *body;	/* NUL-terminated copy of the body (arena) */
	size_t body_len;
	json_object *json;	/* parsed body for ROUTE_JSON routes; freed after */
	const char *params[HTTP_MAX_PARAMS]; /* path parameters, decoded */
	int nparams;
	char request_id[40];

	/* Set by authentication for ROUTE_AUTH routes. */
	int64_t user_id;
	int64_t session_id;
	/* The route's prefetched memcached values (see struct route), fetched
	 * with the session check: prefetched is 1 once they were asked for;
	 * pre[i] is NULL on a miss or when memcached failed. */
	const struct route *route;
	int prefetched;
	char *pre[REQ_PREFETCH_MAX];

	/* Response state. */
	int status;
	int headers_sent;
	int client_gone;
	const char *extra_headers;	/* "Name: value\r\n..." added to the response */

	void *app;		/* the entry point's per-thread context (db, cache) */

	/* Set by req_park and req_hold: the request waits, and resume(req,
	 * resume_state) continues it later, maybe on another thread (req->app
	 * is then that thread's). */
	void (*resume)(struct req *req, void *state);
	void *resume_state;
	int64_t park_user;
	uint32_t park_bell;
	int64_t park_ms;
	/* Set by req_hold: who takes the request once its thread lets go. */
	void (*hand)(struct req *req, void *state);

	/* Set by req_on_end: called once when the request ends (answered,
	 * or its client gone), on whichever thread ends it. */
	void (*on_end)(struct req *req, void *state);
	void *on_end_state;
};

/* Route flags. */
enum {
	ROUTE_AUTH = 1 << 0,	/* needs a valid access token */
	ROUTE_JSON = 1 << 1,	/* body must be a JSON object; parsed into req->json */
	ROUTE_RAW = 1 << 2,	/* the handler reads the body itself (media uploads) */
};

typedef void (*handler_fn)(struct req *req);

/* Writes up to REQ_PREFETCH_MAX memcached keys (arena strings) the handler
 * will read into keys; returns how many. Called with path parameters and
 * user_id set, before the handler, so that authentication can fetch them
 * in the same round trip as the session. */
typedef int (*prefetch_fn)(struct req *req, const char **keys);

struct route {
	const char *method;
	const char *pattern;	/* e.g. "/conversations/{}/messages/{}" */
	handler_fn handler;
	int flags;
	prefetch_fn prefetch;	/* optional, ROUTE_AUTH routes */
};

struct server_opts {
	const char *name;
	const struct route *routes;
	size_t nroutes;
	/* Returns 1 when req->user_id is set, 0 when it already answered (401),
	 * -1 on an internal error. */
	int (*authenticate)(struct req *req);
	/* Called once per worker thread to create/destroy req->app. */
	void *(*thread_init)(void);
	void (*thread_free)(void *app);
	/* Called after each request (e.g. to release a DB connection). */
	void (*after)(struct req *req);
	int threaded;		/* threads created on demand */
	int max_threads;
	/* Threaded: idle threads kept before one leaves (0: 8). A server whose
	 * load comes in bursts keeps more, rather than start and end threads
	 * between bursts. */
	int idle_threads;
	/* Threaded: threads that continue parked and held requests (0: a
	 * parked request keeps its thread and waits in place; none is held). */
	int resume_threads;
	/* Handlers park requests (req_park): start the parking lot. Without
	 * it a parked request waits in place even where resume threads run. */
	int parks;
	size_t stack_size;
	/* A request arena's first block (0: 1 KiB threaded, as a parked
	 * request keeps it; 8 KiB otherwise). */
	size_t arena_block;
	size_t max_body;
	/* A write to the web server that makes no progress for this long
	 * fails (0: it waits): a client that stops reading then ends its own
	 * request instead of holding the thread that writes to it. */
	int write_timeout_ms;
	/* Optional: 1 when the request's failure comes from a dependency that
	 * cannot be reached (the database): its 500 is then answered 503
	 * database_unavailable, which clients retry. */
	int (*unavailable)(struct req *req);
};

/* Runs the accept loop (or one CGI request). Returns the exit status. */
int server_run(const struct server_opts *o);

/* 1 when the process runs as plain CGI (one request), not FastCGI. */
int server_is_cgi(void);

/* Dispatches one request; exposed for tests. */
void server_dispatch(const struct server_opts *o, struct req *req);

/*
 * Parks the request: the handler returns after this call, and resume(req,
 * state) runs once user_id's doorbell differs from bell or wait_ms have
 * passed (whichever is first; the resumed code checks which). The request
 * keeps its arena and transport, and must hold no database connection. An
 * event-loop server holds it without a thread; plain CGI and the
 * unthreaded server wait in place.
 */
void req_park(struct req *req, int64_t user_id, uint32_t bell, int64_t wait_ms,
	void (*resume)(struct req *req, void *state), void *state);

/*
 * Hands the request over: once the handler has returned and its thread has
 * let go of it, hand(req, state) is called and whoever it gives the request
 * to calls req_wake() once, from any thread; resume(req, state) then
 * continues it on a resume thread. The request keeps its arena and
 * transport, and must hold no database connection. So a request that waits
 * for work done elsewhere (a send waiting for its batch's commit) holds no
 * thread. Only where server_holds() (a threaded server with resume
 * threads); elsewhere the handler does the work itself.
 */
void req_hold(struct req *req, void (*hand)(struct req *req, void *state),
	void (*resume)(struct req *req, void *state), void *state);
/* Ends the hold of each of reqs (n of them, held through req_hold). */
void req_wake(struct req **reqs, int n);
/* 1 when this process can hold requests (req_hold). */
int server_holds(void);

/* Has fn(req, state) called once when the request ends, however it ends
 * (parked or not): for what a handler counts while a request is open. */
void req_on_end(struct req *req, void (*fn)(struct req *req, void *state), void *state);

/* --- request helpers --- */
const char *req_header(struct req *req, const char *name); /* "Content-Type" */
/* Whether the request says its body is application/json. */
int req_is_json(struct req *req);
/* The client's address as rate limits count it, into out (n >= 48): an
 * IPv4 address whole, an IPv6 address by its /64 ("2001:db8:1:2::/64"),
 * the network one subscriber is given (an attacker's single host has the
 * whole /64 to pick addresses from); an IPv4-mapped one as IPv4. Anything
 * else (a Unix socket's empty address) is copied as it is, cut to fit. */
void http_addr_net(const char *addr, char *out, size_t n);
const char *req_env(struct req *req, const char *name);
/* Query parameter, decoded into the arena, or NULL. */
const char *req_query(struct req *req, const char *name);
/* 1 when every parameter of the query string decodes (well-formed escapes,
 * no NUL, UTF-8); the router answers 400 otherwise, so req_query's NULL
 * means absent. */
int req_query_ok(struct req *req);
/* Reads the whole body up to max bytes into req->body. Returns 0, or -1 after
 * answering 413 (too large) or 400. */
int req_read_body(struct req *req, size_t max);
/* Percent-decodes s into the arena; form: '+' is a space (a query string),
 * else a '+' (a path). Returns NULL on malformed input or NUL. */
char *url_decode(struct arena *a, const char *s, size_t n, int form);
/* Parses s as a decimal integer in [min, max]: digits only (no sign, no
 * spaces), at most 18 of them. 0, or -1 when s is anything else. */
int http_parse_uint(const char *s, int64_t min, int64_t max, int64_t *out);
/* Parses a path parameter as a positive id. Returns 1 and sets *out, or 0
 * after answering 404 (an unknown id and a malformed one look the same). */
int req_param_id(struct req *req, int i, int64_t *out);

/* --- responses --- */
/* Sends status, headers and a JSON body; takes ownership of body (may be NULL
 * for an empty 204). */
void resp_json(struct req *req, int status, json_object *body);
/* Sends an already serialised JSON body (e.g. from a cache) as is. */
void resp_json_text(struct req *req, int status, const char *text, size_t len);
/* application/problem+json (RFC 9457). code is a stable machine-readable
 * string, detail a human sentence (may be NULL). */
/* A 500 of a request whose database cannot be reached (server_opts
 * unavailable) goes out as 503 database_unavailable. */
void resp_problem(struct req *req, int status, const char *code, const char *detail);
/* Set by server_run from server_opts.unavailable. */
void resp_set_unavailable(int (*fn)(struct req *req));
/* 503 database_unavailable: the database cannot be reached; try again. */
void resp_unavailable(struct req *req);
/* Like resp_problem, with extra members merged into the problem object
 * (takes ownership of extra). */
void resp_problem_ext(struct req *req, int status, const char *code, const char *detail,
	json_object *extra);
/* Answers 400 invalid_field with the detail and {field}. Returns -1. */
int resp_bad_field(struct req *req, const char *field, const char *detail);
/* Starts a streamed response (SSE); then resp_write/resp_flush. */
int resp_start(struct req *req, int status, const char *content_type);
int resp_write(struct req *req, const char *data, size_t n);
int resp_flush(struct req *req);
/* Adds a response header line for the response not yet sent. */
void resp_header(struct req *req, const char *name, const char *value);

/* --- JSON input helpers: each answers 400 itself and returns -1 --- */
/* Reads a string member. required: missing -> 400. Checks UTF-8 validity,
 * rejects NUL, enforces max bytes (and min, for non-empty). *out is NULL when
 * absent and not required. */
int json_req_str(struct req *req, json_object *o, const char *key, int required,
	size_t min, size_t max, const char **out);
/* Integer member in [min, max]. Sets *present when given (may be NULL). */
int json_req_int(struct req *req, json_object *o, const char *key, int required,
	int64_t min, int64_t max, int64_t *out, int *present);
/* Boolean member; null is refused like any other non-boolean. */
int json_req_bool(struct req *req, json_object *o, const char *key, int required,
	int *out, int *present);
/* Rejects members not in the NULL-terminated allowed list. */
int json_req_only(struct req *req, json_object *o, const char *const *allowed);
/* Answers 400 invalid_field "Field 'key' <what>." with field: key. Returns -1. */
int json_req_bad(struct req *req, const char *key, const char *what);
/* Text a person typed (util/text.h): at most max_chars characters, no
 * control characters (newlines and tabs where allowed), not blank unless
 * allowed. 0, or -1 with 400 invalid_field answered. */
int json_req_text(struct req *req, const char *key, const char *s, size_t max_chars,
	int allow_newlines, int allow_blank);

/* RFC 3339 UTC with milliseconds from a MySQL DATETIME(3) string. */
const char *http_time(struct arena *a, const char *mysql_datetime);

#endif
