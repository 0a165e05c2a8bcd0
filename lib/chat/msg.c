/* Message endpoints: send, history, edit, delete, reactions, read, typing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "cache/cache.h"
#include "chat/chat.h"
#include "util/recent.h"
#include "wake/doorbell.h"

#define HISTORY_DEFAULT 50
#define HISTORY_MAX 100
#define MEDIA_MAX 10

static void internal(struct req *req)
{
	resp_problem(req, 500, "internal", NULL);
}

/* A message body: 1-4000 characters, not blank, no control characters but
 * newline, carriage return and tab. */
static int check_body(struct req *req, const char *body)
{
	return json_req_text(req, "body", body, CHAT_BODY_MAX_CHARS, 1, 0);
}

/* Reads the message as it is now and answers with it. */
static void send_msg(struct req *req, struct db *db, int64_t cid, int64_t mid, int status)
{
	struct msg m;
	if (chat_found(req, msgs_get(db, req->arena, cid, mid, &m), "No such message."))
		resp_json(req, status, chat_message_json(req->arena, &m));
}

/* The request's database connection when the user is a member of cid;
 * otherwise NULL after answering 503, 500 or 404. */
static struct db *member_db(struct req *req, int64_t cid)
{
	struct db *db = app_db(req);
	if (db == NULL)
		return NULL;
	int role = convs_role(db, cid, req->user_id);
	if (role < 0)
		internal(req);
	else if (role == ROLE_NONE)
		resp_problem(req, 404, "not_found", "No such conversation.");
	return role > 0 ? db : NULL;
}

/* --- POST /conversations/{id}/messages --- */

static void msg_sent(struct req *req, struct msg *m, int rc);

void msg_send(struct req *req)
{
	static const char *const allowed[] = {"client_id", "kind", "body", "media_ids",
		"reply_to", NULL};
	static const char *const kinds[] = {"text", "image", "video", "voice", "file", NULL};
	int64_t cid;
	if (!req_param_id(req, 0, &cid))
		return;
	const char *client_id, *kind, *body;
	int64_t reply_to = 0;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_str(req, req->json, "client_id", 1, 1, 256, &client_id) < 0 ||
	    json_req_str(req, req->json, "kind", 0, 1, 16, &kind) < 0 ||
	    json_req_str(req, req->json, "body", 0, 0, 4 * CHAT_BODY_MAX_CHARS, &body) < 0 ||
	    json_req_int(req, req->json, "reply_to", 0, 1, INT64_MAX - 1, &reply_to, NULL) < 0)
		return;
	if (chat_check_client_id(req, client_id) < 0)
		return;
	if (kind == NULL)
		kind = "text";
	int known = 0;
	for (const char *const *k = kinds; *k != NULL; k++)
		known |= strcmp(*k, kind) == 0;
	if (!known) {
		resp_bad_field(req, "kind", "Field 'kind' must be text, image, video, voice or file.");
		return;
	}
	json_object *media;
	size_t nmedia = 0;
	if (json_object_object_get_ex(req->json, "media_ids", &media) && media != NULL) {
		if (!json_object_is_type(media, json_type_array) ||
		    json_object_array_length(media) > MEDIA_MAX) {
			resp_bad_field(req, "media_ids", "Field 'media_ids' must be an array of at most "
				"10 media ids.");
			return;
		}
		nmedia = json_object_array_length(media);
		for (size_t i = 0; i < nmedia; i++) {
			json_object *m = json_object_array_get_idx(media, i);
			if (m == NULL || !json_object_is_type(m, json_type_int) ||
			    json_object_get_int64(m) <= 0) {
				resp_bad_field(req, "media_ids", "Field 'media_ids' must contain positive "
					"integer ids.");
				return;
			}
		}
	}
	if (nmedia > 0) {
		/* No upload has been linked to a message yet: every id is unknown. */
		json_object *extra = json_object_new_object();
		json_object_object_add(extra, "field", json_object_new_string("media_ids"));
		resp_problem_ext(req, 400, "unknown_media", "Some of media_ids are not your uploads.",
			extra);
		return;
	}
	if (strcmp(kind, "text") != 0) {
		resp_bad_field(req, "media_ids", "Messages of this kind need media_ids.");
		return;
	}
	if (body == NULL) {
		resp_bad_field(req, "body", "Field 'body' is required.");
		return;
	}
	if (check_body(req, body) < 0)
		return;
	/* One transaction, shared with the sends that arrive meanwhile. */
	struct msg *m = arena_alloc(req->arena, sizeof(*m));
	*m = (struct msg){.conversation_id = cid, .sender_id = req->user_id,
		.client_id = client_id, .kind = kind, .body = body, .reply_to = reply_to};
	sendq_send(req, m, msg_sent);
}

