/*
 * UTF-8 as MariaDB's utf8mb4 takes it (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF. Text that passes here is stored as
 * sent; text that does not is refused at the door with a 400 instead of
 * failing in the database with a 500.
 */
#ifndef UTIL_UTF8_H
#define UTIL_UTF8_H

#include <stddef.h>

/* 1 when the n bytes at s are well-formed UTF-8 (NUL bytes included). */
int utf8_valid(const char *s, size_t n);

/* Code points in the NUL-terminated s (well-formed UTF-8). */
size_t utf8_chars(const char *s);

#endif
