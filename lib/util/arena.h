/*
 * Request-lifetime memory. Everything allocated from an arena is released at
 * once by arena_reset() (keeps the first block for reuse) or arena_release().
 * Allocation aborts on out-of-memory, like xmalloc().
 */
#ifndef UTIL_ARENA_H
#define UTIL_ARENA_H
#include <stdarg.h>
#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head;
	size_t used_total;
	size_t block;	/* size of a normal block; the first one is kept by reset */
};

void arena_init(struct arena *a);
/* Like arena_init with a smaller or larger normal block (threads that hold
 * thousands of idle requests use a small one). */
void arena_init_block(struct arena *a, size_t block);
void arena_reset(struct arena *a);
void arena_release(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);
void *arena_zalloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
