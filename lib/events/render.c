#include "events/render.h"

#include <string.h>

#include "chat/chat.h"
#include "db/msgs.h"
#include "http/http.h"
#include "util/log.h"

/* The Message JSON is lib/chat's (one shape for REST and events). */
json_object *render_message(struct arena *a, const struct event_msg *m,
	const struct event_reaction *r, int nr)
{
	struct msg c = {
		.id = m->id,
		.conversation_id = m->conversation_id,
		.seq = m->seq,
		.sender_id = m->sender_id,
		.client_id = m->client_id,
		.kind = m->kind,
		/* A deleted message is a tombstone: its body is gone. */
		.body = m->deleted_at ? NULL : m->body,
		.reply_to = m->reply_to,
		.created_at = m->created_at,
		.edited_at = m->edited_at,
		.deleted_at = m->deleted_at,
		.reactions = NULL,
		.nreactions = nr,
	};
	if (nr > 0) {
		c.reactions = arena_alloc(a, sizeof(*c.reactions) * (size_t)nr);
		for (int i = 0; i < nr; i++) {
			c.reactions[i].emoji = r[i].emoji;
			c.reactions[i].user_id = r[i].user_id;
		}
	}
	return chat_message_json(a, &c);
}

static void note_delivered(struct arena *a, struct rendered *out, int *cap, int64_t cid,
	int64_t seq)
{
	for (int i = 0; i < out->ndl; i++) {
		if (out->dl[i].conversation_id == cid) {
			if (seq > out->dl[i].seq)
				out->dl[i].seq = seq;
			return;
		}
	}
	if (out->ndl == *cap) {
		int ncap = *cap ? *cap * 2 : 8;
		struct delivered *g = arena_alloc(a, sizeof(*g) * (size_t)ncap);
		if (out->ndl > 0)
			memcpy(g, out->dl, sizeof(*g) * (size_t)out->ndl);
		out->dl = g;
		*cap = ncap;
	}
	out->dl[out->ndl].conversation_id = cid;
	out->dl[out->ndl].seq = seq;
	out->ndl++;
}

void render_events(struct arena *a, int64_t uid, const struct event_row *rows, int n,
	struct rendered *out)
{
	out->events = NULL;
	out->dl = NULL;
	out->ndl = 0;
	int dlcap = 0;
	json_object *arr = json_object_new_array_ext(n > 0 ? n : 1);
	for (int i = 0; i < n; i++) {
		const struct event_row *e = &rows[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "seq", json_object_new_int64(e->seq));
		json_object_object_add(o, "type", json_object_new_string(e->type));
		json_object_object_add(o, "created_at", json_object_new_string(http_time(a, e->created_at)));
		if (e->conversation_id)
			json_object_object_add(o, "conversation_id",
				json_object_new_int64(e->conversation_id));
		if (e->ref_id != 0 && e->payload == NULL) {
			const struct event_msg *m = e->msg;
			if (m == NULL) {
				/* The message is gone for good (its conversation was
				 * deleted): nothing to show, the cursor still moves. */
				json_object_put(o);
				continue;
			}
			json_object_object_add(o, "message", render_message(a, m, e->reacts, e->nreacts));
			if (strcmp(e->type, "message.new") == 0 && m->sender_id != uid)
				note_delivered(a, out, &dlcap, m->conversation_id, m->seq);
		} else if (e->payload != NULL) {
			json_object *p = json_tokener_parse(e->payload);
			if (p != NULL && json_object_is_type(p, json_type_object)) {
				json_object_object_foreach(p, k, v) {
					if (!json_object_object_get_ex(o, k, NULL))
						json_object_object_add(o, k, json_object_get(v));
				}
			} else {
				log_warn("events: user %lld seq %lld has a payload that is not an object",
					(long long)uid, (long long)e->seq);
			}
			json_object_put(p);
		}
		json_object_array_add(arr, o);
	}
	out->events = arr;
}
