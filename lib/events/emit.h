/*
 * Emitting events: the domain layer's way to put something in users' event
 * logs. Collect appends inside the transaction that makes the change, then
 * wake the recipients after it commits:
 *
 *     struct emit e; emit_init(&e, arena);
 *     in the tx:   emit_conv(db, &e, cid, 0, "message.new", cid, mid, NULL);
 *     after commit: emit_wake(&e);
 */
#ifndef EVENTS_EMIT_H
#define EVENTS_EMIT_H

#include <stdint.h>

#include <json-c/json.h>

#include "db/db.h"
#include "db/events.h"

struct emit {
	struct arena *arena;
	int64_t *uids;
	int n, cap;
};

void emit_init(struct emit *e, struct arena *a);
/* payload is borrowed (may be NULL). Return the recipient count or -1. */
int emit_conv(struct db *db, struct emit *e, int64_t cid, int64_t exclude, const char *type,
	int64_t ref_id, json_object *payload);
int emit_user(struct db *db, struct emit *e, int64_t uid, const char *type, int64_t cid,
	int64_t ref_id, json_object *payload);
int emit_contacts(struct db *db, struct emit *e, int64_t uid, const char *type,
	json_object *payload);
/* To everyone sharing a conversation of at most max_members members with
 * uid, not uid themself (presence: a large group would cost a row per
 * member for every member who comes and goes). */
int emit_peers(struct db *db, struct emit *e, int64_t uid, int max_members, const char *type,
	json_object *payload);
/* Rings the doorbells of everyone appended to (after the commit). */
void emit_wake(struct emit *e);

#endif
