/* Unit tests for lib/util/config: file parsing and environment overrides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "check.h"
#include "util/config.h"

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
	char logpath[] = "/tmp/messenger-conf-log-XXXXXX";
	int lf = mkstemp(logpath);
	CHECK(lf >= 0);
	fflush(stderr);
	int saved = dup(2);
	CHECK(saved >= 0 && dup2(lf, 2) == 2);
	CHECK_EQ(config_int_range("zero", 300, 1, 86400), 1);
	CHECK_EQ(config_int_range("neg", 14, 1, 3650), 1);
	CHECK_EQ(config_int_range("huge", 14, 1, 3650), 3650);
	CHECK_EQ(config_int_range("neg", 14, 1, 3650), 1);	/* again: not logged again */
	fflush(stderr);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	char logged[4096];
	ssize_t got = pread(lf, logged, sizeof(logged) - 1, 0);
	CHECK(got > 0);
	logged[got > 0 ? got : 0] = '\0';
	close(lf);
	unlink(logpath);
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
		fflush(stderr);
		int keep = dup(2), null = open("/dev/null", O_WRONLY);
		CHECK(keep >= 0 && null >= 0 && dup2(null, 2) == 2);
		int rc = config_load();
		fflush(stderr);
		CHECK(dup2(keep, 2) == 2);
		close(keep);
		close(null);
		CHECK_EQ(rc, i == 1 ? -1 : 0);
		CHECK_EQ(config_int("after", 0), 1);
		CHECK_EQ(strlen(config_str("long", "")), i == 2 ? 1016u : 1015u);
	}
	/* A key the programs do not know (a typo) is named in the log. */
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("db_name = x\ndb_pasword = y\n", f);
	fclose(f);
	char typolog[] = "/tmp/messenger-conf-log-XXXXXX";
	int tf = mkstemp(typolog);
	CHECK(tf >= 0);
	fflush(stderr);
	int keep = dup(2);
	CHECK(keep >= 0 && dup2(tf, 2) == 2);
	CHECK_EQ(config_load(), 0);
	fflush(stderr);
	CHECK(dup2(keep, 2) == 2);
	close(keep);
	got = pread(tf, logged, sizeof(logged) - 1, 0);
	logged[got > 0 ? got : 0] = '\0';
	close(tf);
	unlink(typolog);
	CHECK(strstr(logged, ":2: unknown key db_pasword") != NULL);
	CHECK(strstr(logged, "unknown key db_name") == NULL);
	unlink(path);
	return CHECK_DONE();
}
