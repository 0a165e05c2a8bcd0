/*
 * floor_fcgi: the trivial FastCGI responder behind floor A. It answers every
 * request with 200 and a JSON body of the size asked for in the query string
 * ("size=N", default 64, at most 1 MiB), with the same accept loop shape as
 * api.fcgi (threads taking turns in FCGX_Accept_r under a mutex; 32, as
 * many as the benchmark's clients keep busy in api.fcgi), so that lighttpd +
 * mod_fastcgi + fcgi2 are measured and nothing else. It ends a request as
 * api.fcgi does (lib/http/server.c, conn_settle): its input read to the
 * end, then closed at once, without fcgi2's lingering close.
 */
#include <pthread.h>
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

#define THREADS 32

static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;

static void *serve(void *arg)
{
	(void)arg;
	FCGX_Request r;
	if (FCGX_InitRequest(&r, 0, 0) != 0)
		return NULL;
	for (;;) {
		pthread_mutex_lock(&accept_lock);
		int rc = FCGX_Accept_r(&r);
		pthread_mutex_unlock(&accept_lock);
		if (rc < 0)
			break;
		long n = wanted_size(FCGX_GetParam("QUERY_STRING", r.envp));
		char head[160];
		int hn = snprintf(head, sizeof(head),
			"Status: 200 OK\r\nContent-Type: application/json\r\n"
			"Content-Length: %ld\r\n\r\n", n);
		FCGX_PutStr(head, hn, r.out);
		FCGX_PutStr("\"", 1, r.out);
		FCGX_PutStr(body, (int)n - 2, r.out);
		FCGX_PutStr("\"", 1, r.out);
		/* As conn_settle: the answer out, the input to its end, then
		 * closed at once (its requests are GETs: no body to wait for). */
		FCGX_FClose(r.err);
		FCGX_FClose(r.out);
		char sink[4096];
		while (FCGX_GetStr(sink, (int)sizeof(sink), r.in) > 0)
			;
		if (FCGX_HasSeenEOF(r.in) == EOF && FCGX_GetError(r.in) == 0)
			FCGX_Detach(&r);
		FCGX_Finish_r(&r);
	}
	FCGX_Free(&r, 0);
	return NULL;
}

int main(void)
{
	if (FCGX_Init() != 0)
		return 1;
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* A JSON string of the requested length: "xxxx...". */
	memset(body, 'x', sizeof(body));
	pthread_t t[THREADS];
	int started = 0;
	for (int i = 1; i < THREADS; i++)
		started += pthread_create(&t[i], NULL, serve, NULL) == 0;
	if (started < THREADS - 1)
		return 1;
	serve(NULL);
	return 0;
}
