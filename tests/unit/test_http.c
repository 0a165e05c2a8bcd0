/* Unit tests for lib/http: routing, URL decoding, time format. */
#include "check.h"
#include "http/server.c"

int main(void)
{
	struct arena a;
	arena_init(&a);
	struct req r;
	memset(&r, 0, sizeof(r));
	r.arena = &a;

	CHECK_EQ(match(&r, "/conversations/{}/messages", "/conversations/12/messages"), 1);
	CHECK_EQ(r.nparams, 1);
	CHECK_STR(r.params[0], "12");
	r.nparams = 0;
	CHECK_EQ(match(&r, "/conversations/{}/messages", "/conversations/12/messages/"), 0);
	r.nparams = 0;
	CHECK_EQ(match(&r, "/conversations/{}", "/conversations/"), 0);
	r.nparams = 0;
	CHECK_EQ(match(&r, "/me", "/me"), 1);
	CHECK_EQ(match(&r, "/me", "/mee"), 0);
	r.nparams = 0;
	CHECK_EQ(match(&r, "/a/{}/b/{}", "/a/x%20y/b/%F0%9F%91%8D"), 1);
	CHECK_STR(r.params[0], "x y");
	CHECK_STR(r.params[1], "\xF0\x9F\x91\x8D");
	r.nparams = 0;
	/* A NUL byte or a broken escape never matches. */
	CHECK_EQ(match(&r, "/a/{}", "/a/%00"), 0);
	r.nparams = 0;
	CHECK_EQ(match(&r, "/a/{}", "/a/%4"), 0);

	CHECK(url_decode(&a, "%zz", 3, 1) == NULL);
	CHECK_STR(url_decode(&a, "a+b%2B", 6, 1), "a b+");
	/* In a path, '+' is itself. */
	CHECK_STR(url_decode(&a, "a+b%2B", 6, 0), "a+b+");
	CHECK_STR(http_time(&a, "2026-12-04 17:14:23.123456"), "2026-12-04T17:14:23.123Z");
	CHECK_STR(http_time(&a, "2026-12-04 17:14:23"), "2026-12-04T17:14:23.000Z");

	CHECK_EQ(content_type_is_json("application/json"), 1);
	CHECK_EQ(content_type_is_json("application/json; charset=utf-8"), 1);
	CHECK_EQ(content_type_is_json("application/jsonx"), 0);
	CHECK_EQ(content_type_is_json("text/plain"), 0);

	/* Rate limits count an IPv6 client by its /64. */
	{
		static const char *const cases[][2] = {
			{"203.0.113.7", "203.0.113.7"},
			{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
			{"2001:DB8:1:2::1", "2001:db8:1:2::/64"},
			{"::1", "::/64"},
			{"::ffff:198.51.100.1", "198.51.100.1"},
			{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff::/64"},
			{"", ""},
			{"not:an:address", "not:an:address"},
		};
		char net[64];
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			http_addr_net(cases[i][0], net, sizeof(net));
			CHECK_STR(net, cases[i][1]);
		}
	}
	arena_release(&a);
	return CHECK_DONE();
}