/* The answer to a send, once its batch has committed (or failed). */
static void msg_sent(struct req *req, struct msg *m, int rc)
{
	int64_t cid = m->conversation_id;
	if (rc < 0) {
		internal(req);
		return;
	}
	if (rc == SEND_BAD_REPLY) {
		resp_bad_field(req, "reply_to",
			"Field 'reply_to' is not a message of this conversation.");
		return;
	}
	/* Rolled back: a retry of a send that committed (its client_id is
	 * taken), or the conversation is not (or no longer) ours, or closed. A
	 * retry is answered with the first message, even when the sender has
	 * left since or the conversation closed: the first answer may have been
	 * lost. */
	if (rc == SEND_DUPLICATE || rc == SEND_NOT_FOUND || rc == SEND_CLOSED) {
		struct db *db = app_db(req);
		if (db == NULL)
			return;
		struct msg first;
		int found = msgs_by_client(db, req->arena, req->user_id, m->client_id, &first);
		if (found < 0) {
			internal(req);
			return;
		}
		/* Another message under the same client_id (a client that
		 * reuses its ids): refused, not answered with the first, which
		 * would drop the new text unseen. An edited or deleted first
		 * message cannot be compared: taken as the same. */
		if (found == 1 && first.conversation_id == cid && first.edited_at == NULL &&
		    first.deleted_at == NULL && (strcmp(first.kind, m->kind) != 0 ||
			first.reply_to != m->reply_to || first.body == NULL ||
			strcmp(first.body, m->body) != 0)) {
			resp_problem(req, 409, "client_id_conflict", "This client_id was already used "
				"for a different message.");
			return;
		}
		if (found == 1 && first.conversation_id == cid) {
			/* The first try may have committed without being answered
			 * (a lost connection, or a batch whose result was lost). A
			 * sender who is no longer a member gets the message as it
			 * was sent (what came after is not theirs to see) and rings
			 * nobody. */
			if (rc == SEND_NOT_FOUND) {
				first.reactions = NULL;
				first.nreactions = 0;
			} else {
				chat_retry_wake(db, req->arena, cid, first.id);
			}
			resp_json(req, 200, chat_message_json(req->arena, &first));
			return;
		}
		if (rc == SEND_DUPLICATE)
			resp_problem(req, 409, "client_id_conflict", "This client_id was already used "
				"for a message in another conversation.");
		else if (rc == SEND_CLOSED)
			resp_problem(req, 403, "conversation_closed", CHAT_CLOSED_DETAIL);
		else
			resp_problem(req, 404, "not_found", "No such conversation.");
		return;
	}
	/* The answer is built from what the procedure returned: a new message
	 * has no edits or reactions yet. */
	resp_json(req, 201, chat_message_json(req->arena, m));
}

/* --- GET /conversations/{id}/messages --- */

static int query_seq(struct req *req, const char *name, int64_t *out)
{
	const char *s = req_query(req, name);
	if (s == NULL)
		return 0;
	if (http_parse_uint(s, 0, INT64_MAX, out) < 0) {
		resp_problem(req, 400, "invalid_query",
			arena_printf(req->arena, "%s must be a message seq (0 or more).", name));
		return -1;
	}
	return 1;
}

/* Builds {messages, has_more} with at most limit messages of page (which
 * holds up to limit + 1, ascending; takes ownership): the extra one is the
 * oldest when paging back, the newest going forward. */
static json_object *page_body(json_object *page, int limit, int forward)
{
	int n = (int)json_object_array_length(page);
	int has_more = n > limit;
	int first = has_more && !forward ? n - limit : 0;
	int last = has_more && forward ? limit : n;
	json_object *arr = json_object_new_array();
	for (int i = first; i < last; i++)
		json_object_array_add(arr, json_object_get(json_object_array_get_idx(page, (size_t)i)));
	json_object_put(page);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "messages", arr);
	json_object_object_add(o, "has_more", json_object_new_boolean(has_more));
	return o;
}

