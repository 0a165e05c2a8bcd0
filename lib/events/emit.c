#include "events/emit.h"

#include "wake/doorbell.h"

void emit_init(struct emit *e, struct arena *a)
{
	e->arena = a;
	e->uids = NULL;
	e->n = 0;
	e->cap = 0;
}

static const char *text(json_object *p)
{
	return p ? json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN |
		JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
}

int emit_conv(struct db *db, struct emit *e, int64_t cid, int64_t exclude, const char *type,
	int64_t ref_id, json_object *payload)
{
	return events_append(db, e->arena, FANOUT_CONV, cid, exclude, type, cid, ref_id,
		text(payload), &e->uids, &e->n, &e->cap);
}

int emit_user(struct db *db, struct emit *e, int64_t uid, const char *type, int64_t cid,
	int64_t ref_id, json_object *payload)
{
	return events_append(db, e->arena, FANOUT_USER, uid, 0, type, cid, ref_id, text(payload),
		&e->uids, &e->n, &e->cap);
}

int emit_contacts(struct db *db, struct emit *e, int64_t uid, const char *type,
	json_object *payload)
{
	return events_append(db, e->arena, FANOUT_CONTACTS, uid, 0, type, 0, 0, text(payload),
		&e->uids, &e->n, &e->cap);
}

int emit_peers(struct db *db, struct emit *e, int64_t uid, int max_members, const char *type,
	json_object *payload)
{
	return events_append(db, e->arena, FANOUT_NEAR, uid, max_members, type, 0, 0,
		text(payload), &e->uids, &e->n, &e->cap);
}

void emit_wake(struct emit *e)
{
	if (e->n > 0)
		doorbell_ring_many(e->uids, e->n);
	e->n = 0;
}
