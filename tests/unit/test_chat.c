/* Unit tests for lib/chat's pure helpers: input checks, time and cursor
 * parsing, the rewriting of search text into a boolean-mode query, and
 * (against a real memcached started here) what a failed invalidation does
 * to the cached views. */
#include "check.h"
#include "test_memcached.h"
#include "chat/chat.c"
#include "util/config.h"

/* A change whose generation could not be deleted: this process reads no
 * cached view for CHAT_CACHE_TTL, even once memcached answers again (in
 * production it may answer with the old generation still in it: reachable
 * for others while this process could not delete). */
static void invalidation_failure(struct arena *a)
{
	char dir[] = "/tmp/messenger-chat-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char sock[128], pidf[160];
	snprintf(sock, sizeof(sock), "%s/mc.sock", dir);
	snprintf(pidf, sizeof(pidf), "%s/mc.pid", dir);
	setenv("MESSENGER_CONF", "/dev/null", 1);
	setenv("MESSENGER_MEMCACHED", sock, 1);
	CHECK_EQ(config_load(), 0);
	CHECK_EQ(test_memcached_start(sock, pidf), 0);
	CHECK_EQ(cache_init(2), 0);
	int64_t g1 = 0, g2 = 0;
	CHECK_EQ(chat_cache_gen(a, 7, &g1), 1);
	CHECK_EQ(chat_cache_gen(a, 7, &g2), 1);
	CHECK_EQ(g1, g2);
	/* The delete fails (memcached gone for this process)... */
	CHECK(test_memcached_stop(sock, pidf) > 0);
	chat_invalidate(7);
	CHECK(distrust_until_ms > clock_ms());
	/* ...and memcached is back, reachable after the client's pause: no
	 * cached view is used here until the distrust runs out. */
	CHECK_EQ(test_memcached_start(sock, pidf), 0);
	usleep((useconds_t)CACHE_RETRY_WAIT_MS * 1000);
	CHECK_EQ(cache_set("m:probe", "1", 1, 60), 0);
	CHECK_EQ(chat_cache_gen(a, 7, &g2), 0);
	/* Once it runs out, the cache serves again. */
	distrust_until_ms = 0;
	CHECK_EQ(chat_cache_gen(a, 7, &g2), 1);
	/* A delete that works sets no distrust. */
	chat_invalidate(7);
	CHECK(distrust_until_ms == 0);
	cache_shutdown();
	CHECK(test_memcached_stop(sock, pidf) > 0);
	unlink(pidf);
	CHECK_EQ(rmdir(dir), 0);
}

