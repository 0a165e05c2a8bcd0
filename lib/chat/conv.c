/* Conversation endpoints: create, list, show, change, and membership. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "chat/chat.h"
#include "util/log.h"

#define LIST_DEFAULT 20
#define LIST_MAX 100

/* --- helpers --- */

static void internal(struct req *req)
{
	resp_problem(req, 500, "internal", NULL);
}

/* A title: 1-128 characters, one line, not blank. */
static int check_title(struct req *req, const char *t)
{
	return json_req_text(req, "title", t, CHAT_TITLE_MAX_CHARS, 0, 0);
}

/* A list of user ids: a JSON array of positive integers, duplicates and `me`
 * dropped, at most max others. *json is the list as JSON text ("[2,3]") for
 * the database. Answers 400 itself and returns -1. */
static int parse_ids(struct req *req, const char *field, int64_t me, int max, int64_t **ids,
	int *n, const char **json)
{
	json_object *v;
	if (!json_object_object_get_ex(req->json, field, &v) || v == NULL)
		return resp_bad_field(req, field, arena_printf(req->arena, "Field '%s' is required.",
			field));
	if (!json_object_is_type(v, json_type_array))
		return resp_bad_field(req, field, arena_printf(req->arena,
			"Field '%s' must be an array of user ids.", field));
	/* The list as sent may name its sender (me) besides max others. */
	size_t len = json_object_array_length(v);
	if (len > (size_t)max + (me > 0))
		return resp_bad_field(req, field, arena_printf(req->arena,
			"Field '%s' has more than %d entries.", field, max));
	int64_t *out = arena_alloc(req->arena, sizeof(int64_t) * (len ? len : 1));
	int k = 0;
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(v, i);
		if (e == NULL || !json_object_is_type(e, json_type_int) ||
		    json_object_get_int64(e) <= 0 || json_object_get_int64(e) == INT64_MAX)
			return resp_bad_field(req, field, arena_printf(req->arena,
				"Field '%s' must contain positive integer user ids.", field));
		int64_t id = json_object_get_int64(e);
		int dup = id == me;
		for (int j = 0; j < k && !dup; j++)
			dup = out[j] == id;
		if (!dup)
			out[k++] = id;
	}
	if (k > max)
		return resp_bad_field(req, field, arena_printf(req->arena,
			"Field '%s' has more than %d entries.", field, max));
	*ids = out;
	*n = k;
	*json = db_ids_json(req->arena, out, k);
	return 0;
}

/* Emits `type` with {conversation} as viewer sees it: to viewer alone, or
 * (to_conv) to every member except `exclude`, who all see the same view. */
static int emit_view(struct db *db, struct emit *e, struct arena *a, const char *type,
	int64_t cid, int64_t viewer, int to_conv, int64_t exclude)
{
	struct conv c;
	int rc = convs_get(db, a, cid, viewer, &c);
	if (rc <= 0)
		return rc;
	json_object *cj = chat_conv_json(db, a, &c, 0);
	if (cj == NULL)
		return -1;
	json_object *p = json_object_new_object();
	json_object_object_add(p, "conversation", cj);
	rc = to_conv ? emit_conv(db, e, cid, exclude, type, 0, p) :
		emit_user(db, e, viewer, type, cid, 0, p);
	json_object_put(p);
	return rc < 0 ? -1 : 0;
}

int chat_emit_view(struct db *db, struct emit *e, struct arena *a, int64_t cid, int64_t viewer)
{
	return emit_view(db, e, a, "conversation.updated", cid, viewer, 0, 0);
}

/* One query for all the views, then one small fan-out per member. Renames
 * are rare and groups are capped at 1000 members (measured here: about
 * 0.7 s for 1000, 80 ms for 100). */
int chat_emit_updated_all(struct db *db, struct emit *e, struct arena *a, int64_t cid)
{
	int max = CHAT_GROUP_MAX_MEMBERS + 1;
	struct conv *views = arena_alloc(a, sizeof(*views) * (size_t)max);
	int n = convs_views(db, a, cid, max, views);
	if (n <= 0)
		return n;
	json_object *last = NULL;
	if (views[0].last_message_id > 0) {
		struct msg m;
		int rc = msgs_get(db, a, cid, views[0].last_message_id, &m);
		if (rc < 0)
			return -1;
		if (rc == 1)
			last = chat_message_json(a, &m);
	}
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		json_object *cj = chat_conv_json_last(db, a, &views[i], 0, last);
		if (cj == NULL) {
			rc = -1;
			break;
		}
		json_object *p = json_object_new_object();
		json_object_object_add(p, "conversation", cj);
		if (emit_user(db, e, views[i].viewer_id, "conversation.updated", cid, 0, p) < 0)
			rc = -1;
		json_object_put(p);
	}
	json_object_put(last);
	return rc;
}

