/*
 * What a name or a message must not hold, by Unicode's classes (through
 * libunistring): control characters (general category Cc: C0, DEL and
 * C1), and nothing to see: white space only (the White_Space property:
 * spaces, no-break spaces, ideographic space, line and paragraph
 * separators...), or with what is not drawn (Default_Ignorable_Code_Point:
 * zero-width space and joiners, soft hyphen, Hangul fillers, variation
 * selectors, direction marks).
 */
#ifndef UTIL_TEXT_H
#define UTIL_TEXT_H

enum text_flaw {
	TEXT_OK = 0,
	TEXT_CONTROL,	/* a control character (newline, carriage return and tab
			 * allowed when asked); where they are not, a direction
			 * embedding, override or isolate (U+202A-202E,
			 * U+2066-2069) too */
	TEXT_BLANK,	/* nothing drawn: white space, invisible characters, or
			 * nothing */
};

/* The first flaw of s (well-formed UTF-8, NUL-terminated): TEXT_CONTROL
 * before TEXT_BLANK. */
enum text_flaw text_flaw(const char *s, int allow_newlines);

#endif