int main(void)
{
	struct arena a;
	arena_init(&a);

	CHECK_EQ(chat_client_id_ok("a"), 1);
	CHECK_EQ(chat_client_id_ok("A-z_09"), 1);
	CHECK_EQ(chat_client_id_ok(""), 0);
	CHECK_EQ(chat_client_id_ok("has space"), 0);
	CHECK_EQ(chat_client_id_ok("semi;colon"), 0);
	CHECK_EQ(chat_client_id_ok("\xC3\xA9"), 0);
	char id64[66];
	memset(id64, 'x', 64);
	id64[64] = '\0';
	CHECK_EQ(chat_client_id_ok(id64), 1);
	id64[64] = 'x';
	id64[65] = '\0';
	CHECK_EQ(chat_client_id_ok(id64), 0);

	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x91\x8D"), 1);			/* thumbs up */
	CHECK_EQ(chat_emoji_ok("\xE2\x9D\xA4\xEF\xB8\x8F"), 1);		/* red heart + VS16 */
	CHECK_EQ(chat_emoji_ok("1\xEF\xB8\x8F\xE2\x83\xA3"), 1);	/* keycap 1 */
	/* Family: man ZWJ woman ZWJ girl. */
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D"
			       "\xF0\x9F\x91\xA7"), 1);
	CHECK_EQ(chat_emoji_ok(""), 0);
	CHECK_EQ(chat_emoji_ok("1"), 0);				/* ASCII alone */
	CHECK_EQ(chat_emoji_ok("ok"), 0);
	CHECK_EQ(chat_emoji_ok("x\xF0\x9F\x91\x8D"), 0);
	CHECK_EQ(chat_emoji_ok(" \xF0\x9F\x91\x8D"), 0);
	CHECK_EQ(chat_emoji_ok("\xC3\x28"), 0);				/* broken UTF-8 */
	CHECK_EQ(chat_emoji_ok("\xC0\xAF"), 0);				/* overlong '/' */
	CHECK_EQ(chat_emoji_ok("\xED\xA0\x80"), 0);			/* surrogate */
	CHECK_EQ(chat_emoji_ok("\xE2\x80\x83"), 0);			/* em space */
	CHECK_EQ(chat_emoji_ok("\xC2\x85"), 0);				/* C1 control */
	/* Flags: regional indicators, and a subdivision flag (tags). */
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7"), 1);
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x8F\xB4\xF3\xA0\x81\xA7\xF3\xA0\x81\xA2\xF3\xA0\x81\xB3"
			       "\xF3\xA0\x81\xA3\xF3\xA0\x81\xB4\xF3\xA0\x81\xBF"), 1);
	CHECK_EQ(chat_emoji_ok("#\xE2\x83\xA3"), 1);			/* keycap #, no VS16 */
	CHECK_EQ(chat_emoji_ok("\xE2\x9C\x85"), 1);			/* check mark (dingbat) */
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"), 1);	/* skin tone */
	/* Not emoji: text, invisible characters, a joiner alone. */
	CHECK_EQ(chat_emoji_ok("\xC2\xA0"), 0);				/* no-break space */
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x84\xB0"), 0);			/* squared Latin A */
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x87\xA6"), 0);			/* a lone flag letter */
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\xF0\x9F\x87\xA6"), 0); /* a flag and a half */
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x87\xA6\xF0\x9F\x91\x8D"), 0);	/* a letter, then an emoji */
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x8F\xBD"), 0);			/* a skin tone alone */
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\xF0\x9F\x91\x8D"), 1); /* a flag, an emoji */
	CHECK_EQ(chat_emoji_ok("\xC2\xAD"), 0);				/* soft hyphen */
	CHECK_EQ(chat_emoji_ok("\xE2\x81\xA0"), 0);			/* word joiner */
	CHECK_EQ(chat_emoji_ok("\xE2\x80\x8D"), 0);			/* ZWJ alone */
	CHECK_EQ(chat_emoji_ok("\xEF\xB8\x8F"), 0);			/* VS16 alone */
	CHECK_EQ(chat_emoji_ok("\xC3\xA9"), 0);				/* e acute */
	CHECK_EQ(chat_emoji_ok("\xD0\xBF\xD1\x80\xD0\xB8"), 0);	/* Cyrillic */
	CHECK_EQ(chat_emoji_ok("1\xC3\xA9"), 0);
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x91\x8D\xC3\xA9"), 0);	/* emoji then a letter */
	CHECK_EQ(chat_emoji_ok("1\xEF\xB8\x8F"), 0);			/* keycap without its mark */
	CHECK_EQ(chat_emoji_ok("\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
			       "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
			       "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"), 0); /* 36 bytes */

	char t[32];
	CHECK_EQ(chat_parse_time("2026-12-04T17:14:23.123Z", t, sizeof(t)), 0);
	CHECK_STR(t, "2026-12-04 17:14:23.123");
	CHECK_EQ(chat_parse_time("2026-12-04T17:14:23Z", t, sizeof(t)), 0);
	CHECK_STR(t, "2026-12-04 17:14:23.000");
	CHECK_EQ(chat_parse_time("2026-12-04T17:14:23.5Z", t, sizeof(t)), 0);
	CHECK_STR(t, "2026-12-04 17:14:23.500");
	CHECK_EQ(chat_parse_time("2028-02-29T00:00:00Z", t, sizeof(t)), 0);
	CHECK_EQ(chat_parse_time("2026-02-29T00:00:00Z", t, sizeof(t)), -1);
	CHECK_EQ(chat_parse_time("2026-04-31T00:00:00Z", t, sizeof(t)), -1);
	CHECK_EQ(chat_parse_time("2026-12-04T24:00:00Z", t, sizeof(t)), -1);
	CHECK_EQ(chat_parse_time("2026-12-04T17:14:23", t, sizeof(t)), -1);
	CHECK_EQ(chat_parse_time("2026-12-04T17:14:23+01:00", t, sizeof(t)), -1);
	CHECK_EQ(chat_parse_time("2026-12-04T17:14:23.Z", t, sizeof(t)), -1);
	CHECK_EQ(chat_parse_time("2026-12-04T17:14:23.1234Z", t, sizeof(t)), -1);
	CHECK_EQ(chat_parse_time("tomorrow", t, sizeof(t)), -1);
	CHECK_EQ(chat_parse_time("2026-12-04T17:14:23Z", t, 10), -1);

	int64_t v = 0;
	CHECK_EQ(http_parse_uint("0", 0, 10, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(http_parse_uint("10", 1, 10, &v), 0);
	CHECK_EQ(v, 10);
	CHECK_EQ(http_parse_uint("11", 1, 10, &v), -1);
	CHECK_EQ(http_parse_uint("0", 1, 10, &v), -1);
	CHECK_EQ(http_parse_uint("+5", 1, 10, &v), -1);
	CHECK_EQ(http_parse_uint(" 5", 1, 10, &v), -1);
	CHECK_EQ(http_parse_uint("5 ", 1, 10, &v), -1);
	CHECK_EQ(http_parse_uint("-1", 0, 10, &v), -1);
	CHECK_EQ(http_parse_uint("", 0, 10, &v), -1);
	CHECK_EQ(http_parse_uint(NULL, 0, 10, &v), -1);
	CHECK_EQ(http_parse_uint("0x10", 0, 100, &v), -1);
	CHECK_EQ(http_parse_uint("999999999999999999", 0, INT64_MAX, &v), 0);
	CHECK_EQ(http_parse_uint("9999999999999999999", 0, INT64_MAX, &v), -1);

	int64_t ms = 0, id = 0;
	CHECK_EQ(chat_cursor_parse("1733333333123.42", &ms, &id), 0);
	CHECK_EQ(ms, 1733333333123LL);
	CHECK_EQ(id, 42);
	CHECK_EQ(chat_cursor_parse("1733333333123", &ms, &id), -1);
	CHECK_EQ(chat_cursor_parse(".42", &ms, &id), -1);
	CHECK_EQ(chat_cursor_parse("12.", &ms, &id), -1);
	CHECK_EQ(chat_cursor_parse("12.0", &ms, &id), -1);
	CHECK_EQ(chat_cursor_parse("-1.5", &ms, &id), -1);
	CHECK_EQ(chat_cursor_parse("1.2.3", &ms, &id), -1);
	CHECK_EQ(chat_cursor_parse("1.2 OR 1=1", &ms, &id), -1);
	CHECK_EQ(chat_cursor_parse("1234567890123456.1", &ms, &id), -1);

	CHECK_STR(chat_search_query(&a, "hello world", 2), "+\"hello\" +\"world\"");
	CHECK_STR(chat_search_query(&a, "+hello -world*", 2), "+\"hello\" +\"world\"");
	CHECK_STR(chat_search_query(&a, "\"(a) b\" ~c <d> @3", 1), "+\"a\" +\"b\" +\"c\" +\"d\" +\"3\"");
	CHECK_STR(chat_search_query(&a, "don't stop", 2), "+\"don\" +\"stop\"");
	/* One-letter words nearly triple the text (the output once overran
	 * its buffer here); every word is kept. */
	CHECK_STR(chat_search_query(&a, "a b c d e f g h i j k l m n o p q", 1),
		"+\"a\" +\"b\" +\"c\" +\"d\" +\"e\" +\"f\" +\"g\" +\"h\" +\"i\" +\"j\" +\"k\" "
		"+\"l\" +\"m\" +\"n\" +\"o\" +\"p\" +\"q\"");
	/* Spaces and punctuation of every script separate words: a no-break
	 * space, an em dash, curly quotes, an ideographic space. */
	CHECK_STR(chat_search_query(&a, "hello\xC2\xA0world", 2), "+\"hello\" +\"world\"");
	CHECK_STR(chat_search_query(&a, "hello\xE2\x80\x94world", 2), "+\"hello\" +\"world\"");
	CHECK_STR(chat_search_query(&a, "\xE2\x80\x9Cquoted\xE2\x80\x9D\xE3\x80\x80text", 2),
		"+\"quoted\" +\"text\"");
	/* Letters with combining marks stay one word. */
	CHECK_STR(chat_search_query(&a, "cafe\xCC\x81 ok", 2), "+\"cafe\xCC\x81\" +\"ok\"");
	CHECK_STR(chat_search_query(&a, "x'); DROP TABLE messages; --", 3),
		"+\"DROP\" +\"TABLE\" +\"messages\"");
	CHECK_STR(chat_search_query(&a, "caf\xC3\xA9 \xC3\xA9t\xC3\xA9", 3),
		"+\"caf\xC3\xA9\" +\"\xC3\xA9t\xC3\xA9\"");
	CHECK_STR(chat_search_query(&a, "snake_case", 2), "+\"snake_case\"");
	CHECK(chat_search_query(&a, "+-*\"()~<>@", 1) == NULL);
	CHECK(chat_search_query(&a, "a b c", 2) == NULL);
	CHECK(chat_search_query(&a, "", 1) == NULL);
	/* However many words: every one is required (none dropped). */
	const char *many = chat_search_query(&a, "aa bb cc dd ee ff gg hh ii jj kk ll mm nn oo pp qq rr", 2);
	CHECK(many != NULL && strstr(many, "pp") != NULL && strstr(many, "+\"rr\"") != NULL);
	{
		/* The longest query there is: 128 one-letter words in 256 bytes. */
		char q[257];
		for (int i = 0; i < 128; i++) {
			q[2 * i] = 'x';
			q[2 * i + 1] = ' ';
		}
		q[256] = '\0';
		const char *all = chat_search_query(&a, q, 1);
		CHECK(all != NULL && strlen(all) == 128 * 4 + 127);
	}

	/* Reactions group by emoji whatever their order. */
	struct msg_reaction rs[] = {{"\xF0\x9F\x91\x8D", 7}, {"\xE2\x9D\xA4", 8},
		{"\xF0\x9F\x91\x8D", 9}};
	struct msg m = {.id = 1, .conversation_id = 2, .seq = 3, .sender_id = 7, .client_id = "c",
		.kind = "text", .body = "hi", .created_at = "2026-12-04 17:14:23.123456",
		.reactions = rs, .nreactions = 3};
	json_object *j = chat_message_json(&a, &m);
	CHECK_STR(json_object_to_json_string_ext(json_object_object_get(j, "reactions"),
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
		"[{\"emoji\":\"\xF0\x9F\x91\x8D\",\"count\":2,\"user_ids\":[7,9]},"
		"{\"emoji\":\"\xE2\x9D\xA4\",\"count\":1,\"user_ids\":[8]}]");
	CHECK_STR(json_object_get_string(json_object_object_get(j, "created_at")),
		"2026-12-04T17:14:23.123Z");
	CHECK(json_object_object_get(j, "edited_at") == NULL);
	json_object_put(j);

	/* Receipts: sorted by conversation and reader, each pair once with its
	 * highest seq and the fewest failed writes of those merged (a receipt
	 * that came later is not dropped with an older one's tries). */
	struct receipt r[] = {{9, 2, 5, 0}, {3, 7, 1, 2}, {9, 2, 8, 2}, {3, 4, 2, 1}, {9, 2, 6, 1},
		{3, 7, 4, 2}};
	CHECK(receipts_collapse(r, 6) == 3);
	CHECK(r[0].conversation_id == 3 && r[0].user_id == 4 && r[0].seq == 2 && r[0].tries == 1);
	CHECK(r[1].conversation_id == 3 && r[1].user_id == 7 && r[1].seq == 4 && r[1].tries == 2);
	CHECK(r[2].conversation_id == 9 && r[2].user_id == 2 && r[2].seq == 8 && r[2].tries == 0);
	/* A failed write: each receipt has three writes of its own. The
	 * pair with two failures behind it goes, the others stay, in order. */
	CHECK(receipts_retry(r, 3) == 2);
	CHECK(r[0].user_id == 4 && r[0].tries == 2 && r[1].user_id == 2 && r[1].tries == 1);
	CHECK(receipts_retry(r, 2) == 1 && r[0].user_id == 2 && r[0].tries == 2);
	CHECK(receipts_retry(r, 1) == 0);
	CHECK(receipts_collapse(r, 0) == 0);
	CHECK(receipts_collapse(r, 1) == 1 && r[0].seq == 8);

	invalidation_failure(&a);
	arena_release(&a);
	return CHECK_DONE();
}