static int emit_member_event(struct db *db, struct emit *e, int64_t cid, const char *type,
	int64_t uid, enum conv_role role, int64_t by)
{
	json_object *p = json_object_new_object();
	json_object_object_add(p, "user_id", json_object_new_int64(uid));
	json_object_object_add(p, "role", json_object_new_string(convs_role_name(role)));
	json_object_object_add(p, "by", json_object_new_int64(by));
	int rc = emit_conv(db, e, cid, 0, type, 0, p);
	json_object_put(p);
	return rc < 0 ? -1 : 0;
}

/* --- group activity lines ---
 * What changes a group's membership, roles or name after it was made is
 * also a line in its history, a message of kind system ("Ann added Bob and Cy"),
 * written in the same transaction and told to the members as message.new.
 * Names are as they were then. (How the group began, its name and first
 * members, is what the top of its history shows already.) */

#define LINE_NAMES_MAX 3	/* named; the rest are "and N others" */

static const char *name_of(struct db *db, struct arena *a, int64_t uid)
{
	struct user u;
	int rc = users_get(db, a, uid, &u);
	if (rc < 0)
		return NULL;
	return rc == 1 && u.display_name != NULL && u.display_name[0] ? u.display_name :
		"Someone";
}

/* "A", "A and B", "A, B and C", "A, B, C and 2 others". NULL on error. */
static const char *names_of(struct db *db, struct arena *a, const int64_t *ids, int n)
{
	int shown = n <= LINE_NAMES_MAX + 1 ? n : LINE_NAMES_MAX;
	const char *out = "";
	for (int i = 0; i < shown; i++) {
		const char *nm = name_of(db, a, ids[i]);
		if (nm == NULL)
			return NULL;
		out = arena_printf(a, "%s%s%s", out, i == 0 ? "" : i == n - 1 ? " and " : ", ", nm);
	}
	if (shown < n)
		out = arena_printf(a, "%s and %d others", out, n - shown);
	return out;
}

/* Writes the line and tells the members (those of the conversation now). */
static int activity_line(struct db *db, struct emit *e, int64_t cid, int64_t actor,
	const char *body)
{
	if (body == NULL)
		return -1;
	int64_t mid;
	if (msgs_system(db, cid, actor, body, &mid) < 0)
		return -1;
	return emit_conv(db, e, cid, 0, "message.new", mid, NULL) < 0 ? -1 : 0;
}

/* Answers with cid as uid sees it. */
static void send_conv(struct req *req, struct db *db, int64_t cid, int status, int members)
{
	struct conv c;
	if (!chat_found(req, convs_get(db, req->arena, cid, req->user_id, &c),
		    "No such conversation."))
		return;
	json_object *o = chat_conv_json(db, req->arena, &c, members);
	if (o == NULL) {
		internal(req);
		return;
	}
	resp_json(req, status, o);
}

/* 400 unknown_user: some of the ids in field are no (live) accounts. */
static void unknown_users(struct req *req, const char *field)
{
	json_object *extra = json_object_new_object();
	json_object_object_add(extra, "field", json_object_new_string(field));
	resp_problem_ext(req, 400, "unknown_user",
		arena_printf(req->arena, "Some of %s are not users.", field), extra);
}

/* --- POST /conversations --- */

struct create_ctx {
	struct emit *e;
	struct arena *a;
	int64_t me;
	int group;
	const char *title;
	const char *direct_key;
	const char *client_id;	/* a group's, or NULL */
	int64_t *others;
	int nothers;
	const char *others_json;
	int64_t cid;
	int existed;
	int gone;		/* one of others deleted their account meanwhile */
	int blocked;		/* direct: a block between the two (BLOCK_*) */
};

