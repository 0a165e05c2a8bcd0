/* Request helpers: headers, query parameters, body, path parameters. */
#include "http/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <fcgiapp.h>

#include "util/utf8.h"

void http_addr_net(const char *addr, char *out, size_t n)
{
	unsigned char a6[16];
	if (strchr(addr, ':') != NULL && inet_pton(AF_INET6, addr, a6) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a6, mapped, sizeof(mapped)) == 0 &&
		    inet_ntop(AF_INET, a6 + 12, out, (socklen_t)n) != NULL)
			return;
		memset(a6 + 8, 0, 8);
		char net[INET6_ADDRSTRLEN];
		if (inet_ntop(AF_INET6, a6, net, sizeof(net)) != NULL) {
			snprintf(out, n, "%s/64", net);
			return;
		}
	}
	snprintf(out, n, "%s", addr);
}

const char *req_env(struct req *req, const char *name)
{
	return FCGX_GetParam(name, req->io->env);
}

const char *req_header(struct req *req, const char *name)
{
	char key[96] = "HTTP_";
	size_t n = strlen(name);
	if (n + 6 > sizeof(key))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		key[5 + i] = c == '-' ? '_' : (char)toupper((unsigned char)c);
	}
	key[5 + n] = '\0';
	/* CGI passes these two without the HTTP_ prefix (RFC 3875 4.1). */
	if (strcmp(key, "HTTP_CONTENT_TYPE") == 0 || strcmp(key, "HTTP_CONTENT_LENGTH") == 0)
		return req_env(req, key + 5);
	return req_env(req, key);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *url_decode(struct arena *a, const char *s, size_t n, int form)
{
	char *out = arena_alloc(a, n + 1);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return NULL;
			int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0)
				return NULL;
			c = (char)(h * 16 + l);
			if (c == '\0')
				return NULL;
			i += 2;
		} else if (c == '+' && form) {
			c = ' ';
		}
		out[j++] = c;
	}
	out[j] = '\0';
	return out;
}

/* A query value: percent-decoded, and text (UTF-8). Path parameters are
 * decoded without the UTF-8 check: each handler judges its own (an emoji
 * that is not UTF-8 is an invalid emoji, not an unknown resource). */
static char *query_decode(struct arena *a, const char *s, size_t n)
{
	char *out = url_decode(a, s, n, 1);
	return out != NULL && utf8_valid(out, strlen(out)) ? out : NULL;
}

int req_query_ok(struct req *req)
{
	const char *p = req->query;
	while (p != NULL && *p != '\0') {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (query_decode(req->arena, p, len) == NULL)
			return 0;
		p = amp ? amp + 1 : NULL;
	}
	return 1;
}

const char *req_query(struct req *req, const char *name)
{
	size_t nl = strlen(name);
	const char *p = req->query;
	while (p != NULL && *p != '\0') {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		if (klen == nl && memcmp(p, name, nl) == 0) {
			if (eq == NULL)
				return "";
			return query_decode(req->arena, eq + 1, len - klen - 1);
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

int req_read_body(struct req *req, size_t max)
{
	const char *cl = req_env(req, "CONTENT_LENGTH");
	size_t want = 0;
	if (cl != NULL && *cl != '\0') {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		/* Digits only: strtoull would take a sign or spaces (-1 wraps). */
		if (!isdigit((unsigned char)*cl) || errno != 0 || *end != '\0') {
			resp_problem(req, 400, "bad_request", "Content-Length is not a number.");
			return -1;
		}
		if (v > max) {
			/* Read (and drop) a moderately sized body before answering,
			 * so the client sees the 413 instead of a reset connection.
			 * lighttpd's server.max-request-size bounds what arrives. */
			char sink[4096];
			unsigned long long left = v;
			while (left > 0) {
				int n = req->io->read(req->io->ctx, sink,
					left > sizeof(sink) ? (int)sizeof(sink) : (int)left);
				if (n <= 0)
					break;
				left -= (unsigned long long)n;
			}
			resp_problem(req, 413, "body_too_large", "The request body is too large.");
			return -1;
		}
		want = (size_t)v;
	}
	char *body = arena_alloc(req->arena, want + 1);
	size_t got = 0;
	while (got < want) {
		int n = req->io->read(req->io->ctx, body + got, (int)(want - got));
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < want) {
		resp_problem(req, 400, "bad_request", "The request body ended early.");
		return -1;
	}
	body[got] = '\0';
	req->body = body;
	req->body_len = got;
	return 0;
}

int http_parse_uint(const char *s, int64_t min, int64_t max, int64_t *out)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 18)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int req_param_id(struct req *req, int i, int64_t *out)
{
	const char *s = i < req->nparams ? req->params[i] : NULL;
	if (s != NULL && *s >= '1' && *s <= '9' && strlen(s) <= 18) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (*end == '\0' && v > 0) {
			*out = v;
			return 1;
		}
	}
	resp_problem(req, 404, "not_found", "No such resource.");
	return 0;
}

const char *http_time(struct arena *a, const char *dt)
{
	/* "2026-12-04 17:14:23.123456" -> "2026-12-04T17:14:23.123Z" */
	if (dt == NULL)
		return NULL;
	size_t n = strlen(dt);
	if (n > 23)
		n = 23;
	char *s = arena_alloc(a, 25);
	memcpy(s, dt, n);
	if (n == 19) {
		memcpy(s + 19, ".000", 4);
		n = 23;
	}
	s[n] = 'Z';
	s[n + 1] = '\0';
	if (n > 10 && s[10] == ' ')
		s[10] = 'T';
	return s;
}
