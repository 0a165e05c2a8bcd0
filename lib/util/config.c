#include "util/config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

#define MAX_KEYS 128

static struct {
	char *key;
	char *val;
} entries[MAX_KEYS];
static int nentries;

/* Every key the programs read (tests/api/config-keys.test.mjs holds this
 * list, the code's reads and the README's table to each other): a key in
 * the file that is none of these is a typo, and said so in the log. */
static const char *const known[] = {
	"access_token_ttl", "api_db_connections", "api_max_threads", "api_prefix",
	"api_resume_threads", "api_send_queue_max", "cookie_secure", "cors_origins",
	"db_connect_timeout", "db_host", "db_name", "db_password", "db_port",
	"db_read_timeout", "db_socket", "db_user", "debug", "doorbell_path",
	"ephemeral_retention_seconds", "event_retention_days", "events_db_connections",
	"events_max_threads", "events_max_wait", "events_per_user", "events_resume_threads",
	"events_safety_read_seconds", "events_stream_max_seconds", "events_write_timeout_ms",
	"health_sends", "health_waiting", "jwt_key_file", "login_per_account",
	"login_per_account_all", "login_per_ip", "login_window_seconds", "memcached",
	"password_hash_queue", "password_hashes_at_once", "password_memlimit",
	"password_opslimit", "presence_fanout_max", "presence_offline_after", "presence_ttl",
	"receipt_fanout_max", "refresh_reuse_grace_seconds", "refresh_token_days",
	"register_per_ip_per_hour", "sweeper_max_seconds", "wake_cross_host", "wake_poll_ms",
};

static int is_known(const char *k)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(known[i], k) == 0)
			return 1;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static void set(const char *k, const char *v)
{
	for (int i = 0; i < nentries; i++) {
		if (strcmp(entries[i].key, k) == 0) {
			free(entries[i].val);
			entries[i].val = xstrdup(v);
			return;
		}
	}
	if (nentries == MAX_KEYS) {
		log_error("config: more than %d keys; %s is ignored", MAX_KEYS, k);
		return;
	}
	entries[nentries].key = xstrdup(k);
	entries[nentries].val = xstrdup(v);
	nentries++;
}

int config_load(void)
{
	const char *path = getenv("MESSENGER_CONF");
	if (path == NULL || *path == '\0')
		path = "var/messenger.conf";
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		/* Not fatal (defaults and the environment apply), but a cron job
		 * or a server started without MESSENGER_CONF would otherwise run
		 * on defaults without a word. */
		if (errno != ENOENT)
			log_warn("config: cannot open %s: %s", path, strerror(errno));
		else
			log_warn("config: %s does not exist; using defaults and MESSENGER_* variables "
				"(set MESSENGER_CONF)", path);
	} else {
		char line[1024];
		int lineno = 0, rc = 0;
		while (fgets(line, sizeof(line), f) != NULL) {
			lineno++;
			size_t len = strlen(line);
			if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
				/* More of it than fits (its rest would read as a line
				 * of its own), unless the file ends right there. */
				int c = fgetc(f);
				if (c != EOF) {
					log_error("config: %s:%d: longer than %zu characters", path, lineno,
						sizeof(line) - 1);
					rc = -1;
					while (c != EOF && c != '\n')
						c = fgetc(f);
					continue;
				}
			}
			char *s = trim(line);
			if (*s == '\0' || *s == '#')
				continue;
			char *eq = strchr(s, '=');
			if (eq == NULL) {
				log_error("config: %s:%d: expected key = value", path, lineno);
				rc = -1;
				continue;
			}
			*eq = '\0';
			const char *k = trim(s);
			if (!is_known(k))
				log_warn("config: %s:%d: unknown key %s (ignored; see the README's "
					"Configuration)", path, lineno, k);
			set(k, trim(eq + 1));
		}
		fclose(f);
		if (rc < 0)
			return -1;
	}
	/* Environment overrides: MESSENGER_DB_SOCKET -> db_socket. */
	extern char **environ;
	for (char **e = environ; *e != NULL; e++) {
		if (strncmp(*e, "MESSENGER_", 10) != 0 || strncmp(*e, "MESSENGER_CONF=", 15) == 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (eq == NULL)
			continue;
		char key[128];
		size_t n = (size_t)(eq - (*e + 10));
		if (n == 0 || n >= sizeof(key))
			continue;
		for (size_t i = 0; i < n; i++)
			key[i] = (char)tolower((unsigned char)(*e)[10 + i]);
		key[n] = '\0';
		set(key, eq + 1);
	}
	return 0;
}

const char *config_str(const char *key, const char *def)
{
	for (int i = 0; i < nentries; i++)
		if (strcmp(entries[i].key, key) == 0)
			return entries[i].val;
	return def;
}

long long config_int(const char *key, long long def)
{
	const char *v = config_str(key, NULL);
	if (v == NULL || *v == '\0')
		return def;
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0') {
		log_warn("config: %s = %s is not a number; using %lld", key, v, def);
		return def;
	}
	return n;
}

long long config_int_range(const char *key, long long def, long long min, long long max)
{
	long long n = config_int(key, def);
	if (n >= min && n <= max)
		return n;
	long long to = n < min ? min : max;
	/* Once per key: some are read at every request. */
	static const char *warned[32];
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	const size_t cap = sizeof(warned) / sizeof(warned[0]);
	size_t i = 0;
	pthread_mutex_lock(&mu);
	while (i < cap && warned[i] != NULL && strcmp(warned[i], key) != 0)
		i++;
	int seen = i < cap && warned[i] != NULL;
	if (i < cap && !seen)
		warned[i] = key;
	pthread_mutex_unlock(&mu);
	if (!seen)
		log_warn("config: %s = %lld is outside %lld..%lld; using %lld", key, n, min, max, to);
	return to;
}

int config_read_secret(const char *key, unsigned char *buf, int cap)
{
	const char *path = config_str(key, NULL);
	if (path == NULL) {
		log_error("config: %s is not set", key);
		return -1;
	}
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		log_error("config: cannot read %s (%s): %s", key, path, strerror(errno));
		return -1;
	}
	size_t n = fread(buf, 1, (size_t)cap, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n < 16) {
		log_error("config: secret %s is too short", path);
		return -1;
	}
	return (int)n;
}