static int create_tx(struct db *db, void *p)
{
	struct create_ctx *c = p;
	c->e->n = 0;
	c->existed = c->gone = c->blocked = 0;
	/* The pair first, as a block between them does (lib/chat/block.c):
	 * a conversation is not started beside a block being made. */
	if (!c->group && convs_lock_pair(db, c->me, c->others[0]) < 0)
		return -1;
	int rc = convs_create(db, c->group, c->title, c->direct_key, c->me, c->client_id, &c->cid);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		c->existed = 1;
		return 1;
	}
	if (!c->group) {
		c->blocked = convs_blocked_between(db, c->me, c->others[0]);
		if (c->blocked != 0)
			return c->blocked < 0 ? -1 : 1;
	}
	if (convs_add_member(db, c->cid, c->me, c->group ? ROLE_OWNER : ROLE_MEMBER) < 0)
		return -1;
	if (c->nothers > 0) {
		/* Live accounts only: one deleted since they were looked up
		 * is not added, and nothing is created. */
		int added = convs_add_members(db, c->cid, c->others_json);
		if (added < 0)
			return -1;
		if (added != c->nothers) {
			c->gone = 1;
			return 1;
		}
	}
	if (!c->group) {
		/* Each side sees the other as the peer. */
		if (emit_view(db, c->e, c->a, "conversation.created", c->cid, c->me, 0, 0) < 0 ||
		    emit_view(db, c->e, c->a, "conversation.created", c->cid, c->others[0], 0, 0) < 0)
			return -1;
		return 0;
	}
	/* Every member but the owner sees the same new group. */
	if (c->nothers > 0 && emit_view(db, c->e, c->a, "conversation.created", c->cid,
				   c->others[0], 1, c->me) < 0)
		return -1;
	return emit_view(db, c->e, c->a, "conversation.created", c->cid, c->me, 0, 0) < 0 ? -1 : 0;
}

void conv_create(struct req *req)
{
	static const char *const allowed[] = {"type", "member_ids", "title", "client_id", NULL};
	const char *type, *title, *client_id;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_str(req, req->json, "type", 1, 1, 16, &type) < 0 ||
	    json_req_str(req, req->json, "title", 0, 0, 4 * CHAT_TITLE_MAX_CHARS, &title) < 0 ||
	    json_req_str(req, req->json, "client_id", 0, 1, 256, &client_id) < 0)
		return;
	if (client_id != NULL && chat_check_client_id(req, client_id) < 0)
		return;
	int group;
	if (strcmp(type, "group") == 0)
		group = 1;
	else if (strcmp(type, "direct") == 0)
		group = 0;
	else {
		resp_bad_field(req, "type", "Field 'type' must be \"direct\" or \"group\".");
		return;
	}
	int64_t *ids;
	int n;
	const char *ids_json;
	if (parse_ids(req, "member_ids", req->user_id, group ? CHAT_GROUP_MAX_MEMBERS - 1 : 1,
		    &ids, &n, &ids_json) < 0)
		return;
	char key[CHAT_DIRECT_KEY_MAX];
	if (group) {
		if (title == NULL) {
			resp_bad_field(req, "title", "Field 'title' is required for groups.");
			return;
		}
		if (check_title(req, title) < 0)
			return;
	} else {
		if (title != NULL) {
			resp_bad_field(req, "title", "Direct conversations have no title.");
			return;
		}
		if (n != 1) {
			resp_bad_field(req, "member_ids",
				"A direct conversation needs exactly one other user id.");
			return;
		}
		chat_direct_key(key, sizeof(key), req->user_id, ids[0]);
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	int found = n > 0 ? convs_count_users(db, ids_json) : 0;
	if (found < 0) {
		internal(req);
		return;
	}
	if (found != n) {
		unknown_users(req, "member_ids");
		return;
	}
	/* Nobody is put in a group by someone they block. */
	int blocking = group && n > 0 ? convs_blocking(db, ids_json, req->user_id) : 0;
	if (blocking < 0) {
		internal(req);
		return;
	}
	if (blocking > 0) {
		resp_problem(req, 403, "blocked", BLOCKED_ADD_DETAIL);
		return;
	}
	struct emit e;
	emit_init(&e, req->arena);
	/* A direct conversation is idempotent by its pair already. */
	struct create_ctx c = {&e, req->arena, req->user_id, group, group ? title : NULL,
		group ? NULL : key, group ? client_id : NULL, ids, n, ids_json, 0, 0, 0, 0};
	int rc = db_tx(db, create_tx, &c);
	if (rc < 0) {
		internal(req);
		return;
	}
	if (c.gone) {
		unknown_users(req, "member_ids");
		return;
	}
	if (c.blocked) {
		/* No conversation between the two yet, and none is started. */
		resp_problem(req, 403, "blocked", c.blocked & BLOCK_MINE ?
			"You block this person: unblock them to start a conversation." :
			"You cannot start a conversation with this person.");
		return;
	}
	if (c.existed && group) {
		/* A retry of a group this user created with this client_id: that
		 * group, 200; the same client_id for another title is refused
		 * (unless the group was renamed since: then it cannot be told). */
		int64_t cid;
		char *first = NULL;
		int renamed = 0;
		if (convs_find_created(db, req->arena, req->user_id, client_id, &cid, &first,
			    &renamed) != 1) {
			internal(req);
			return;
		}
		if (!renamed && (first == NULL || strcmp(first, title) != 0)) {
			resp_problem(req, 409, "client_id_conflict", "This client_id was already used "
				"for a different group.");
			return;
		}
		/* The first try may have committed without its answer: its
		 * members are rung again. Not for a creator who has left since
		 * (answered 404 by send_conv): nothing of theirs is to be told. */
		int role = convs_role(db, cid, req->user_id);
		if (role < 0) {
			internal(req);
			return;
		}
		if (role != ROLE_NONE)
			chat_retry_wake(db, req->arena, cid, 0);
		send_conv(req, db, cid, 200, 1);
		return;
	}
	if (c.existed) {
		/* The pair already talks: the same conversation, 200. */
		int64_t cid;
		if (convs_find_direct(db, key, &cid) != 1) {
			internal(req);
			return;
		}
		send_conv(req, db, cid, 200, 1);
		return;
	}
	chat_invalidate(c.cid);
	emit_wake(&e);
	send_conv(req, db, c.cid, 201, 1);
}

