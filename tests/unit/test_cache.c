/* Unit tests for lib/cache's server list: TCP and unix-socket entries, and
 * lists it must refuse. The socket case talks to a real memcached started
 * here on a private unix socket. */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "test_memcached.h"
#include "cache/cache.c"
#include "util/arena.h"
#include "util/config.h"

static int init_with(const char *list)
{
	setenv("MESSENGER_MEMCACHED", list, 1);
	if (config_load() < 0)
		return -2;
	return cache_init(2);
}

/* Stops the test's memcached; it was running (its pid file held a pid). */
static long stop_memcached(const char *sock, const char *pidf)
{
	long pid = test_memcached_stop(sock, pidf);
	CHECK(pid > 0);
	return pid;
}

int main(void)
{
	char dir[] = "/tmp/messenger-cache-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char sock[128], pidf[160];
	snprintf(sock, sizeof(sock), "%s/mc.sock", dir);
	snprintf(pidf, sizeof(pidf), "%s/mc.pid", dir);
	setenv("MESSENGER_CONF", "/dev/null", 1);

	/* Refused: nothing usable in the list, or a list too long to hold. */
	CHECK_EQ(init_with(""), -1);
	CHECK_EQ(init_with(" , "), -1);
	char big[1100];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(init_with(big), -1);
	CHECK(!cache_configured());

	/* A socket path longer than a socket address holds. */
	char longpath[160] = "/";
	memset(longpath + 1, 's', sizeof(longpath) - 2);
	longpath[sizeof(longpath) - 1] = '\0';
	CHECK_EQ(init_with(longpath), -1);

	/* Mixed list: both kinds become servers. */
	char list[256];
	snprintf(list, sizeof(list), "127.0.0.1:1, %s", sock);
	CHECK_EQ(init_with(list), 0);
	CHECK_EQ(memcached_server_count(master), 2);
	cache_shutdown();

	/* A unix socket with a memcached behind it: values go there and back. */
	CHECK_EQ(test_memcached_start(sock, pidf), 0);
	CHECK_EQ(init_with(sock), 0);
	CHECK_EQ(cache_set("m:test:1", "hello", 5, 60), 0);
	struct arena a;
	arena_init(&a);
	char *v = NULL;
	size_t n = 0;
	CHECK_EQ(cache_get("m:test:1", &a, &v, &n), 1);
	CHECK_EQ(n, 5);
	CHECK(v != NULL && memcmp(v, "hello", 5) == 0);

	/* Deleting many keys at once, some of them missing: all are gone
	 * afterwards, and the connection answers later calls with their own
	 * answers (a delete of a missing key still gets an answer from
	 * memcached, which must not be left for the next call to read). */
	for (int round = 0; round < 3; round++) {
		CHECK_EQ(cache_set("m:test:a", "1", 1, 60), 0);
		CHECK_EQ(cache_set("m:test:c", "3", 1, 60), 0);
		const char *dk[] = {"m:test:a", "m:test:b", "m:test:c", "m:test:d"};
		CHECK_EQ(cache_del_many(dk, 4), 0);
		CHECK_EQ(cache_get("m:test:a", &a, &v, &n), 0);
		CHECK_EQ(cache_get("m:test:c", &a, &v, &n), 0);
		CHECK_EQ(cache_set("m:test:e", "five", 4, 60), 0);
		CHECK_EQ(cache_set("m:test:f", "six", 3, 60), 0);
		for (int i = 0; i < 4; i++) {
			const char *gk[] = {"m:test:e", "m:test:f", "m:test:a"};
			char *gv[3];
			CHECK_EQ(cache_mget(gk, 3, &a, gv), 0);
			CHECK(gv[0] != NULL && strcmp(gv[0], "five") == 0);
			CHECK(gv[1] != NULL && strcmp(gv[1], "six") == 0);
			CHECK(gv[2] == NULL);
			CHECK_EQ(cache_get("m:test:f", &a, &v, &n), 1);
			CHECK(v != NULL && strcmp(v, "six") == 0);
		}
	}
	/* Those went out together (text protocol, noreply, one round trip),
	 * not one by one; so do more keys than one round trip takes. */
	{
		CHECK(dpool != NULL);
		char keys[DEL_CHUNK + 8][32];
		const char *kp[DEL_CHUNK + 8];
		for (int i = 0; i < DEL_CHUNK + 8; i++) {
			snprintf(keys[i], sizeof(keys[i]), "m:test:many:%d", i);
			kp[i] = keys[i];
			if (i % 3 != 0)
				CHECK_EQ(cache_set(keys[i], "x", 1, 60), 0);
		}
		CHECK_EQ(del_together(kp, 4), 0);
		for (int i = 0; i < 4; i++)
			CHECK_EQ(cache_get(kp[i], &a, &v, &n), 0);
		CHECK_EQ(cache_get(kp[4], &a, &v, &n), 1);
		CHECK_EQ(cache_del_many(kp, DEL_CHUNK + 8), 0);
		for (int i = 0; i < DEL_CHUNK + 8; i++)
			CHECK_EQ(cache_get(kp[i], &a, &v, &n), 0);
		CHECK_EQ(cache_set("m:test:e", "five", 4, 60), 0);
		CHECK_EQ(cache_get("m:test:e", &a, &v, &n), 1);
		CHECK(v != NULL && strcmp(v, "five") == 0);
	}

	/* memcached restarts: the pooled connection is broken, and the first
	 * call after it still succeeds (it is retried on a new connection). */
	{
		stop_memcached(sock, pidf);
		CHECK_EQ(test_memcached_start(sock, pidf), 0);
		CHECK_EQ(cache_add("m:test:restart", "1", 1, 60), 1);
		CHECK_EQ(cache_add("m:test:restart", "1", 1, 60), 0);
		/* The deletes' own connection broke too: the first call falls
		 * back to one by one and still deletes; the next goes together
		 * again on a new connection. */
		const char *dk[] = {"m:test:restart", "m:test:r2"};
		CHECK_EQ(cache_set("m:test:r2", "2", 1, 60), 0);
		CHECK_EQ(cache_del_many(dk, 2), 0);
		CHECK_EQ(cache_get("m:test:restart", &a, &v, &n), 0);
		CHECK_EQ(cache_get("m:test:r2", &a, &v, &n), 0);
		CHECK_EQ(cache_set("m:test:r2", "2", 1, 60), 0);
		CHECK_EQ(del_together(dk, 2), 0);
		CHECK_EQ(cache_get("m:test:r2", &a, &v, &n), 0);
	}
	/* Calls during an outage fail (past the failure limit); once memcached
	 * is back, a call made after the retry pause (CACHE_RETRY_WAIT_MS) goes
	 * through on the same pool: what ending a session relies on when its
	 * tombstone could not be written at first (lib/auth/auth.c). */
	{
		stop_memcached(sock, pidf);
		for (int i = 0; i < 4; i++)
			CHECK_EQ(cache_set("m:test:pause", "1", 1, 60), -1);
		CHECK_EQ(test_memcached_start(sock, pidf), 0);
		usleep((useconds_t)CACHE_RETRY_WAIT_MS * 1000);
		CHECK_EQ(cache_set("m:test:pause", "1", 1, 60), 0);
		CHECK_EQ(cache_get("m:test:pause", &a, &v, &n), 1);
	}
	cache_shutdown();
	arena_release(&a);

	if (stop_memcached(sock, pidf) == 0) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "pkill -f 'memcached -s %s'", sock);
		CHECK_EQ(system(cmd), 0);
	}
	unlink(pidf);
	rmdir(dir);
	return CHECK_DONE();
}