/* The latest page, warm: three memcached entries answer it without MySQL,
 * fetched in one round trip.
 *   m:cgen:<cid>          the conversation's cache generation (chat_cache_gen)
 *   m:mb:<cid>:<uid>      "<gen>": uid was a member when generation gen was current
 *   m:histb<limit>:<cid>  "<gen>\n<body>": the finished answer for this limit
 * Entries of an older generation are ignored: every change (messages,
 * membership) deletes the generation after its commit. The membership mark
 * and the page are written only after the generation was read and MySQL
 * was asked, so what they say is at least as new as that generation. */
struct warm {
	int64_t gen;		/* 0: no generation (memcached down or empty) */
	int member;		/* 1: membership confirmed for gen */
	const char *body;	/* the answer for this limit, or NULL */
	size_t len;
	char mkey[CACHE_KEY_MAX], bkey[CACHE_KEY_MAX];
};

/* "<gen>" or "<gen>\n..." of generation gen: the text after the newline
 * (or "" for a bare mark), else NULL. */
static const char *of_gen(const char *v, int64_t gen)
{
	if (v == NULL || gen <= 0)
		return NULL;
	char *end;
	long long g = strtoll(v, &end, 10);
	if (g != gen || (*end != '\0' && *end != '\n'))
		return NULL;
	return *end == '\n' ? end + 1 : end;
}

static void warm_keys(struct req *req, int64_t cid, int64_t limit, struct warm *w, char *gkey)
{
	cache_key(gkey, "cgen", cid);
	cache_key2(w->mkey, "mb", cid, req->user_id);
	cache_key(w->bkey, arena_printf(req->arena, "histb%lld", (long long)limit), cid);
}

/* The latest page's limit, or 0 when the query asks for another page (or
 * is invalid: the handler answers that). */
static int64_t latest_limit(struct req *req)
{
	int64_t limit = HISTORY_DEFAULT;
	const char *lim = req_query(req, "limit");
	if (req_query(req, "before") != NULL || req_query(req, "after") != NULL ||
	    (lim != NULL && http_parse_uint(lim, 1, HISTORY_MAX, &limit) < 0))
		return 0;
	return limit;
}

int msg_history_prefetch(struct req *req, const char **keys)
{
	int64_t cid, limit = latest_limit(req);
	if (limit == 0 || req->nparams < 1 || http_parse_uint(req->params[0], 1, INT64_MAX, &cid) < 0)
		return 0;
	struct warm w;
	char gkey[CACHE_KEY_MAX];
	warm_keys(req, cid, limit, &w, gkey);
	keys[0] = arena_strdup(req->arena, gkey);
	keys[1] = arena_strdup(req->arena, w.mkey);
	keys[2] = arena_strdup(req->arena, w.bkey);
	return 3;
}

static void warm_lookup(struct req *req, int64_t cid, int64_t limit, struct warm *w)
{
	char gkey[CACHE_KEY_MAX];
	warm_keys(req, cid, limit, w, gkey);
	w->gen = 0;
	w->member = 0;
	w->body = NULL;
	/* After a failed drop the old generation may still be there, with
	 * the views the change should have dropped: none is read. */
	if (chat_cache_distrusted())
		return;
	char *vals[3];
	if (req->prefetched) {
		/* Fetched with the session check (msg_history_prefetch). */
		memcpy(vals, req->pre, sizeof(vals));
	} else {
		const char *keys[3] = {gkey, w->mkey, w->bkey};
		if (cache_mget(keys, 3, req->arena, vals) < 0)
			return;
	}
	char *end;
	long long g = vals[0] ? strtoll(vals[0], &end, 10) : 0;
	if (vals[0] == NULL || *end != '\0' || g <= 0) {
		/* No generation yet: start one (before MySQL is read). */
		chat_cache_gen(req->arena, cid, &w->gen);
		return;
	}
	w->gen = g;
	w->member = of_gen(vals[1], g) != NULL;
	w->body = of_gen(vals[2], g);
	if (w->body != NULL)
		w->len = strlen(w->body);
}