/* --- GET /conversations --- */

void conv_list(struct req *req)
{
	const char *lim = req_query(req, "limit");
	const char *cursor = req_query(req, "cursor");
	int64_t limit = LIST_DEFAULT;
	if (lim != NULL && http_parse_uint(lim, 1, LIST_MAX, &limit) < 0) {
		resp_problem(req, 400, "invalid_query", "limit must be 1-100.");
		return;
	}
	/* My archive, or (by default) the rest. */
	const char *arch = req_query(req, "archived");
	int archived = arch != NULL && strcmp(arch, "true") == 0;
	if (arch != NULL && !archived && strcmp(arch, "false") != 0) {
		resp_problem(req, 400, "invalid_query", "archived must be true or false.");
		return;
	}
	/* A cursor inside the pinned part of the list starts with 'p'. */
	int64_t ms = 0, id = 0;
	int pinned = cursor != NULL && cursor[0] == 'p';
	if (cursor != NULL && chat_cursor_parse(cursor + pinned, &ms, &id) < 0) {
		resp_problem(req, 400, "invalid_cursor", "The cursor is not valid.");
		return;
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	struct conv *list = arena_alloc(req->arena, sizeof(*list) * (size_t)(limit + 1));
	int n = convs_list(db, req->arena, req->user_id, archived, pinned, ms, id, (int)limit + 1,
		list);
	if (n < 0) {
		internal(req);
		return;
	}
	int shown = n > limit ? (int)limit : n;
	json_object *arr = json_object_new_array();
	for (int i = 0; i < shown; i++) {
		json_object *o = chat_conv_json(db, req->arena, &list[i], 0);
		if (o == NULL) {
			json_object_put(arr);
			internal(req);
			return;
		}
		json_object_array_add(arr, o);
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "conversations", arr);
	json_object_object_add(o, "next_cursor", n > limit ?
		json_object_new_string(arena_printf(req->arena, "%s%lld.%lld",
			list[shown - 1].pinned ? "p" : "", (long long)list[shown - 1].activity_ms,
			(long long)list[shown - 1].id)) : NULL);
	resp_json(req, 200, o);
}

/* --- GET /conversations/{id} --- */

void conv_get(struct req *req)
{
	int64_t cid;
	if (!req_param_id(req, 0, &cid))
		return;
	struct db *db = app_db(req);
	if (db != NULL)
		send_conv(req, db, cid, 200, 1);
}

/* --- PATCH /conversations/{id} --- */

struct patch_ctx {
	struct emit *e;
	struct arena *a;
	int64_t cid, me;
	const char *title;		/* NULL: unchanged */
	int set_muted;
	const char *muted;		/* NULL: unmute */
	int pinned;			/* -1 unchanged, else pin (1) or unpin */
	int marked;			/* -1 unchanged, else mark unread (1) or not */
	int archived;			/* -1 unchanged, else archive (1) or not */
	struct chat_outcome out;
};

static int patch_tx(struct db *db, void *p)
{
	struct patch_ctx *c = p;
	c->e->n = 0;
	/* A pin counts the member's pins under their user row, taken first:
	 * the order of a block and an account's deletion (user rows, then
	 * conversation rows), so two pins at once cannot both take the last
	 * place and no conversation row waits on a user row. */
	if (c->pinned == 1) {
		struct user u;
		if (users_lock(db, c->a, c->me, &u) < 0)
			return -1;
	}
	struct chat_roles r;
	int rc = chat_lock(db, c->cid, c->me, 0, &r, &c->out);
	if (rc != 0)
		return rc;
	if (c->title != NULL) {
		if (!r.group)
			return chat_stop(&c->out, 400, "title", "Direct conversations have no title.");
		if (r.role != ROLE_OWNER && r.role != ROLE_ADMIN)
			return chat_stop(&c->out, 403, "forbidden", "Only the group's owner and admins "
				"can rename it.");
		rc = convs_set_title(db, c->cid, c->title);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			const char *me = name_of(db, c->a, c->me);
			if (me == NULL || activity_line(db, c->e, c->cid, c->me, arena_printf(c->a,
				    "%s named the group \u201c%s\u201d", me, c->title)) < 0)
				return -1;
		}
	}
	int renamed = c->title != NULL && rc == 1;
	if (c->set_muted && convs_set_muted(db, c->cid, c->me, c->muted) < 0)
		return -1;
	if (c->pinned == 1) {
		int n = convs_pinned_count(db, c->me, c->cid);
		if (n < 0)
			return -1;
		if (n >= CHAT_PINNED_MAX)
			return chat_stop(&c->out, 409, "too_many_pinned", arena_printf(c->a,
				"At most %d conversations can be pinned; unpin one first.",
				CHAT_PINNED_MAX));
	}
	if (c->pinned >= 0 && convs_set_pinned(db, c->cid, c->me, c->pinned) < 0)
		return -1;
	if (c->marked >= 0 && convs_set_marked_unread(db, c->cid, c->me, c->marked) < 0)
		return -1;
	if (c->archived >= 0 && convs_set_archived(db, c->cid, c->me, c->archived) < 0)
		return -1;
	/* Everyone is told of a new name; the same name again (a retry)
	 * tells nobody. A personal change goes to the member's own devices. */
	if (renamed)
		return chat_emit_updated_all(db, c->e, c->a, c->cid);
	if (c->set_muted || c->pinned >= 0 || c->marked >= 0 || c->archived >= 0)
		return emit_view(db, c->e, c->a, "conversation.updated", c->cid, c->me, 0, 0) < 0 ?
			-1 : 0;
	return 0;
}

