#include "util/text.h"

#include <string.h>
#include <unictype.h>
#include <unistr.h>

enum text_flaw text_flaw(const char *s, int allow_newlines)
{
	const uint8_t *p = (const uint8_t *)s, *end = p + strlen(s);
	int blank = 1;
	while (p < end) {
		ucs4_t c;
		int len = u8_mbtouc(&c, p, (size_t)(end - p));
		if (len <= 0)
			return TEXT_CONTROL;
		p += len;
		if (uc_is_general_category(c, UC_CATEGORY_Cc) &&
		    !(allow_newlines && (c == '\n' || c == '\r' || c == '\t')))
			return TEXT_CONTROL;
		/* A one-line label (a name, a title) shown among other text
		 * takes no direction embeddings, overrides or isolates: "Ann
		 * \u202Egnp.exe" shows as "Ann exe.png". The marks (LRM, RLM,
		 * ALM) stay. Longer texts keep them, for mixed scripts. */
		if (!allow_newlines &&
		    ((c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069)))
			return TEXT_CONTROL;
		/* What shows nothing is blank too: white space, and what is
		 * ignored when drawn (zero-width spaces and joiners, soft
		 * hyphens, Hangul fillers, variation selectors, direction
		 * marks). */
		if (!uc_is_property_white_space(c) &&
		    !uc_is_property_default_ignorable_code_point(c))
			blank = 0;
	}
	return blank ? TEXT_BLANK : TEXT_OK;
}
