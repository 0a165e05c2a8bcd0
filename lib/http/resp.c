/* Responses: JSON, problem+json (RFC 9457) and streamed bodies. */
#include "http/http.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

void resp_header(struct req *req, const char *name, const char *value)
{
	req->extra_headers = arena_printf(req->arena, "%s%s: %s\r\n",
		req->extra_headers ? req->extra_headers : "", name, value);
}

static int out(struct req *req, const char *p, size_t n)
{
	if (req->client_gone)
		return -1;
	while (n > 0) {
		int chunk = n > (1 << 20) ? (1 << 20) : (int)n;
		if (req->io->write(req->io->ctx, p, chunk) < 0) {
			req->client_gone = 1;
			return -1;
		}
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

static int send_head(struct req *req, int status, const char *ctype, long long clen)
{
	if (req->headers_sent) {
		log_error("response headers sent twice (status %d)", status);
		return -1;
	}
	req->headers_sent = 1;
	req->status = status;
	char head[512];
	int n = snprintf(head, sizeof(head),
		"Status: %d %s\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n"
		"X-Content-Type-Options: nosniff\r\n",
		status, reason(status), req->request_id);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	if (ctype != NULL) {
		int m = snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: %s\r\n", ctype);
		if (m < 0 || (size_t)m >= sizeof(head) - (size_t)n)
			return -1;
		n += m;
	}
	if (clen >= 0) {
		int m = snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %lld\r\n", clen);
		if (m < 0 || (size_t)m >= sizeof(head) - (size_t)n)
			return -1;
		n += m;
	}
	if (out(req, head, (size_t)n) < 0)
		return -1;
	if (req->extra_headers != NULL && out(req, req->extra_headers, strlen(req->extra_headers)) < 0)
		return -1;
	return out(req, "\r\n", 2);
}

void resp_json(struct req *req, int status, json_object *body)
{
	if (body == NULL) {
		send_head(req, status, NULL, status == 204 ? -1 : 0);
		return;
	}
	size_t len;
	const char *s = json_object_to_json_string_length(body,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (send_head(req, status, "application/json", (long long)len) == 0)
		out(req, s, len);
	json_object_put(body);
}

void resp_json_text(struct req *req, int status, const char *text, size_t len)
{
	if (send_head(req, status, "application/json", (long long)len) == 0)
		out(req, text, len);
}

static int (*unavailable)(struct req *req);

void resp_set_unavailable(int (*fn)(struct req *req))
{
	unavailable = fn;
}

void resp_unavailable(struct req *req)
{
	resp_problem_ext(req, 503, "database_unavailable",
		"The database is not reachable; try again shortly.", NULL);
}

int resp_bad_field(struct req *req, const char *field, const char *detail)
{
	json_object *extra = json_object_new_object();
	json_object_object_add(extra, "field", json_object_new_string(field));
	resp_problem_ext(req, 400, "invalid_field", detail, extra);
	return -1;
}

void resp_problem_ext(struct req *req, int status, const char *code, const char *detail,
	json_object *extra)
{
	if (status == 500 && unavailable != NULL && unavailable(req)) {
		if (extra != NULL)
			json_object_put(extra);
		resp_unavailable(req);
		return;
	}
	json_object *p = json_object_new_object();
	json_object_object_add(p, "type",
		json_object_new_string(arena_printf(req->arena, "/docs/errors#%s", code)));
	json_object_object_add(p, "title", json_object_new_string(reason(status)));
	json_object_object_add(p, "status", json_object_new_int(status));
	json_object_object_add(p, "code", json_object_new_string(code));
	if (detail != NULL)
		json_object_object_add(p, "detail", json_object_new_string(detail));
	json_object_object_add(p, "request_id", json_object_new_string(req->request_id));
	if (extra != NULL) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(p, k, json_object_get(v));
		json_object_put(extra);
	}
	size_t len;
	const char *s = json_object_to_json_string_length(p,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (send_head(req, status, "application/problem+json", (long long)len) == 0)
		out(req, s, len);
	json_object_put(p);
	if (status >= 500)
		log_error("%s %s -> %d %s", req->method, req->path, status, code);
}

void resp_problem(struct req *req, int status, const char *code, const char *detail)
{
	resp_problem_ext(req, status, code, detail, NULL);
}

int resp_start(struct req *req, int status, const char *content_type)
{
	return send_head(req, status, content_type, -1);
}

int resp_write(struct req *req, const char *data, size_t n)
{
	return out(req, data, n);
}

int resp_flush(struct req *req)
{
	if (req->client_gone)
		return -1;
	if (req->io->flush(req->io->ctx) < 0) {
		req->client_gone = 1;
		return -1;
	}
	return 0;
}