void conv_patch(struct req *req)
{
	static const char *const allowed[] = {"title", "muted_until", "pinned", "marked_unread",
		"archived", NULL};
	int64_t cid;
	if (!req_param_id(req, 0, &cid))
		return;
	const char *title;
	int pinned = 0, pinned_given = 0, marked = 0, marked_given = 0, arch = 0, arch_given = 0;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_str(req, req->json, "title", 0, 0, 4 * CHAT_TITLE_MAX_CHARS, &title) < 0 ||
	    json_req_bool(req, req->json, "pinned", 0, &pinned, &pinned_given) < 0 ||
	    json_req_bool(req, req->json, "marked_unread", 0, &marked, &marked_given) < 0 ||
	    json_req_bool(req, req->json, "archived", 0, &arch, &arch_given) < 0)
		return;
	if (title != NULL && check_title(req, title) < 0)
		return;
	/* A group always has a title: null is no way to remove it (and was
	 * answered 200 with nothing changed). */
	json_object *tv;
	if (title == NULL && json_object_object_get_ex(req->json, "title", &tv)) {
		resp_bad_field(req, "title", "Field 'title' must be a string; a group always has one.");
		return;
	}
	/* Archiving unpins: asking for both at once is a contradiction. */
	if (pinned_given && pinned && arch_given && arch) {
		json_req_bad(req, "archived", "cannot be true with pinned: an archived chat is not pinned");
		return;
	}
	struct patch_ctx c = {NULL, req->arena, cid, req->user_id, title, 0, NULL,
		pinned_given ? pinned : -1, marked_given ? marked : -1, arch_given ? arch : -1,
		{0, NULL, NULL}};
	json_object *mv;
	char muted[32];
	if (json_object_object_get_ex(req->json, "muted_until", &mv)) {
		c.set_muted = 1;
		if (mv != NULL) {
			if (!json_object_is_type(mv, json_type_string) ||
			    chat_parse_time(json_object_get_string(mv), muted, sizeof(muted)) < 0) {
				resp_bad_field(req, "muted_until", "Field 'muted_until' must be an RFC 3339 "
					"UTC timestamp (2026-12-04T17:14:23.123Z) or null.");
				return;
			}
			c.muted = muted;
		}
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	struct emit e;
	emit_init(&e, req->arena);
	c.e = &e;
	/* An empty patch changes nothing, and answers like a read (404 to
	 * someone not in the conversation). */
	if (c.title != NULL || c.set_muted || c.pinned >= 0 || c.marked >= 0 || c.archived >= 0) {
		if (chat_tx(req, db, patch_tx, &c, &c.out) < 0)
			return;
		/* Cached views hold the title, not anyone's personal marks. */
		if (c.title != NULL)
			chat_invalidate(cid);
		emit_wake(&e);
	}
	send_conv(req, db, cid, 200, 1);
}

