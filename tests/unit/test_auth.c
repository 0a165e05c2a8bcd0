/* Unit tests for lib/auth's password hashing turns: at most
 * password_hashes_at_once hash at a time, at most password_hash_queue wait
 * for a turn, and any more are told AUTH_BUSY at once (the handlers answer
 * 503) instead of queueing without end. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
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

	/* Refresh tokens name their session under the token key's tag. */
	memcpy(jwt_key, "unit test key", 13);
	jwt_key_len = 13;
	struct arena a;
	arena_init(&a);
	char *tok = auth_refresh_token(&a, 123456789, NULL);
	CHECK_EQ(auth_refresh_token_session(tok), 123456789);
	CHECK(strlen(tok) <= 128);
	CHECK(strcmp(tok, auth_refresh_token(&a, 123456789, NULL)) != 0);
	/* Any change of a character is refused, to any other character of the
	 * alphabet (the last one's spare bits too: a tag has one spelling). */
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	for (size_t i = 0; tok[i] != '\0'; i++) {
		for (const char *c = b64; *c != '\0'; c++) {
			if (*c == tok[i])
				continue;
			char *x = arena_strdup(&a, tok);
			x[i] = *c;
			CHECK_EQ(auth_refresh_token_session(x), 0);
		}
	}
	/* Another session's id with this tag, another key, other shapes. */
	/* A successor is the same each time it is asked for, and differs by
	 * the token it follows. */
	unsigned char seed[32] = {1};
	char *next = auth_refresh_token(&a, 7, seed);
	CHECK_STR(auth_refresh_token(&a, 7, seed), next);
	CHECK_EQ(auth_refresh_token_session(next), 7);
	seed[0] = 2;
	CHECK(strcmp(auth_refresh_token(&a, 7, seed), next) != 0);
	const char *dot = strchr(tok, '.');
	CHECK_EQ(auth_refresh_token_session(arena_printf(&a, "123456780%s", dot)), 0);
	CHECK_EQ(auth_refresh_token_session(""), 0);
	CHECK_EQ(auth_refresh_token_session("..."), 0);
	CHECK_EQ(auth_refresh_token_session("1.2"), 0);
	CHECK_EQ(auth_refresh_token_session("9999999999999999999.a.b"), 0);
	CHECK_EQ(auth_refresh_token_session(auth_random_token(&a, 32)), 0);
	jwt_key[0] = 'U';
	CHECK_EQ(auth_refresh_token_session(tok), 0);
	arena_release(&a);
	return CHECK_DONE();
}
