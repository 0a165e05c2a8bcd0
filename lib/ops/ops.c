#include "ops/ops.h"

#include "app/app.h"
#include "cache/cache.h"
#include "chat/chat.h"
#include "db/health.h"
#include "util/config.h"
#include "wake/lot.h"

/* 200 when the database answers; memcached is reported but optional (the
 * service works without it, only slower). waiting (events.fcgi's parked
 * requests; < 0 none) and sends (api.fcgi's group-commit counts) are
 * added only when the configuration asks for them (health_waiting = 1,
 * health_sends = 1): on an open endpoint they would tell anyone when a
 * small server's users are online or writing. */
static void health(struct req *req, int waiting, int sends)
{
	struct app *a = req->app;
	/* In the threaded events process the connection comes from the pool
	 * (app_after gives it back there). */
	if (a->db == NULL)
		a->db = a->pooled ? db_pool_acquire() : db_open();
	int db_ok = a->db != NULL && db_health(a->db) == 0;
	char *v = NULL;
	int mc = cache_get("m:health", req->arena, &v, NULL);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(db_ok ? "ok" : "degraded"));
	json_object_object_add(o, "database", json_object_new_string(db_ok ? "ok" : "down"));
	/* "off" when none is configured: optional, so not a fault. */
	json_object_object_add(o, "cache", json_object_new_string(!cache_configured() ? "off" :
		mc >= 0 ? "ok" : "down"));
	if (waiting >= 0 && config_int("health_waiting", 0))
		json_object_object_add(o, "waiting", json_object_new_int(waiting));
	if (sends && config_int("health_sends", 0)) {
		struct sendq_stats st;
		sendq_stats(&st);
		json_object *q = json_object_new_object();
		json_object_object_add(q, "alone", json_object_new_int64(st.alone));
		json_object_object_add(q, "batches", json_object_new_int64(st.batches));
		json_object_object_add(q, "batched", json_object_new_int64(st.batched));
		json_object_object_add(q, "fallbacks", json_object_new_int64(st.fallbacks));
		json_object_object_add(q, "waiting", json_object_new_int64(st.waiting));
		json_object_object_add(q, "refused", json_object_new_int64(st.refused));
		json_object_object_add(o, "sends", q);
	}
	resp_json(req, db_ok ? 200 : 503, o);
}

void ops_health(struct req *req)
{
	health(req, -1, 1);
}

void ops_events_health(struct req *req)
{
	health(req, lot_count(), 0);
}
