/* Allocation wrappers that abort on out-of-memory, so callers never check. */
#ifndef UTIL_XALLOC_H
#define UTIL_XALLOC_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* What they do when an allocation of n bytes fails: tells, and aborts. */
_Noreturn void xalloc_fail(size_t n);

#endif
