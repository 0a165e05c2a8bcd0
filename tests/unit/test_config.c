/* Unit tests for lib/util/config: file parsing and environment overrides. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "util/config.h"

int main(void)
{
	char path[] = "/tmp/messenger-conf-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	const char text[] = "# comment\n  db_name = chat \nport=99\n\nempty =\n";
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
	unlink(path);
	return CHECK_DONE();
}
