/* Unit tests for lib/auth's password hashing turns: at most
 * password_hashes_at_once hash at a time, at most password_hash_queue wait
 * for a turn, and any more are told AUTH_BUSY at once (the handlers answer
 * 503) instead of queueing without end. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "auth/auth.c"
#include "util/config.h"

static char hash[crypto_pwhash_STRBYTES];
static int waited_result = -100;

static void *check_in_thread(void *arg)
{
	(void)arg;
	waited_result = auth_check_password(hash, "the password");
	return NULL;
}

static int waiting_now(void)
{
	pthread_mutex_lock(&hash_lock);
	int w = hash_waiting;
	pthread_mutex_unlock(&hash_lock);
	return w;
}

int main(void)
{
	setenv("MESSENGER_CONF", "/dev/null", 1);
	setenv("MESSENGER_PASSWORD_HASHES_AT_ONCE", "1", 1);
	setenv("MESSENGER_PASSWORD_HASH_QUEUE", "1", 1);
	setenv("MESSENGER_PASSWORD_OPSLIMIT", "1", 1);
	setenv("MESSENGER_PASSWORD_MEMLIMIT", "8192", 1);
	CHECK_EQ(config_load(), 0);
	CHECK(sodium_init() >= 0);

	CHECK_EQ(auth_hash_password("the password", hash), 0);
	CHECK_EQ(auth_check_password(hash, "the password"), 1);
	CHECK_EQ(auth_check_password(hash, "another one"), 0);

	/* The one turn is taken (as by a request hashing now). */
	CHECK_EQ(hash_enter(), 0);
	/* One request may wait for it... */
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, check_in_thread, NULL), 0);
	for (int i = 0; i < 500 && waiting_now() < 1; i++)
		usleep(2000);
	CHECK_EQ(waiting_now(), 1);
	/* ...and the next is told at once, for checks and hashes alike. */
	CHECK_EQ(auth_check_password(hash, "the password"), AUTH_BUSY);
	char other[crypto_pwhash_STRBYTES];
	CHECK_EQ(auth_hash_password("x", other), AUTH_BUSY);
	CHECK_EQ(waited_result, -100);
	/* The turn ends: the waiting one gets its answer. */
	hash_leave();
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(waited_result, 1);
	CHECK_EQ(waiting_now(), 0);
	CHECK_EQ(hashing, 0);
	/* Nobody waits: a check goes through again. */
	CHECK_EQ(auth_check_password(hash, "the password"), 1);
	return CHECK_DONE();
}
