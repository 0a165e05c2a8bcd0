/*
 * Blocking a person: GET /me/blocks, PUT and DELETE /me/blocks/{uid}
 * (sql/0020).
 *
 * A block closes the two people's direct conversation: its history stays,
 * a send there answers 403 conversation_closed, edits, reactions and typing
 * are refused or dropped, and both are sent conversation.updated (closed;
 * the blocker's view also says blocked). A new direct conversation between
 * them is not started (403 blocked), the blocked person cannot add the
 * blocker to a group (403 blocked), and neither sees the other's presence
 * (lib/db/online.c, lib/db/events.c). Groups they share stay as they are.
 * Unblocking opens the direct conversation again once no block is left
 * between the two and neither account is deleted.
 *
 * A block and the start of a direct conversation both lock the two users'
 * rows first (convs_lock_pair), so neither misses the other.
 */

#include "app/app.h"
#include "auth/auth.h"
#include "chat/chat.h"

#define BLOCKS_DEFAULT 50
#define BLOCKS_MAX 100

struct block_ctx {
	struct emit *e;
	struct arena *a;
	int64_t me, other;
	int add;		/* 1 block, 0 unblock */
	int unknown;		/* other is no user */
	int changed;		/* the block was made or removed now */
	int64_t cid;		/* their direct conversation, 0 when none */
};

static int block_tx(struct db *db, void *p)
{
	struct block_ctx *c = p;
	c->e->n = 0;
	c->unknown = c->changed = 0;
	c->cid = 0;
	int rc = convs_lock_pair(db, c->me, c->other);
	if (rc <= 0) {
		c->unknown = rc == 0;
		return rc < 0 ? -1 : 1;
	}
	rc = c->add ? convs_block(db, c->me, c->other) : convs_unblock(db, c->me, c->other);
	if (rc < 0)
		return -1;
	c->changed = rc;
	char key[CHAT_DIRECT_KEY_MAX];
	chat_direct_key(key, sizeof(key), c->me, c->other);
	rc = convs_find_direct(db, key, &c->cid);
	if (rc <= 0 || !c->changed)
		return rc < 0 ? -1 : 0;
	/* Under the conversation's lock, as a send takes it: a send either
	 * committed before the close or is refused after it. */
	int was = 0, now = 0;
	if (convs_lock(db, c->cid, NULL, &was) < 0)
		return -1;
	rc = c->add ? convs_close_direct(db, c->cid) :
		convs_reopen_direct(db, c->cid, c->me, c->other);
	if (rc < 0 || convs_lock(db, c->cid, NULL, &now) < 0)
		return -1;
	/* My view changed (blocked, or no longer); the other person's only
	 * when the conversation closed or opened: a second block, or an
	 * unblock that leaves it closed, is not theirs to learn of. */
	if (was == now)
		return chat_emit_view(db, c->e, c->a, c->cid, c->me);
	return chat_emit_updated_all(db, c->e, c->a, c->cid);
}

static void block_change(struct req *req, int add)
{
	int64_t other;
	if (!req_param_id(req, 0, &other))
		return;
	if (other == req->user_id) {
		resp_problem(req, 400, "invalid_user", add ? "You cannot block yourself." :
			"You cannot unblock yourself.");
		return;
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	struct emit e;
	emit_init(&e, req->arena);
	struct block_ctx c = {&e, req->arena, req->user_id, other, add, 0, 0, 0};
	int rc = db_tx(db, block_tx, &c);
	if (rc < 0) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	if (c.unknown) {
		resp_problem(req, 404, "not_found", "No such user.");
		return;
	}
	if (c.changed)
		emit_wake(&e);
	else if (c.cid > 0)
		/* Already so: maybe a retry whose first try committed and lost
		 * its answer, and with it the ring. */
		chat_retry_wake(db, req->arena, c.cid, 0);
	resp_json(req, 204, NULL);
}

/* PUT /me/blocks/{uid} */
void block_add(struct req *req)
{
	block_change(req, 1);
}

/* DELETE /me/blocks/{uid} */
void block_remove(struct req *req)
{
	block_change(req, 0);
}

/* GET /me/blocks?limit=&cursor= : the people I block, by user id. */
void block_list(struct req *req)
{
	const char *lim = req_query(req, "limit");
	const char *cursor = req_query(req, "cursor");
	int64_t limit = BLOCKS_DEFAULT, after = 0;
	if (lim != NULL && http_parse_uint(lim, 1, BLOCKS_MAX, &limit) < 0) {
		resp_problem(req, 400, "invalid_query", "limit must be 1-100.");
		return;
	}
	if (cursor != NULL && http_parse_uint(cursor, 1, INT64_MAX, &after) < 0) {
		resp_problem(req, 400, "invalid_cursor", "The cursor is not valid.");
		return;
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	struct block *list = arena_alloc(req->arena, sizeof(*list) * (size_t)(limit + 1));
	int n = convs_blocks(db, req->arena, req->user_id, after, (int)limit + 1, list);
	if (n < 0) {
		resp_problem(req, 500, "internal", NULL);
		return;
	}
	int shown = n > limit ? (int)limit : n;
	json_object *arr = json_object_new_array();
	for (int i = 0; i < shown; i++) {
		json_object *b = json_object_new_object();
		json_object_object_add(b, "user", auth_user_json(req->arena, &list[i].user));
		json_object_object_add(b, "blocked_at",
			json_object_new_string(http_time(req->arena, list[i].blocked_at)));
		json_object_array_add(arr, b);
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "blocks", arr);
	json_object_object_add(o, "next_cursor", n > limit ?
		json_object_new_string(arena_printf(req->arena, "%lld",
			(long long)list[shown - 1].user.id)) : NULL);
	resp_json(req, 200, o);
}
