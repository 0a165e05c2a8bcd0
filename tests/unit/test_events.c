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

/* Open event requests per user: up to the limit, then the newest is
 * taken and the oldest live one asked to end; refused only when as many
 * are ending; the count follows each end; no entry is left behind. */
static void test_quota(void)
{
	struct quota_ticket t[8], other, twin_t;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(quota_enter(&t[i], 7, 3), QUOTA_TAKEN);
	CHECK_EQ(quota_count(7), 3);
	/* A fourth: taken, and the oldest asked to end. */
	CHECK_EQ(quota_enter(&t[3], 7, 3), QUOTA_TAKEN_EVICTING);
	CHECK(t[0].evicted);
	CHECK(!t[1].evicted && !t[3].evicted);
	CHECK_EQ(quota_count(7), 4);
	/* Then the oldest live one, skipping the one already ending. */
	CHECK_EQ(quota_enter(&t[4], 7, 3), QUOTA_TAKEN_EVICTING);
	CHECK(t[1].evicted);
	CHECK_EQ(quota_enter(&t[5], 7, 3), QUOTA_TAKEN_EVICTING);
	CHECK(t[2].evicted);
	/* Three ending and three live: refused, and nothing changes. */
	CHECK_EQ(quota_enter(&t[6], 7, 3), QUOTA_REFUSED);
	CHECK_EQ(quota_count(7), 6);
	/* An ended one (from the middle of the list) makes room. */
	quota_leave(&t[1]);
	CHECK_EQ(quota_enter(&t[6], 7, 3), QUOTA_TAKEN_EVICTING);
	CHECK(t[3].evicted);
	/* A live one that ends leaves room without evicting. */
	quota_leave(&t[4]);
	CHECK_EQ(quota_enter(&t[7], 7, 3), QUOTA_TAKEN);
	CHECK(!t[5].evicted && !t[6].evicted && !t[7].evicted);

	/* Other users have room of their own, one of them in the same hash
	 * bucket as user 7. */
	int64_t twin = 8;
	while (quota_bucket(twin) != quota_bucket(7))
		twin++;
	CHECK_EQ(quota_enter(&twin_t, twin, 1), QUOTA_TAKEN);
	CHECK_EQ(quota_enter(&other, 8, 1), QUOTA_TAKEN);
	CHECK_EQ(quota_count(twin), 1);
	CHECK_EQ(quota_count(7), 6);
	struct quota_ticket *open[] = {&t[0], &t[2], &t[3], &t[5], &t[6], &t[7]};
	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		quota_leave(open[i]);
	CHECK_EQ(quota_count(7), 0);
	CHECK_EQ(quota_count(twin), 1);
	quota_leave(&twin_t);
	quota_leave(&other);
	CHECK_EQ(quota_count(twin), 0);
	CHECK_EQ(quota_count(8), 0);
	/* Entering again starts afresh. */
	CHECK_EQ(quota_enter(&t[0], 7, 1), QUOTA_TAKEN);
	CHECK_EQ(quota_enter(&t[1], 7, 1), QUOTA_TAKEN_EVICTING);
	quota_leave(&t[0]);
	quota_leave(&t[1]);
	CHECK_EQ(quota_count(7), 0);
}

int main(void)
{
	test_cursor();
	test_render();
	test_quota();
	return CHECK_DONE();
}
