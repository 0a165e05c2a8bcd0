/* Unit tests for lib/util/config: file parsing and environment overrides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "util/config.h"

/* Standard error (where the log goes) kept in a temporary file from
 * log_start() on; log_stop() puts it back and gives what was written. */
struct captured {
	int saved, fd;
	char path[40];
};

static void log_start(struct captured *c)
{
	snprintf(c->path, sizeof(c->path), "/tmp/messenger-conf-log-XXXXXX");
	c->fd = mkstemp(c->path);
	CHECK(c->fd >= 0);
	fflush(stderr);
	c->saved = dup(2);
	CHECK(c->saved >= 0 && dup2(c->fd, 2) == 2);
}

static void log_stop(struct captured *c, char *out, size_t n)
{
	fflush(stderr);
	CHECK(dup2(c->saved, 2) == 2);
	close(c->saved);
	ssize_t got = pread(c->fd, out, n - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(c->fd);
	unlink(c->path);
}

int main(void)
{
	char path[] = "/tmp/messenger-conf-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	const char text[] = "# comment\n  db_name = chat \nport=99\n\nempty =\nzero = 0\n"
		"neg = -5\nhuge = 4294967295\n";
	CHECK_EQ(write(fd, text, sizeof(text) - 1), (long long)(sizeof(text) - 1));
	close(fd);
	setenv("MESSENGER_CONF", path, 1);
	setenv("MESSENGER_PORT", "1234", 1);
	setenv("MESSENGER_NEW_KEY", "from env", 1);
	CHECK_EQ(config_load(), 0);
	CHECK_STR(config_str("db_name", NULL), "chat");
	CHECK_EQ(config_int("port", 0), 1234);	/* environment wins */
	CHECK_STR(config_str("new_key", NULL), "from env");
	CHECK_STR(config_str("empty", "x"), "");
	CHECK_EQ(config_int("empty", 7), 7);
	CHECK(config_str("missing", NULL) == NULL);
	CHECK_EQ(config_int("db_name", 5), 5);	/* not a number: default */
	/* Out of range: the nearest bound (a zero window would divide by
	 * zero, a negative retention delete everything), with a warning in
	 * the log (standard error, kept in a file here), once per key. */
	struct captured log;
	char logged[4096];
	log_start(&log);
	CHECK_EQ(config_int_range("zero", 300, 1, 86400), 1);
	CHECK_EQ(config_int_range("neg", 14, 1, 3650), 1);
	CHECK_EQ(config_int_range("huge", 14, 1, 3650), 3650);
	CHECK_EQ(config_int_range("neg", 14, 1, 3650), 1);	/* again: not logged again */
	log_stop(&log, logged, sizeof(logged));
	CHECK(logged[0] != '\0');
	int negs = 0;
	for (const char *q = logged; (q = strstr(q, "neg = -5 is outside 1..3650; using 1")) != NULL; q++)
		negs++;
	CHECK_EQ(negs, 1);
	CHECK(strstr(logged, "huge = 4294967295 is outside 1..3650; using 3650") != NULL);
	CHECK_EQ(config_int_range("port", 0, 1, 65535), 1234);
	CHECK_EQ(config_int_range("missing", 8, 1, 500), 8);
	CHECK_EQ(config_int_range("db_name", 8, 1, 500), 8);
	/* The longest line read (1,023 characters, newline included; or
	 * without one at the end of the file) loads; a longer one fails the
	 * load: its rest would read as a line of its own. */
	char longest[1100], over[1700], last[1100];
	snprintf(longest, sizeof(longest), "long = %01015d\n", 7);
	CHECK_EQ(strlen(longest), 1023u);
	snprintf(over, sizeof(over), "long = %01500d b = c\n", 7);
	snprintf(last, sizeof(last), "after = 1\nlong = %01016d", 7);
	CHECK_EQ(strlen(strchr(last, '\n') + 1), 1023u);
	const char *texts[] = {longest, over, last};
	for (int i = 0; i < 3; i++) {
		FILE *f = fopen(path, "w");
		CHECK(f != NULL);
		fputs(texts[i], f);
		if (i < 2)
			fputs("after = 1\n", f);
		fclose(f);
		log_start(&log);
		int rc = config_load();
		log_stop(&log, logged, sizeof(logged));
		CHECK_EQ(rc, i == 1 ? -1 : 0);
		CHECK_EQ(strstr(logged, ":1: longer than 1023 characters") != NULL, i == 1);
		CHECK_EQ(config_int("after", 0), 1);
		CHECK_EQ(strlen(config_str("long", "")), i == 2 ? 1016u : 1015u);
	}
	/* A key the programs do not know (a typo) is named in the log. */
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("db_name = x\ndb_pasword = y\n", f);
	fclose(f);
	log_start(&log);
	CHECK_EQ(config_load(), 0);
	log_stop(&log, logged, sizeof(logged));
	CHECK(strstr(logged, ":2: unknown key db_pasword") != NULL);
	CHECK(strstr(logged, "unknown key db_name") == NULL);
	unlink(path);
	return CHECK_DONE();
}
