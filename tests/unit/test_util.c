/* Unit tests for lib/util: arena, capped buffer, recent keys, UTF-8, text flaws. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/recent.h"
#include "util/text.h"
#include "util/utf8.h"

static struct recent rec = RECENT_INIT;

int main(void)
{
	struct arena a;
	arena_init(&a);
	char *s = arena_strdup(&a, "hello");
	CHECK_STR(s, "hello");
	char *p = arena_printf(&a, "%d-%s", 42, "x");
	CHECK_STR(p, "42-x");
	/* A large allocation gets its own block and survives later small ones. */
	char *big = arena_alloc(&a, 100000);
	memset(big, 'z', 100000);
	char *after = arena_strdup(&a, "after");
	CHECK_EQ(big[99999], 'z');
	CHECK_STR(after, "after");
	arena_reset(&a);
	CHECK_EQ(a.used_total, 0);
	CHECK_STR(arena_strndup(&a, "abcdef", 3), "abc");
	/* A size that would wrap when rounded up (a count gone wrong) stops
	 * the process rather than hand out a small block. */
	fflush(NULL);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		char *bad = arena_alloc(&a, SIZE_MAX - 3);
		_exit(bad != NULL ? 0 : 1);
	}
	int status = 0;
	CHECK_EQ(waitpid(child, &status, 0), child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	arena_release(&a);

	struct buf b;
	buf_init(&b, 10);
	CHECK_EQ(buf_puts(&b, "12345"), 0);
	CHECK_EQ(buf_puts(&b, "67890"), 0);
	CHECK_EQ(b.len, 10);
	/* Past the cap: refused, contents unchanged. */
	CHECK_EQ(buf_puts(&b, "x"), -1);
	CHECK_STR(b.data, "1234567890");
	buf_reset(&b);
	CHECK_EQ(buf_printf(&b, "%s", "abc"), 0);
	CHECK_STR(b.data, "abc");
	CHECK_EQ(buf_printf(&b, "%s", "too long for it"), -1);
	CHECK_STR(b.data, "abc");
	buf_release(&b);

	/* Recent keys: a key is there for its time, only the whole key
	 * matches, and a time that ran out is as good as never put. */
	CHECK_EQ(recent_has(&rec, 7, 8, 9), 0);
	recent_put(&rec, 7, 8, 9, 60000);
	CHECK_EQ(recent_has(&rec, 7, 8, 9), 1);
	CHECK_EQ(recent_has(&rec, 7, 8, 10), 0);
	CHECK_EQ(recent_has(&rec, 8, 7, 9), 0);
	recent_put(&rec, 7, 8, 9, 0);
	CHECK_EQ(recent_has(&rec, 7, 8, 9), 0);
	/* Claims: the first wins until its time runs out or it is dropped;
	 * dropping with another claim's end changes nothing. */
	int64_t c1 = recent_claim(&rec, 1, 2, 0, 60000);
	CHECK(c1 > 0);
	CHECK_EQ(recent_claim(&rec, 1, 2, 0, 60000), 0);
	CHECK_EQ(recent_has(&rec, 1, 2, 0), 1);
	recent_drop(&rec, 1, 2, 0, c1 + 1);
	CHECK_EQ(recent_claim(&rec, 1, 2, 0, 60000), 0);
	recent_drop(&rec, 1, 2, 0, c1);
	CHECK_EQ(recent_has(&rec, 1, 2, 0), 0);
	int64_t c2 = recent_claim(&rec, 1, 2, 0, 0);
	CHECK(c2 > 0);
	CHECK(recent_claim(&rec, 1, 2, 0, 60000) > 0);
	/* UTF-8 as utf8mb4 stores it: every length at its edges passes;
	 * overlong forms, surrogates, code points past U+10FFFF, stray or
	 * missing continuation bytes and cut-off sequences do not. */
	{
		static const struct {
			const char *s;
			int ok;
		} cases[] = {
			{"", 1}, {"plain ascii", 1}, {"\xC2\x80", 1}, {"\xDF\xBF", 1},
			{"\xE0\xA0\x80", 1}, {"\xED\x9F\xBF", 1}, {"\xEE\x80\x80", 1},
			{"\xEF\xBF\xBF", 1}, {"\xF0\x90\x80\x80", 1}, {"\xF4\x8F\xBF\xBF", 1},
			{"Zo\xC3\xAB \xF0\x9F\x9A\x80 \xE6\x97\xA5", 1},
			{"\xC0\x80", 0}, {"\xC1\xBF", 0}, {"\xE0\x9F\xBF", 0}, {"\xF0\x8F\xBF\xBF", 0},
			{"\xED\xA0\x80", 0}, {"\xED\xBF\xBF", 0}, {"\xF4\x90\x80\x80", 0},
			{"\xF5\x80\x80\x80", 0}, {"\xFF", 0}, {"\x80", 0}, {"a\xBF" "b", 0},
			{"\xC3", 0}, {"\xE6\x97", 0}, {"\xF0\x9F\x9A", 0}, {"\xC3\x28", 0},
			{"\xE6\x97\x28", 0},
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			CHECK_EQ(utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].ok);
		/* A NUL byte is a character like any other here (callers refuse it). */
		CHECK_EQ(utf8_valid("a\0b", 3), 1);
		CHECK_EQ(utf8_chars(""), 0);
		CHECK_EQ(utf8_chars("abc"), 3);
		CHECK_EQ(utf8_chars("\xC3\xA9t\xC3\xA9"), 3);		/* été */
		CHECK_EQ(utf8_chars("\xF0\x9F\x98\x80\xF0\x9F\x98\x80"), 2);	/* two emoji */
	}
	/* Control characters (C0, DEL, C1) and white space by Unicode's
	 * classes, not only ASCII's. */
	{
		static const struct {
			const char *s;
			int newlines;
			enum text_flaw want;
		} cases[] = {
			{"hello", 0, TEXT_OK},
			{"\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80", 0, TEXT_OK},	/* été 😀 */
			{"", 0, TEXT_BLANK},
			{"   ", 0, TEXT_BLANK},
			{"\xC2\xA0", 0, TEXT_BLANK},			/* U+00A0 no-break space */
			{"\xE3\x80\x80", 0, TEXT_BLANK},		/* U+3000 ideographic space */
			{"\xE2\x80\xA8 \xE2\x80\x83", 0, TEXT_BLANK},	/* U+2028, U+2003 */
			{" \n\t", 1, TEXT_BLANK},
			{"a\nb", 0, TEXT_CONTROL},
			{"a\nb\r\n\tc", 1, TEXT_OK},
			{"a\x01", 1, TEXT_CONTROL},
			{"a\x7F", 0, TEXT_CONTROL},			/* DEL */
			{"x\xC2\x9B" "2J", 1, TEXT_CONTROL},		/* U+009B CSI */
			{"\xC2\x85", 1, TEXT_CONTROL},			/* U+0085 NEL: Cc first */
			{"\xE2\x80\x8B", 0, TEXT_BLANK},		/* U+200B zero-width space */
			{" \xE2\x80\x8D\xEF\xBB\xBF\xC2\xAD", 0, TEXT_BLANK},	/* ZWJ, BOM, soft hyphen */
			{"\xE3\x85\xA4\xE2\x80\x8F", 0, TEXT_BLANK},	/* U+3164 Hangul filler, RLM */
			{"\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9", 0, TEXT_OK},	/* man ZWJ woman */
			{"a\xE2\x80\x8B", 0, TEXT_OK},
			{"Ann \xE2\x80\xAEgnp.exe", 0, TEXT_CONTROL},	/* U+202E RLO */
			{"x\xE2\x81\xA7y", 0, TEXT_CONTROL},		/* U+2067 RLI */
			{"x\xE2\x81\xA7y\xE2\x81\xA9", 1, TEXT_OK},	/* RLI..PDI in a text */
			{"\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D\xE2\x80\x8F", 0, TEXT_OK},	/* shalom RLM */
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			CHECK_EQ(text_flaw(cases[i].s, cases[i].newlines), cases[i].want);
	}
	return CHECK_DONE();
}
