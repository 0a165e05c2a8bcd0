#include "events/render.h"

#include <string.h>

#include "chat/chat.h"
#include "db/msgs.h"
#include "http/http.h"
#include "util/clock.h"
#include "util/log.h"

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

/* A typing event read later than it was written tells what is left of its
 * time (expires_in), or nothing once that is over (a client catching up
 * after an hour away would otherwise show "typing" about a long-gone
 * moment): 0 to keep o, -1 to drop it. */
static int typing_left(json_object *o, const char *created_at)
{
	json_object *v;
	int64_t at = clock_stored_ms(created_at);
	if (at < 0 || !json_object_object_get_ex(o, "expires_in", &v))
		return 0;
	int64_t full = json_object_get_int64(v) * 1000;
	int64_t age = clock_wall_ms() - at;
	if (age <= 0)
		return 0;
	if (age >= full)
		return -1;
	json_object_object_add(o, "expires_in", json_object_new_int64((full - age + 999) / 1000));
	return 0;
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
			const struct msg *m = e->msg;
			if (m == NULL) {
				/* The message is gone for good (its conversation was
				 * deleted), or the reader is no longer a member of
				 * its conversation: nothing to show, the cursor still
				 * moves. */
				json_object_put(o);
				continue;
			}
			json_object_object_add(o, "message", chat_message_json(a, m));
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
			if (strcmp(e->type, "typing") == 0 && typing_left(o, e->created_at) < 0) {
				json_object_put(o);
				continue;
			}
		}
		json_object_array_add(arr, o);
	}
	out->events = arr;
}
