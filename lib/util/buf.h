/*
 * Growable byte buffer with a hard cap. Appends past the cap fail (-1) and
 * leave the buffer unchanged; the contents stay NUL-terminated.
 */
#ifndef UTIL_BUF_H
#define UTIL_BUF_H
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