/* --- POST /conversations/{id}/members --- */

struct add_ctx {
	struct emit *e;
	struct arena *a;
	int64_t cid, me;
	const char *ids_json;
	struct chat_outcome out;
	int gone;		/* one of them deleted their account meanwhile */
};

static int add_tx(struct db *db, void *p)
{
	struct add_ctx *c = p;
	c->gone = 0;
	c->e->n = 0;
	struct chat_roles r;
	int rc = chat_lock(db, c->cid, c->me, 0, &r, &c->out);
	if (rc != 0)
		return rc;
	if (!r.group)
		return chat_stop(&c->out, 409, "direct_conversation",
			"Direct conversations have exactly two members.");
	if (r.role != ROLE_OWNER && r.role != ROLE_ADMIN)
		return chat_stop(&c->out, 403, "forbidden",
			"Only the group's owner and admins can add members.");
	int64_t *fresh = arena_alloc(c->a, sizeof(int64_t) * (CHAT_ADD_MAX + 1));
	int n = convs_new_members(db, c->cid, c->ids_json, CHAT_ADD_MAX + 1, fresh);
	int64_t count = convs_member_count(db, c->cid);
	if (n < 0 || count < 0)
		return -1;
	if (count + n > CHAT_GROUP_MAX_MEMBERS)
		return chat_stop(&c->out, 409, "group_full", "A group has at most 1000 members.");
	if (n == 0)
		return 0;
	int blocking = convs_blocking(db, db_ids_json(c->a, fresh, n), c->me);
	if (blocking < 0)
		return -1;
	if (blocking > 0)
		return chat_stop(&c->out, 403, "blocked", BLOCKED_ADD_DETAIL);
	/* Tell the existing members first (with the line in the history, which
	 * the new ones then start with as read), then add and greet the new
	 * ones. */
	for (int i = 0; i < n; i++)
		if (emit_member_event(db, c->e, c->cid, "member.added", fresh[i], ROLE_MEMBER,
			    c->me) < 0)
			return -1;
	const char *me = name_of(db, c->a, c->me), *who = names_of(db, c->a, fresh, n);
	if (me == NULL || who == NULL ||
	    activity_line(db, c->e, c->cid, c->me, arena_printf(c->a, "%s added %s", me, who)) < 0)
		return -1;
	int added = convs_add_members(db, c->cid, c->ids_json);
	if (added < 0)
		return -1;
	/* An account deleted since it was found new: nothing is added. */
	if (added != n) {
		c->gone = 1;
		return 1;
	}
	for (int i = 0; i < n; i++)
		if (emit_view(db, c->e, c->a, "conversation.created", c->cid, fresh[i], 0, 0) < 0)
			return -1;
	return 0;
}

