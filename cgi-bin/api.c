/*
 * api.fcgi: the REST API. A main loop and a route table, nothing else.
 * Runs under lighttpd's mod_fastcgi, or once as plain CGI.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "auth/auth.h"
#include "chat/chat.h"
#include "events/presence.h"
#include "http/http.h"
#include "ops/ops.h"
#include "util/config.h"

static const struct route routes[] = {
	/* ops */
	{"GET", "/health", ops_health, 0, NULL},
	/* auth and accounts */
	{"POST", "/auth/register", auth_register, ROUTE_JSON, NULL},
	{"POST", "/auth/login", auth_login, ROUTE_JSON, NULL},
	{"POST", "/auth/refresh", auth_refresh, ROUTE_JSON, NULL},
	/* The access token, or the refresh cookie: authenticates itself. */
	{"POST", "/auth/logout", auth_logout, 0, NULL},
	{"GET", "/me", auth_me_get, ROUTE_AUTH, NULL},
	{"PATCH", "/me", auth_me_patch, ROUTE_AUTH | ROUTE_JSON, NULL},
	{"DELETE", "/me", auth_me_delete, ROUTE_AUTH | ROUTE_JSON, NULL},
	{"GET", "/users", auth_users_search, ROUTE_AUTH, NULL},
	{"GET", "/users/{}", auth_user_get, ROUTE_AUTH, NULL},
	{"GET", "/me/blocks", block_list, ROUTE_AUTH, NULL},
	{"PUT", "/me/blocks/{}", block_add, ROUTE_AUTH, NULL},
	{"DELETE", "/me/blocks/{}", block_remove, ROUTE_AUTH, NULL},
	{"GET", "/sessions", auth_sessions_list, ROUTE_AUTH, NULL},
	{"DELETE", "/sessions/{}", auth_session_delete, ROUTE_AUTH, NULL},
	/* presence: see lib/events/presence.c */
	{"GET", "/users/{}/presence", presence_get, ROUTE_AUTH, NULL},
	/* conversations and messages: see lib/chat */
	{"POST", "/conversations", conv_create, ROUTE_AUTH | ROUTE_JSON, NULL},
	{"GET", "/conversations", conv_list, ROUTE_AUTH, NULL},
	{"GET", "/conversations/{}", conv_get, ROUTE_AUTH, NULL},
	{"PATCH", "/conversations/{}", conv_patch, ROUTE_AUTH | ROUTE_JSON, NULL},
	{"POST", "/conversations/{}/members", conv_members_add, ROUTE_AUTH | ROUTE_JSON, NULL},
	{"DELETE", "/conversations/{}/members/{}", conv_member_remove, ROUTE_AUTH, NULL},
	{"PATCH", "/conversations/{}/members/{}", conv_member_patch, ROUTE_AUTH | ROUTE_JSON, NULL},
	{"POST", "/conversations/{}/messages", msg_send, ROUTE_AUTH | ROUTE_JSON, NULL},
	{"GET", "/conversations/{}/messages", msg_history, ROUTE_AUTH, msg_history_prefetch},
	{"GET", "/conversations/{}/messages/{}", msg_get, ROUTE_AUTH, NULL},
	{"PATCH", "/conversations/{}/messages/{}", msg_edit, ROUTE_AUTH | ROUTE_JSON, NULL},
	{"DELETE", "/conversations/{}/messages/{}", msg_delete, ROUTE_AUTH, NULL},
	{"PUT", "/conversations/{}/messages/{}/reactions/{}", msg_react, ROUTE_AUTH, NULL},
	{"DELETE", "/conversations/{}/messages/{}/reactions/{}", msg_unreact, ROUTE_AUTH, NULL},
	{"POST", "/conversations/{}/read", msg_read, ROUTE_AUTH | ROUTE_JSON, NULL},
	{"POST", "/conversations/{}/typing", msg_typing, ROUTE_AUTH | ROUTE_JSON, NULL},
	{"GET", "/search", search_messages, ROUTE_AUTH, NULL},
};

int main(void)
{
	/* Threads for requests; sends arriving together share one commit and
	 * wait for it without a thread (lib/chat/sendq.c). Connections come
	 * from a pool, a thread holds one only while it uses the database. */
	int threads = (int)config_int_range("api_max_threads", 64, 1, 10000);
	int resumers = (int)config_int_range("api_resume_threads", 4, 1, 256);
	/* One memcached connection for every thread that may use one: the
	 * request threads, the resume threads and sendq's two writers. */
	if (app_global_init("api", threads + resumers + 2) < 0 || auth_init() < 0)
		return 1;
	db_pool_init((int)config_int_range("api_db_connections", 16, 1, 500));
	/* Static: threads may still read it while the process exits. */
	static struct server_opts o;
	o = (struct server_opts){
		.name = "api",
		.routes = routes,
		.nroutes = sizeof(routes) / sizeof(routes[0]),
		.authenticate = auth_authenticate,
		.thread_init = app_thread_init_pooled,
		.thread_free = app_thread_free,
		.after = app_after,
		.unavailable = app_unavailable,
		.threaded = 1,
		.max_threads = threads,
		.idle_threads = 32,
		/* A send waits for its batch's commit without a thread; these
		 * answer it after (lib/chat/sendq.c). */
		.resume_threads = resumers,
		.stack_size = 256 * 1024,
		/* Most answers fit in one block, kept from request to request. */
		.arena_block = 16 * 1024,
		.max_body = 64 * 1024,
	};
	return server_run(&o);
}
