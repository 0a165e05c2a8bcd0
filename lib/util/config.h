/*
 * Configuration: one key = value file, then environment overrides.
 * The file is $MESSENGER_CONF (default var/messenger.conf). Any key can be
 * overridden by the environment variable MESSENGER_<KEY> (upper case).
 * Values are read once by config_load() and are immutable afterwards.
 */
#ifndef UTIL_CONFIG_H
#define UTIL_CONFIG_H

/* Loads the file and environment. Returns 0, or -1 when the file exists but
 * cannot be parsed (a missing file is fine: defaults and environment apply). */
int config_load(void);

/* Borrowed string, or def when unset. */
const char *config_str(const char *key, const char *def);
long long config_int(const char *key, long long def);
/* config_int within [min, max]: a value outside is taken as the nearest
 * bound, and logged (once per key). */
long long config_int_range(const char *key, long long def, long long min, long long max);

/* Reads a secret file (e.g. the JWT key) into buf, up to cap bytes.
 * Returns the length, or -1 on error (logged). */
int config_read_secret(const char *key, unsigned char *buf, int cap);

#endif
