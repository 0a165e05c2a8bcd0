/*
 * The per-thread application context shared by the entry points: a database
 * connection (lazily opened, reused across requests) and helpers that map
 * storage failures to HTTP answers. Domain handlers reach it through
 * req->app.
 */
#ifndef APP_APP_H
#define APP_APP_H

#include "db/db.h"
#include "http/http.h"

struct app {
	struct db *db;	/* owned; NULL until first use or after a failure */
	int pooled;	/* db comes from db_pool_* and is returned after each request */
	/* This request committed a write (or may have): its failures after
	 * that are 500, never 503, which would ask for the write again. */
	int wrote;
};

/* Process start: configuration, database library, cache, doorbell. */
int app_global_init(const char *name, int cache_connections);

/* Per-thread contexts for server_opts. */
void *app_thread_init(void);
void *app_thread_init_pooled(void);
void app_thread_free(void *app);
void app_after(struct req *req);
/* For server_opts.unavailable: whether req's database connection is down. */
int app_unavailable(struct req *req);

/* The request's database connection, or NULL after answering 503. */
struct db *app_db(struct req *req);

/* Like app_db() but answers nothing on failure (for streams whose headers
 * are already sent). */
struct db *app_db_try(struct req *req);
/* Gives the request's connection back (to the pool, in threaded processes)
 * before the request waits; app_db() takes one again when needed. */
void app_db_release(struct req *req);

#endif
