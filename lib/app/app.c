#include "app/app.h"

#include <stdlib.h>

#include "cache/cache.h"
#include "util/config.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "wake/doorbell.h"

int app_global_init(const char *name, int cache_connections)
{
	if (config_load() < 0)
		return -1;
	if (config_int("debug", 0))
		log_set_level(LOG_DEBUG);
	if (db_global_init() < 0)
		return -1;
	if (cache_init(cache_connections) < 0)
		log_info("%s: memcached not configured; running without cache", name);
	doorbell_open();
	return 0;
}

void *app_thread_init(void)
{
	return xcalloc(1, sizeof(struct app));
}

void *app_thread_init_pooled(void)
{
	struct app *a = xcalloc(1, sizeof(struct app));
	a->pooled = 1;
	return a;
}

void app_thread_free(void *p)
{
	struct app *a = p;
	if (a == NULL)
		return;
	if (a->pooled)
		db_pool_release(a->db);
	else
		db_close(a->db);
	free(a);
}

/* Keeps, across a release, whether the request's writes committed. */
static void note_writes(struct app *a)
{
	if (a->db != NULL && db_wrote(a->db))
		a->wrote = 1;
}

void app_after(struct req *req)
{
	struct app *a = req->app;
	if (a == NULL)
		return;
	if (a->pooled && a->db != NULL) {
		db_pool_release(a->db);
		a->db = NULL;
	}
	a->wrote = 0;
}

int app_unavailable(struct req *req)
{
	struct app *a = req->app;
	/* Not when a commit happened or may have: 503 asks the client to try
	 * again, which would do twice what is not idempotent (a group). */
	if (a == NULL || a->db == NULL)
		return 0;
	note_writes(a);
	return !a->wrote && db_is_down(a->db);
}

struct db *app_db_try(struct req *req)
{
	struct app *a = req->app;
	if (a->db == NULL)
		a->db = a->pooled ? db_pool_acquire() : db_open();
	return a->db;
}

struct db *app_db(struct req *req)
{
	struct app *a = req->app;
	if (app_db_try(req) == NULL) {
		if (a->wrote)
			resp_problem(req, 500, "internal", "The change was made; reading it back failed.");
		else
			resp_unavailable(req);
	}
	return a->db;
}

void app_db_release(struct req *req)
{
	struct app *a = req->app;
	if (a == NULL || a->db == NULL || !a->pooled)
		return;
	note_writes(a);
	db_pool_release(a->db);
	a->db = NULL;
}
