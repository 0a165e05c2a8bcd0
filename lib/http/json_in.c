/* Validation of JSON request members; each failure answers 400 itself. */
#include "http/http.h"

#include <string.h>

#include "util/text.h"
#include "util/utf8.h"

int json_req_bad(struct req *req, const char *key, const char *what)
{
	return resp_bad_field(req, key, arena_printf(req->arena, "Field '%s' %s.", key, what));
}

/* Member key of o: 1 with *v set, 0 when absent or null, -1 (400 answered)
 * when absent and required. Clears *present (may be NULL). */
static int member(struct req *req, json_object *o, const char *key, int required,
	int *present, json_object **v)
{
	if (present != NULL)
		*present = 0;
	if (json_object_object_get_ex(o, key, v) && *v != NULL)
		return 1;
	return required ? json_req_bad(req, key, "is required") : 0;
}

int json_req_only(struct req *req, json_object *o, const char *const *allowed)
{
	json_object_object_foreach(o, k, v) {
		(void)v;
		int ok = 0;
		for (const char *const *a = allowed; *a != NULL; a++)
			if (strcmp(*a, k) == 0)
				ok = 1;
		if (!ok)
			return json_req_bad(req, k, "is not a known field");
	}
	return 0;
}

int json_req_str(struct req *req, json_object *o, const char *key, int required,
	size_t min, size_t max, const char **out)
{
	*out = NULL;
	json_object *v;
	int rc = member(req, o, key, required, NULL, &v);
	if (rc <= 0)
		return rc;
	if (!json_object_is_type(v, json_type_string))
		return json_req_bad(req, key, "must be a string");
	int len = json_object_get_string_len(v);
	const char *s = json_object_get_string(v);
	if (strlen(s) != (size_t)len)
		return json_req_bad(req, key, "must not contain NUL characters");
	if ((size_t)len > max)
		return json_req_bad(req, key, arena_printf(req->arena, "is longer than %zu bytes", max));
	if ((size_t)len < min)
		return json_req_bad(req, key, min == 1 ? "must not be empty" :
			arena_printf(req->arena, "is shorter than %zu bytes", min));
	*out = arena_strndup(req->arena, s, (size_t)len);
	return 0;
}

int json_req_int(struct req *req, json_object *o, const char *key, int required,
	int64_t min, int64_t max, int64_t *out, int *present)
{
	json_object *v;
	int rc = member(req, o, key, required, present, &v);
	if (rc <= 0)
		return rc;
	if (!json_object_is_type(v, json_type_int))
		return json_req_bad(req, key, "must be an integer");
	int64_t n = json_object_get_int64(v);
	if (n < min || n > max)
		return json_req_bad(req, key, "is out of range");
	*out = n;
	if (present != NULL)
		*present = 1;
	return 0;
}

int json_req_bool(struct req *req, json_object *o, const char *key, int required,
	int *out, int *present)
{
	json_object *v;
	/* No boolean of the API is nullable: null is no way to leave it out. */
	if (json_object_object_get_ex(o, key, &v) && v == NULL)
		return json_req_bad(req, key, "must be true or false");
	int rc = member(req, o, key, required, present, &v);
	if (rc <= 0)
		return rc;
	if (!json_object_is_type(v, json_type_boolean))
		return json_req_bad(req, key, "must be true or false");
	*out = json_object_get_boolean(v);
	if (present != NULL)
		*present = 1;
	return 0;
}

int json_req_text(struct req *req, const char *key, const char *s, size_t max_chars,
	int allow_newlines, int allow_blank)
{
	if (utf8_chars(s) > max_chars)
		return json_req_bad(req, key,
			arena_printf(req->arena, "is longer than %zu characters", max_chars));
	enum text_flaw flaw = text_flaw(s, allow_newlines);
	if (flaw == TEXT_CONTROL)
		return json_req_bad(req, key, "contains control characters");
	if (flaw == TEXT_BLANK && !allow_blank)
		return json_req_bad(req, key, "must not be blank");
	return 0;
}
