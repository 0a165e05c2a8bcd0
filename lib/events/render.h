/*
 * Rendering a user's event log as JSON (the Event objects of the contract).
 * Message events (ref_id set, payload NULL) are rendered from the messages'
 * current state; other events merge their stored payload object with
 * {seq, type, created_at, conversation_id?}.
 */
#ifndef EVENTS_RENDER_H
#define EVENTS_RENDER_H

#include <stdint.h>

#include <json-c/json.h>

#include "db/db.h"
#include "db/events.h"

/* The highest message seq handed to the reader per conversation, for
 * delivered receipts (own messages excluded). */
struct delivered {
	int64_t conversation_id;
	int64_t seq;
};

struct rendered {
	json_object *events;	/* owned array of Event objects */
	struct delivered *dl;	/* arena array */
	int ndl;
};

/* Renders rows[0..n) of uid's log (ascending seq, as events_read gave
 * them). Events whose message no longer exists are left out. out->events is
 * owned by the caller. */
void render_events(struct arena *a, int64_t uid, const struct event_row *rows, int n,
	struct rendered *out);

#endif
