/* Unit tests for lib/util: arena, capped buffer. */
#include "check.h"
#include "util/arena.h"
#include "util/buf.h"

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
	return CHECK_DONE();
}
