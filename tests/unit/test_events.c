/* Unit tests for lib/events: cursor parsing (strict decimal, bounded) and
 * message rendering (tombstones, reactions grouped by emoji). */
#include "../../lib/events/feed.c"

#include "check.h"
#include "chat/chat.h"
#include "db/msgs.h"
#include "events/render.h"

static void test_cursor(void)
{
	int64_t v = -1;
	CHECK_EQ(http_parse_uint("0", 0, INT64_MAX, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(http_parse_uint("123", 0, INT64_MAX, &v), 0);
	CHECK_EQ(v, 123);
	CHECK_EQ(http_parse_uint("999999999999999999", 0, INT64_MAX, &v), 0);
	CHECK_EQ(v, 999999999999999999LL);
	const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1a", "0x10", "1.5", "1e3",
		"9999999999999999999", "9223372036854775808", "18446744073709551616"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -7;
		CHECK_EQ(http_parse_uint(bad[i], 0, INT64_MAX, &v), -1);
		CHECK_EQ(v, -7);
	}
}

static void test_render(void)
{
	struct arena a;
	arena_init(&a);
	struct msg m = {.id = 9, .conversation_id = 3, .seq = 4, .sender_id = 2,
		.reply_to = 0, .client_id = "c1", .kind = "text", .body = "hi",
		.created_at = "2026-12-04 17:14:23.123456", .edited_at = NULL, .deleted_at = NULL};
	/* As the event reader gets them from MySQL (user_id:HEX(emoji)). */
	msgs_parse_reactions(&a, &m, "5:F09F918D,7:F09F918D,5:78");
	json_object *o = chat_message_json(&a, &m);
	CHECK_STR(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		"{\"id\":9,\"conversation_id\":3,\"seq\":4,\"sender_id\":2,\"client_id\":\"c1\","
		"\"kind\":\"text\",\"body\":\"hi\",\"reply_to\":null,\"media_ids\":[],"
		"\"created_at\":\"2026-12-04T17:14:23.123Z\",\"edited_at\":null,\"deleted_at\":null,"
		"\"reactions\":[{\"emoji\":\"\xf0\x9f\x91\x8d\",\"count\":2,\"user_ids\":[5,7]},"
		"{\"emoji\":\"x\",\"count\":1,\"user_ids\":[5]}]}");
	json_object_put(o);
	/* A tombstone shows no body even if one were still stored. */
	m.deleted_at = "2026-12-04 17:15:00.000000";
	m.nreactions = 0;
	o = chat_message_json(&a, &m);
	json_object *body = NULL;
	CHECK(json_object_object_get_ex(o, "body", &body));
	CHECK(body == NULL);
	json_object_put(o);
	arena_release(&a);
}

/* Open event requests per user: a limit per user, room again once one
 * ends, and no entry left behind for a user with none open. */
static void test_quota(void)
{
	for (int i = 0; i < 3; i++)
		CHECK(quota_enter(7, 3));
	CHECK(!quota_enter(7, 3));
	CHECK_EQ(quota_count(7), 3);
	/* Other users have room of their own. */
	CHECK(quota_enter(7 + 4096, 3));
	CHECK(quota_enter(8, 3));
	quota_leave(7);
	CHECK(quota_enter(7, 3));
	CHECK(!quota_enter(7, 3));
	for (int i = 0; i < 3; i++)
		quota_leave(7);
	CHECK_EQ(quota_count(7), 0);
	/* A leave with nothing open changes nothing. */
	quota_leave(7);
	CHECK_EQ(quota_count(7), 0);
	CHECK(quota_enter(7, 1));
	CHECK(!quota_enter(7, 1));
	quota_leave(7);
	quota_leave(7 + 4096);
	quota_leave(8);
	CHECK_EQ(quota_count(8), 0);
	CHECK_EQ(quota_count(7 + 4096), 0);
}

int main(void)
{
	test_cursor();
	test_render();
	test_quota();
	return CHECK_DONE();
}