void conv_members_add(struct req *req)
{
	static const char *const allowed[] = {"user_ids", NULL};
	int64_t cid;
	if (!req_param_id(req, 0, &cid))
		return;
	if (json_req_only(req, req->json, allowed) < 0)
		return;
	int64_t *ids;
	int n;
	const char *ids_json;
	if (parse_ids(req, "user_ids", 0, CHAT_ADD_MAX, &ids, &n, &ids_json) < 0)
		return;
	if (n == 0) {
		resp_bad_field(req, "user_ids", "Field 'user_ids' must not be empty.");
		return;
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	int found = convs_count_users(db, ids_json);
	if (found < 0) {
		internal(req);
		return;
	}
	struct emit e;
	emit_init(&e, req->arena);
	struct add_ctx c = {&e, req->arena, cid, req->user_id, ids_json, {0, NULL, NULL}, 0};
	/* Membership first (404 for non-members), then unknown users. */
	int role = convs_role(db, cid, req->user_id);
	if (role < 0) {
		internal(req);
		return;
	}
	/* Only those who may add are told which ids are no users (a plain
	 * member is refused 403 by add_tx). */
	if ((role == ROLE_OWNER || role == ROLE_ADMIN) && found != n) {
		unknown_users(req, "user_ids");
		return;
	}
	int rc = db_tx(db, add_tx, &c);
	if (rc < 0) {
		internal(req);
		return;
	}
	if (c.gone) {
		unknown_users(req, "user_ids");
		return;
	}
	if (rc == 1) {
		chat_answer(req, &c.out);
		return;
	}
	chat_invalidate(cid);
	emit_wake(&e);
	send_conv(req, db, cid, 200, 1);
}

/* --- DELETE and PATCH /conversations/{id}/members/{uid} --- */

struct member_ctx {
	struct emit *e;
	int64_t cid, me, target;
	enum conv_role want;		/* PATCH: the new role */
	struct chat_outcome out;
};

/* The start of both transactions: locks the conversation, reads both roles
 * and refuses a direct conversation with detail. */
static int lock_member(struct db *db, struct member_ctx *c, struct chat_roles *r,
	const char *detail)
{
	c->e->n = 0;
	int rc = chat_lock(db, c->cid, c->me, c->target, r, &c->out);
	if (rc == 0 && !r->group)
		return chat_stop(&c->out, 409, "direct_conversation", detail);
	return rc;
}

/* Runs fn on member uid of cid, then rings the doorbells and drops cached
 * views. Returns 0 when committed, or -1 when answered. */
static int change_member(struct req *req, struct db *db, int64_t cid, int64_t uid,
	enum conv_role want, int (*fn)(struct db *db, void *ctx))
{
	struct emit e;
	emit_init(&e, req->arena);
	struct member_ctx c = {&e, cid, req->user_id, uid, want, {0, NULL, NULL}};
	if (chat_tx(req, db, fn, &c, &c.out) < 0)
		return -1;
	chat_invalidate(cid);
	emit_wake(&e);
	return 0;
}

/* "Ann made Bob an admin": fmt takes the actor's name, then the target's
 * (a target who is the actor is named once: "Ann left the group"). */
static int member_line(struct db *db, struct member_ctx *c, const char *fmt)
{
	struct arena *a = c->e->arena;
	const char *me = name_of(db, a, c->me);
	const char *them = c->target == c->me ? me : name_of(db, a, c->target);
	if (me == NULL || them == NULL)
		return -1;
	return activity_line(db, c->e, c->cid, c->me, arena_printf(a, fmt, me, them));
}

/* DELETE /conversations/{id}/members/{uid} */

static int remove_tx(struct db *db, void *p)
{
	struct member_ctx *c = p;
	struct chat_roles r;
	int rc = lock_member(db, c, &r, "Nobody leaves a direct conversation.");
	if (rc != 0)
		return rc;
	/* Anyone may leave; the owner removes anyone, an admin removes members. */
	if (c->target != c->me &&
	    !(r.role == ROLE_OWNER || (r.role == ROLE_ADMIN && r.trole == ROLE_MEMBER)))
		return chat_stop(&c->out, 403, "forbidden", "You cannot remove this member.");
	/* The removed member hears about it too (their other devices). */
	if (emit_member_event(db, c->e, c->cid, "member.removed", c->target,
		    (enum conv_role)r.trole, c->me) < 0 ||
	    convs_remove_member(db, c->cid, c->target) < 0)
		return -1;
	/* The line goes to those who stay. */
	if (member_line(db, c, c->target == c->me ? "%s left the group" : "%s removed %s") < 0)
		return -1;
	if (r.trole == ROLE_OWNER) {
		int64_t heir;
		rc = convs_successor(db, c->cid, &heir);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			if (convs_set_role(db, c->cid, heir, ROLE_OWNER) < 0 ||
			    emit_member_event(db, c->e, c->cid, "member.updated", heir, ROLE_OWNER,
				    c->me) < 0)
				return -1;
			/* The line is the leaving owner's. */
			const char *name = name_of(db, c->e->arena, heir);
			if (name == NULL || activity_line(db, c->e, c->cid, c->me,
				    arena_printf(c->e->arena, "%s is now the group's owner", name)) < 0)
				return -1;
		}
	}
	return 0;
}

