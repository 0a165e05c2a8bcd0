/*
 * floor_fcgi: the trivial FastCGI responder behind floor A. It answers every
 * request with 200 and a JSON body of the size asked for in the query string
 * ("size=N", default 64, at most 1 MiB), with the same accept loop shape as
 * api.fcgi (one request at a time per process, FCGX_Accept_r), so that
 * lighttpd + mod_fastcgi + fcgi2 are measured and nothing else.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#define MAX_BODY (1 << 20)

static char body[MAX_BODY];

static long wanted_size(const char *qs)
{
	const char *p = qs ? strstr(qs, "size=") : NULL;
	long n = p ? strtol(p + 5, NULL, 10) : 64;
	if (n < 2)
		n = 2;
	if (n > MAX_BODY)
		n = MAX_BODY;
	return n;
}

int main(void)
{
	if (FCGX_Init() != 0)
		return 1;
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* A JSON string of the requested length: "xxxx...". */
	memset(body, 'x', sizeof(body));
	FCGX_Request r;
	if (FCGX_InitRequest(&r, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&r) >= 0) {
		long n = wanted_size(FCGX_GetParam("QUERY_STRING", r.envp));
		char head[160];
		int hn = snprintf(head, sizeof(head),
			"Status: 200 OK\r\nContent-Type: application/json\r\n"
			"Content-Length: %ld\r\n\r\n", n);
		FCGX_PutStr(head, hn, r.out);
		FCGX_PutStr("\"", 1, r.out);
		FCGX_PutStr(body, (int)n - 2, r.out);
		FCGX_PutStr("\"", 1, r.out);
		FCGX_Finish_r(&r);
	}
	FCGX_Free(&r, 0);
	return 0;
}
