#include "util/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define BLOCK_MIN 8192

struct arena_block {
	struct arena_block *next;
	size_t cap;
	size_t used;
	max_align_t data[];
};

void arena_init(struct arena *a)
{
	arena_init_block(a, BLOCK_MIN);
}

void arena_init_block(struct arena *a, size_t block)
{
	a->head = NULL;
	a->used_total = 0;
	a->block = block < 256 ? 256 : block;
}

static void free_chain(struct arena_block *b)
{
	while (b != NULL) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
}

void arena_reset(struct arena *a)
{
	struct arena_block *b = a->head;
	if (b == NULL)
		return;
	/* Keep the oldest block (the last in the chain) when it is the default
	 * size, so steady-state requests allocate nothing. */
	while (b->next != NULL) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	if (b->cap > a->block) {
		free(b);
		a->head = NULL;
	} else {
		b->used = 0;
		a->head = b;
	}
	a->used_total = 0;
}

void arena_release(struct arena *a)
{
	free_chain(a->head);
	a->head = NULL;
	a->used_total = 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
	const size_t align = sizeof(max_align_t);
	/* A size no block could hold (a count gone wrong) would wrap below. */
	if (n > SIZE_MAX / 2)
		xalloc_fail(n);
	n = (n + align - 1) & ~(align - 1);
	if (n == 0)
		n = align;
	struct arena_block *b = a->head;
	if (b == NULL || b->cap - b->used < n) {
		/* Each new block at least doubles what the arena holds, so a
		 * small first block costs few extra blocks in a big request. */
		size_t cap = a->used_total > a->block ? a->used_total : a->block;
		if (n > cap)
			cap = n;
		b = xmalloc(sizeof(*b) + cap);
		b->cap = cap;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	a->used_total += n;
	return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
	void *p = arena_alloc(a, n);
	memset(p, 0, n);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return arena_strdup(a, "");
	char *p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