int chat_leave_groups(struct db *db, struct arena *a, int64_t uid)
{
	enum { CHUNK = 64 };
	int64_t ids[CHUNK], after = 0;
	int n;
	do {
		n = convs_user_groups(db, uid, after, CHUNK, ids);
		if (n < 0)
			return -1;
		for (int i = 0; i < n; i++) {
			struct emit e;
			emit_init(&e, a);
			struct member_ctx c = {&e, ids[i], uid, uid, ROLE_NONE, {0, NULL, NULL}};
			/* 1: the membership went meanwhile; nothing to do. */
			if (db_tx(db, remove_tx, &c) < 0)
				return -1;
			chat_invalidate(ids[i]);
			emit_wake(&e);
		}
		if (n > 0)
			after = ids[n - 1];
	} while (n == CHUNK);
	return 0;
}

void conv_member_remove(struct req *req)
{
	int64_t cid, uid;
	if (!req_param_id(req, 0, &cid) || !req_param_id(req, 1, &uid))
		return;
	struct db *db = app_db(req);
	if (db != NULL && change_member(req, db, cid, uid, ROLE_NONE, remove_tx) == 0)
		resp_json(req, 204, NULL);
}

/* PATCH /conversations/{id}/members/{uid} */

static int role_tx(struct db *db, void *p)
{
	struct member_ctx *c = p;
	struct chat_roles r;
	int rc = lock_member(db, c, &r, "Direct conversations have no roles to change.");
	if (rc != 0)
		return rc;
	/* Permission first, then "no change": a member may not even ask. */
	if (c->want == ROLE_OWNER) {
		/* Ownership moves; the old owner stays on as an admin. */
		if (r.role != ROLE_OWNER)
			return chat_stop(&c->out, 403, "forbidden", "Only the owner hands on ownership.");
		if (r.trole == ROLE_OWNER)
			return 0;
		/* Not to an account deleted that has not left yet (it leaves
		 * its groups just after, or through the sweeper). */
		char one[32];
		snprintf(one, sizeof(one), "[%lld]", (long long)c->target);
		int live = convs_count_users(db, one);
		if (live < 0)
			return -1;
		if (live == 0)
			return chat_stop(&c->out, 404, "not_found", "That user is not a member.");
		if (convs_set_role(db, c->cid, c->target, ROLE_OWNER) < 0 ||
		    convs_set_role(db, c->cid, c->me, ROLE_ADMIN) < 0 ||
		    emit_member_event(db, c->e, c->cid, "member.updated", c->target, ROLE_OWNER,
			    c->me) < 0 ||
		    emit_member_event(db, c->e, c->cid, "member.updated", c->me, ROLE_ADMIN,
			    c->me) < 0)
			return -1;
		return member_line(db, c, "%s made %s the group's owner");
	}
	if (r.role != ROLE_OWNER && r.role != ROLE_ADMIN)
		return chat_stop(&c->out, 403, "forbidden", "Only the owner and admins change roles.");
	if (r.trole == ROLE_OWNER)
		return chat_stop(&c->out, 403, "forbidden",
			"The owner's role changes only by handing on ownership.");
	/* An admin steps down on their own; only the owner takes another
	 * admin's role away (an admin could otherwise demote and then remove
	 * every other admin). */
	if (r.trole == ROLE_ADMIN && r.role != ROLE_OWNER && c->target != c->me &&
	    r.trole != (int)c->want)
		return chat_stop(&c->out, 403, "forbidden",
			"Only the owner takes an admin's role away.");
	if (r.trole == (int)c->want)
		return 0;
	if (convs_set_role(db, c->cid, c->target, c->want) < 0 ||
	    emit_member_event(db, c->e, c->cid, "member.updated", c->target, c->want, c->me) < 0)
		return -1;
	return member_line(db, c, c->want == ROLE_ADMIN ? "%s made %s an admin" :
		"%s removed %s as an admin");
}

void conv_member_patch(struct req *req)
{
	static const char *const allowed[] = {"role", NULL};
	int64_t cid, uid;
	if (!req_param_id(req, 0, &cid) || !req_param_id(req, 1, &uid))
		return;
	const char *role;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_str(req, req->json, "role", 1, 1, 16, &role) < 0)
		return;
	enum conv_role want = convs_role_parse(role);
	if (want == ROLE_NONE) {
		resp_bad_field(req, "role", "Field 'role' must be \"owner\", \"admin\" or \"member\".");
		return;
	}
	struct db *db = app_db(req);
	if (db == NULL || change_member(req, db, cid, uid, want, role_tx) < 0)
		return;
	struct member m;
	if (!chat_found(req, convs_member(db, req->arena, cid, uid, &m),
		    "That user is not a member."))
		return;
	resp_json(req, 200, chat_member_json(req->arena, &m));
}