/* Keeps "<gen>\n<text>" (or "<gen>" when text is NULL) under key. */
static void warm_store(struct req *req, const char *key, int64_t gen, const char *text, size_t len)
{
	char *v = arena_printf(req->arena, "%lld%s", (long long)gen, text ? "\n" : "");
	size_t vl = strlen(v);
	if (text != NULL) {
		char *full = arena_alloc(req->arena, vl + len + 1);
		memcpy(full, v, vl);
		memcpy(full + vl, text, len);
		full[vl + len] = '\0';
		v = full;
		vl += len;
	}
	cache_set(key, v, vl, CHAT_CACHE_TTL);
}

/* Answers the latest page and keeps its serialised body for this limit. */
static void send_latest(struct req *req, json_object *page, int limit, const struct warm *w)
{
	json_object *body = page_body(page, limit, 0);
	size_t len;
	const char *text = json_object_to_json_string_length(body,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	warm_store(req, w->bkey, w->gen, text, len);
	resp_json(req, 200, body);
}

void msg_history(struct req *req)
{
	int64_t cid;
	if (!req_param_id(req, 0, &cid))
		return;
	int64_t before = 0, after = -1, limit = HISTORY_DEFAULT;
	int hb = query_seq(req, "before", &before);
	if (hb < 0)
		return;
	int ha = query_seq(req, "after", &after);
	if (ha < 0)
		return;
	if (hb && ha) {
		resp_problem(req, 400, "invalid_query", "Give before or after, not both.");
		return;
	}
	const char *lim = req_query(req, "limit");
	if (lim != NULL && http_parse_uint(lim, 1, HISTORY_MAX, &limit) < 0) {
		resp_problem(req, 400, "invalid_query", "limit must be 1-100.");
		return;
	}
	/* The latest page is cached (see struct warm); older pages are not. */
	struct warm w = {0};
	int latest = !hb && !ha;
	if (latest) {
		warm_lookup(req, cid, limit, &w);
		if (w.member && w.body != NULL) {
			resp_json_text(req, 200, w.body, w.len);
			return;
		}
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	if (!w.member) {
		int role = convs_role(db, cid, req->user_id);
		if (role < 0) {
			internal(req);
			return;
		}
		if (role == ROLE_NONE) {
			resp_problem(req, 404, "not_found", "No such conversation.");
			return;
		}
		if (w.gen > 0)
			warm_store(req, w.mkey, w.gen, NULL, 0);
	}
	if (latest && w.body != NULL) {
		resp_json_text(req, 200, w.body, w.len);
		return;
	}
	int cached = latest && w.gen > 0;
	char key[CACHE_KEY_MAX];
	if (cached) {
		/* The page of the newest messages answers any limit. */
		cache_key2(key, "hist", cid, w.gen);
		char *v;
		if (cache_get(key, req->arena, &v, NULL) == 1) {
			json_object *page = json_tokener_parse(v);
			if (page != NULL && json_object_is_type(page, json_type_array)) {
				send_latest(req, page, (int)limit, &w);
				return;
			}
			json_object_put(page);
		}
	}
	int want = cached ? HISTORY_MAX + 1 : (int)limit + 1;
	struct msg *list = arena_alloc(req->arena, sizeof(*list) * (size_t)want);
	int n = 0;
	/* Nothing comes before seq 0. */
	if (!(hb && before == 0)) {
		n = msgs_history(db, req->arena, cid, hb ? before : 0, ha ? after : -1, want, list);
		if (n < 0) {
			internal(req);
			return;
		}
	}
	json_object *page = json_object_new_array();
	for (int i = 0; i < n; i++)
		json_object_array_add(page, chat_message_json(req->arena, &list[i]));
	if (cached) {
		size_t len;
		const char *text = json_object_to_json_string_length(page,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
		cache_set(key, text, len, CHAT_CACHE_TTL);
		send_latest(req, page, (int)limit, &w);
		return;
	}
	resp_json(req, 200, page_body(page, (int)limit, ha));
}

/* --- PATCH and DELETE .../messages/{mid} and .../reactions/{emoji} --- */

/* A change to one message: an edit, a delete or a reaction. */
struct change_ctx {
	struct emit *e;
	struct arena *a;
	int64_t cid, mid, me;
	const char *body;	/* edit: the new body; NULL: delete */
	const char *emoji;	/* reactions */
	int add;		/* reactions: 1 add, 0 remove */
	int changed;
	int closed;		/* the conversation is closed (see find_locked) */
	struct chat_outcome out;
};

/* 403 conversation_closed, into out (1: the transaction rolls back). */
static int closed_stop(struct chat_outcome *out)
{
	return chat_stop(out, 403, "conversation_closed", CHAT_CLOSED_DETAIL);
}

/* The start of each transaction: locks the conversation, checks membership
 * and finds the message. */
static int find_locked(struct db *db, struct change_ctx *c, struct msg *m)
{
	c->e->n = 0;
	c->changed = 0;
	struct chat_roles r;
	int rc = chat_lock(db, c->cid, c->me, 0, &r, &c->out);
	if (rc != 0)
		return rc;
	c->closed = r.closed;
	rc = msgs_lock(db, c->a, c->cid, c->mid, m);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return chat_stop(&c->out, 404, "not_found", "No such message.");
	/* A line of group activity is the group's record, no one's message. */
	if (m->kind != NULL && strcmp(m->kind, "system") == 0)
		return chat_stop(&c->out, 409, "system_message",
			"Lines of group activity cannot be edited, deleted or reacted to.");
	return 0;
}

/* Runs fn on message mid of cid with c (the rest of it set by the caller)
 * and answers with the message as it is then. */
static void change_message(struct req *req, int64_t cid, int64_t mid, struct change_ctx *c,
	int (*fn)(struct db *db, void *ctx))
{
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	struct emit e;
	emit_init(&e, req->arena);
	c->e = &e;
	c->a = req->arena;
	c->cid = cid;
	c->mid = mid;
	c->me = req->user_id;
	if (chat_tx(req, db, fn, c, &c->out) < 0)
		return;
	if (c->changed) {
		chat_invalidate(cid);
		emit_wake(&e);
	} else {
		/* Already so: maybe a retry whose first try committed and lost
		 * its answer (and with it the ring and the cache drop), as a
		 * send's retry (see chat_retry_wake). */
		chat_retry_wake(db, req->arena, cid, mid);
	}
	send_msg(req, db, cid, mid, 200);
}

static int change_tx(struct db *db, void *p)
{
	struct change_ctx *c = p;
	struct msg m;
	int rc = find_locked(db, c, &m);
	if (rc != 0)
		return rc;
	if (m.sender_id != c->me)
		return chat_stop(&c->out, 403, "not_your_message",
			"Only the sender can change or delete a message.");
	if (c->body != NULL) {
		if (m.deleted_at != NULL)
			return chat_stop(&c->out, 409, "message_deleted", "The message was deleted.");
		if (m.body != NULL && strcmp(m.body, c->body) == 0)
			return 0;
		/* In a closed conversation a message can still be deleted, not
		 * changed into a new one (a retry of an edit made before is
		 * answered above). */
		if (c->closed)
			return closed_stop(&c->out);
		if (msgs_edit(db, c->mid, c->body) < 0)
			return -1;
	} else {
		/* Deleting twice is the same as deleting once. */
		if (m.deleted_at != NULL)
			return 0;
		if (msgs_delete(db, c->mid) < 0)
			return -1;
	}
	c->changed = 1;
	return emit_conv(db, c->e, c->cid, 0, c->body ? "message.edited" : "message.deleted",
		c->mid, NULL) < 0 ? -1 : 0;
}

static void change(struct req *req, const char *body)
{
	int64_t cid, mid;
	if (!req_param_id(req, 0, &cid) || !req_param_id(req, 1, &mid))
		return;
	struct change_ctx c = {.body = body};
	change_message(req, cid, mid, &c, change_tx);
}

/* PATCH /conversations/{id}/messages/{mid} */
void msg_edit(struct req *req)
{
	static const char *const allowed[] = {"body", NULL};
	const char *body;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_str(req, req->json, "body", 1, 0, 4 * CHAT_BODY_MAX_CHARS, &body) < 0 ||
	    check_body(req, body) < 0)
		return;
	change(req, body);
}

/* GET /conversations/{id}/messages/{mid}: one message as the history
 * shows it (a tombstone once deleted), e.g. the one a reply quotes. */
void msg_get(struct req *req)
{
	int64_t cid, mid;
	if (!req_param_id(req, 0, &cid) || !req_param_id(req, 1, &mid))
		return;
	struct db *db = member_db(req, cid);
	if (db != NULL)
		send_msg(req, db, cid, mid, 200);
}

/* DELETE /conversations/{id}/messages/{mid} */
void msg_delete(struct req *req)
{
	change(req, NULL);
}

static int react_tx(struct db *db, void *p)
{
	struct change_ctx *c = p;
	struct msg m;
	int rc = find_locked(db, c, &m);
	if (rc != 0)
		return rc;
	if (m.deleted_at != NULL && c->add)
		return chat_stop(&c->out, 409, "message_deleted", "The message was deleted.");
	if (c->add) {
		/* Counted under the message's row lock: reactions to it wait. */
		struct reaction_counts k;
		if (msgs_reaction_counts(db, c->mid, c->me, c->emoji, &k) < 0)
			return -1;
		/* A closed conversation takes no new reactions (one given before,
		 * asked for again, is answered as it is). */
		if (c->closed && !k.given)
			return closed_stop(&c->out);
		if (!k.given && k.mine >= CHAT_REACTIONS_PER_MEMBER)
			return chat_stop(&c->out, 409, "too_many_reactions", arena_printf(c->a,
				"You have given this message %d reactions already.",
				CHAT_REACTIONS_PER_MEMBER));
		if (k.this_emoji == 0 && k.emoji >= CHAT_REACTION_EMOJI_MAX)
			return chat_stop(&c->out, 409, "too_many_reactions", arena_printf(c->a,
				"This message has %d different reactions already; add to one of them.",
				CHAT_REACTION_EMOJI_MAX));
	}
	rc = c->add ? msgs_react(db, c->mid, c->me, c->emoji) :
		msgs_unreact(db, c->mid, c->me, c->emoji);
	if (rc <= 0)
		return rc;	/* -1, or 0: no change and no event */
	c->changed = 1;
	json_object *pl = json_object_new_object();
	json_object_object_add(pl, "message_id", json_object_new_int64(c->mid));
	json_object_object_add(pl, "user_id", json_object_new_int64(c->me));
	json_object_object_add(pl, "emoji", json_object_new_string(c->emoji));
	rc = emit_conv(db, c->e, c->cid, 0, c->add ? "reaction.added" : "reaction.removed", 0,
		pl);
	json_object_put(pl);
	return rc < 0 ? -1 : 0;
}

static void react(struct req *req, int add)
{
	int64_t cid, mid;
	if (!req_param_id(req, 0, &cid) || !req_param_id(req, 1, &mid))
		return;
	const char *emoji = req->nparams > 2 ? req->params[2] : "";
	if (!chat_emoji_ok(emoji)) {
		resp_problem(req, 400, "invalid_emoji", "The reaction must be a single emoji.");
		return;
	}
	struct change_ctx c = {.emoji = emoji, .add = add};
	change_message(req, cid, mid, &c, react_tx);
}

/* PUT .../messages/{mid}/reactions/{emoji} */
void msg_react(struct req *req)
{
	react(req, 1);
}

/* DELETE .../messages/{mid}/reactions/{emoji} */
void msg_unreact(struct req *req)
{
	react(req, 0);
}

/* --- POST /conversations/{id}/read --- */

struct read_ctx {
	struct emit *e;
	struct arena *a;
	int64_t cid, me, seq;
	int changed;
};

static int read_tx(struct db *db, void *p)
{
	struct read_ctx *c = p;
	c->e->n = 0;
	c->changed = 0;
	int rc = convs_lock(db, c->cid, NULL, NULL);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	int moved = convs_mark_read(db, c->cid, c->me, c->seq);
	if (moved < 0)
		return -1;
	/* Reading it ends a mark "unread" made by hand: my devices are told. */
	int unmarked = convs_set_marked_unread(db, c->cid, c->me, 0);
	if (unmarked < 0)
		return -1;
	c->changed = moved || unmarked;
	if (moved && chat_emit_receipt(db, c->e, c->cid, c->me) < 0)
		return -1;
	if (unmarked && chat_emit_view(db, c->e, c->a, c->cid, c->me) < 0)
		return -1;
	return 0;
}

void msg_read(struct req *req)
{
	static const char *const allowed[] = {"seq", NULL};
	int64_t cid, seq;
	if (!req_param_id(req, 0, &cid))
		return;
	if (json_req_only(req, req->json, allowed) < 0 ||
	    json_req_int(req, req->json, "seq", 1, 0, INT64_MAX - 1, &seq, NULL) < 0)
		return;
	struct db *db = member_db(req, cid);
	if (db == NULL)
		return;
	struct emit e;
	emit_init(&e, req->arena);
	struct read_ctx c = {&e, req->arena, cid, req->user_id, seq, 0};
	int rc = db_tx(db, read_tx, &c);
	if (rc < 0) {
		internal(req);
		return;
	}
	/* Cached views hold no receipts: nothing to invalidate. */
	if (c.changed)
		emit_wake(&e);
	int64_t delivered, read, unread;
	if (!chat_found(req, convs_marks(db, cid, req->user_id, &delivered, &read, &unread),
		    "No such conversation."))
		return;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "last_read_seq", json_object_new_int64(read));
	json_object_object_add(o, "unread_count", json_object_new_int64(unread));
	resp_json(req, 200, o);
}

/* --- POST /conversations/{id}/typing --- */

struct typing_ctx {
	struct emit *e;
	int64_t cid, me;
};

static int typing_tx(struct db *db, void *p)
{
	struct typing_ctx *c = p;
	c->e->n = 0;
	int closed = 0;
	int rc = convs_lock(db, c->cid, NULL, &closed);
	/* Nobody hears typing in a closed conversation (a block). */
	if (rc <= 0 || closed)
		return rc < 0 ? -1 : 1;
	/* Still a member under the lock (a removal may have committed since
	 * the check before): nobody is told that someone outside is typing. */
	rc = convs_role(db, c->cid, c->me);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	json_object *pl = json_object_new_object();
	json_object_object_add(pl, "user_id", json_object_new_int64(c->me));
	json_object_object_add(pl, "expires_in", json_object_new_int(CHAT_TYPING_EXPIRES_S));
	rc = emit_conv(db, c->e, c->cid, c->me, "typing", 0, pl);
	json_object_put(pl);
	return rc < 0 ? -1 : 0;
}

/* This process's memory of the typing events it let through, beside
 * memcached's (which keeps the processes and hosts in step): a repeat
 * within the window is dropped even when memcached cannot answer
 * (restarting, unreachable, a pooled connection in its retry pause).
 * Keyed by (conversation, user). */
static struct recent typing_seen = RECENT_INIT;

void msg_typing(struct req *req)
{
	static const char *const allowed[] = {NULL};
	int64_t cid;
	if (!req_param_id(req, 0, &cid))
		return;
	if (json_req_only(req, req->json, allowed) < 0)
		return;
	struct db *db = member_db(req, cid);
	if (db == NULL)
		return;
	/* At most one event per user and conversation per window. When
	 * memcached is down (-1) the event still goes out. */
	char key[CACHE_KEY_MAX];
	cache_key2(key, "typing", cid, req->user_id);
	int64_t claim = recent_claim(&typing_seen, cid, req->user_id, 0,
		CHAT_TYPING_WINDOW_S * 1000);
	if (claim == 0) {
		resp_json(req, 204, NULL);
		return;
	}
	int added = cache_add(key, "1", 1, CHAT_TYPING_WINDOW_S);
	if (added == 0) {
		recent_drop(&typing_seen, cid, req->user_id, 0, claim);
		resp_json(req, 204, NULL);
		return;
	}
	struct emit e;
	emit_init(&e, req->arena);
	struct typing_ctx c = {&e, cid, req->user_id};
	if (db_tx(db, typing_tx, &c) < 0) {
		recent_drop(&typing_seen, cid, req->user_id, 0, claim);
		if (added == 1)
			cache_del(key);
		internal(req);
		return;
	}
	emit_wake(&e);
	resp_json(req, 204, NULL);
}
