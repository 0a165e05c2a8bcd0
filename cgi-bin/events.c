/*
 * events.fcgi: long-poll and Server-Sent Events. A waiting request is held
 * in the parking lot without a thread (lib/wake/lot); a few resume threads
 * continue requests when their user's doorbell rings or a timer is due, and
 * accept threads are created on demand with small stacks.
 */
#include <malloc.h>

#include "app/app.h"
#include "auth/auth.h"
#include "chat/chat.h"
#include "events/feed.h"
#include "events/presence.h"
#include "http/http.h"
#include "ops/ops.h"
#include "util/config.h"
#include "wake/doorbell.h"

static const struct route routes[] = {
	{"GET", "/health", ops_health, 0, NULL},
	{"GET", "/events/health", ops_events_health, 0, NULL},
	{"GET", "/events", feed_poll, ROUTE_AUTH, NULL},
	/* Authenticates itself: a single-use ticket or the Authorization header. */
	{"GET", "/events/stream", feed_stream, 0, NULL},
	{"POST", "/events/ticket", feed_ticket, ROUTE_AUTH, NULL},
};

int main(void)
{
	/* fcgi2 gives every request two 8 KiB stream buffers. Mapped on their
	 * own they cost only the pages written (a waiter writes a few hundred
	 * bytes) and go back to the kernel when the request ends, instead of
	 * sitting fully resident in the heap of whichever thread used them. */
	mallopt(M_MMAP_THRESHOLD, 8 * 1024);
	if (app_global_init("events", 64) < 0 || auth_init() < 0)
		return 1;
	db_pool_init((int)config_int_range("events_db_connections", 8, 1, 500));
	doorbell_watch_start();
	/* Without its writer no delivered receipt would be written; a CGI
	 * process writes its own at once. */
	if (!server_is_cgi() && receipts_start() < 0)
		return 1;
	/* Connected users' last_seen_at, written together; a CGI process
	 * ends with its one request, so it writes its own at once. */
	if (!server_is_cgi() && presence_seen_start() < 0)
		return 1;
	/* Static: threads may still read it while the process exits. */
	static struct server_opts o;
	o = (struct server_opts){
		.name = "events",
		.routes = routes,
		.nroutes = sizeof(routes) / sizeof(routes[0]),
		.authenticate = auth_authenticate,
		.thread_init = app_thread_init_pooled,
		.thread_free = app_thread_free,
		.after = app_after,
		.unavailable = app_unavailable,
		.threaded = 1,
		.max_threads = (int)config_int_range("events_max_threads", 256, 1, 10000),
		.resume_threads = (int)config_int_range("events_resume_threads", 8, 1, 256),
		.parks = 1,
		.stack_size = 64 * 1024,
		.max_body = 16 * 1024,
		/* Eight threads write every woken request's answer: a client
		 * that stops reading must not hold one (lighttpd would wait
		 * for it for minutes). A write blocks only once the socket and
		 * lighttpd's buffer for that client are full (a few hundred
		 * KB behind), so the wait is short: eight readers stalled at
		 * once held every wake-up of the process for 2 s before. A
		 * stream ended so is taken up again by its client from its
		 * cursor, nothing lost. */
		.write_timeout_ms = (int)config_int_range("events_write_timeout_ms", 250, 0, 600000),
	};
	return server_run(&o);
}
