/* GET /search: full-text search over the caller's conversations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "chat/chat.h"
#include "util/utf8.h"

#define SEARCH_DEFAULT 20
#define SEARCH_MAX 50
#define QUERY_MAX_CHARS 256

/* GET /search?q=&conversation_id=&cursor=&limit= */
void search_messages(struct req *req)
{
	const char *q = req_query(req, "q");
	const char *conv = req_query(req, "conversation_id");
	const char *cursor = req_query(req, "cursor");
	const char *lim = req_query(req, "limit");
	if (q == NULL || *q == '\0' || strlen(q) > 4 * QUERY_MAX_CHARS ||
	    utf8_chars(q) > QUERY_MAX_CHARS) {
		resp_problem(req, 400, "invalid_query", "Give q: 1-256 characters to search for.");
		return;
	}
	int64_t cid = 0, before = 0, limit = SEARCH_DEFAULT;
	if (conv != NULL && http_parse_uint(conv, 1, INT64_MAX, &cid) < 0) {
		resp_problem(req, 400, "invalid_query", "conversation_id must be a conversation id.");
		return;
	}
	if (cursor != NULL && http_parse_uint(cursor, 1, INT64_MAX, &before) < 0) {
		resp_problem(req, 400, "invalid_cursor", "The cursor is not valid.");
		return;
	}
	if (lim != NULL && http_parse_uint(lim, 1, SEARCH_MAX, &limit) < 0) {
		resp_problem(req, 400, "invalid_query", "limit must be 1-50.");
		return;
	}
	struct db *db = app_db(req);
	if (db == NULL)
		return;
	if (cid > 0) {
		int role = convs_role(db, cid, req->user_id);
		if (role < 0) {
			resp_problem(req, 500, "internal", NULL);
			return;
		}
		if (role == ROLE_NONE) {
			resp_problem(req, 404, "not_found", "No such conversation.");
			return;
		}
	}
	/* Only words reach MySQL: operators typed by the user mean nothing. */
	const char *expr = chat_search_query(req->arena, q, msgs_ft_min_word(db));
	struct msg *list = arena_alloc(req->arena, sizeof(*list) * (size_t)(limit + 1));
	int n = 0;
	if (expr != NULL) {
		n = msgs_search(db, req->arena, req->user_id, expr, cid, before, (int)limit + 1,
			list);
		if (n < 0) {
			resp_problem(req, 500, "internal", NULL);
			return;
		}
	}
	int shown = n > limit ? (int)limit : n;
	json_object *arr = json_object_new_array();
	for (int i = 0; i < shown; i++)
		json_object_array_add(arr, chat_message_json(req->arena, &list[i]));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "results", arr);
	json_object_object_add(o, "next_cursor", n > limit ?
		json_object_new_string(arena_printf(req->arena, "%lld",
			(long long)list[shown - 1].id)) : NULL);
	resp_json(req, 200, o);
}
