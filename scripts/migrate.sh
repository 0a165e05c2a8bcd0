#!/bin/bash
# Applies sql/NNNN_*.sql migrations in order, each once, recording them in
# schema_migrations. Usage: scripts/migrate.sh SOCKET [DATABASE]
# SOCKET "-": the server is the one MIGRATE_DEFAULTS_FILE names (host= and
# port= for a database over TCP, socket= for another socket).
# DATABASE defaults to db_name as the programs see it: MESSENGER_DB_NAME,
# else db_name in the config named by MESSENGER_CONF, else "messenger". The client connects as root over the socket, or with the
# user and password of MIGRATE_DEFAULTS_FILE (a my.cnf-style [client]
# section: the database user needs CREATE ROUTINE and EXECUTE).
# MariaDB cannot undo DDL, so a file that stopped halfway (a killed client,
# a full disk) stays unrecorded with part of it done: every statement in
# sql/ can run again over its own result (IF NOT EXISTS, IF EXISTS, CREATE
# OR REPLACE), and the next run applies the whole file again
# (tests/api/migrations.test.mjs). Routines are replaced with CREATE OR
# REPLACE, never dropped first: a running server calling one meanwhile
# would find it missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 SOCKET [DATABASE]   (SOCKET - : the server of MIGRATE_DEFAULTS_FILE)" >&2
	exit 2
fi
# shellcheck source=scripts/dbclient.sh
. "$ROOT/scripts/dbclient.sh"
SOCK="$1"
db_client "$SOCK"
DB="$(db_name "${2:-}")"
# One runner at a time per server (two starts at once would apply the same
# file twice): one lock per socket, in /tmp whoever runs it (root could
# write beside the socket in /run/mysqld, the app's user cannot).
# Where another user made it (root after the app's user, or the other
# way round: Debian's fs.protected_regular keeps even root from opening
# it), this user takes one of its own: two runners of different users at
# once then apply the same files side by side, which every file allows
# (its statements can run again) and the record of each takes once.
server="$SOCK"
[ "$SOCK" != - ] || server="- $MIGRATE_DEFAULTS_FILE"
lock="/tmp/messenger-migrate.$(printf '%s' "$server" | cksum | cut -d' ' -f1).lock"
if ! { exec 9>>"$lock"; } 2>/dev/null; then
	lock="$lock.$(id -u)"
	exec 9>>"$lock"
fi
flock 9
"${MYSQL[@]}" -e "CREATE DATABASE IF NOT EXISTS \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
"${MYSQL[@]}" "$DB" -e "CREATE TABLE IF NOT EXISTS schema_migrations (
	version VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
	applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB"
applied="$("${MYSQL[@]}" "$DB" -e "SELECT version FROM schema_migrations")"
for f in "$ROOT"/sql/[0-9][0-9][0-9][0-9]_*.sql; do
	v="$(basename "$f" .sql)"
	if grep -qx "$v" <<<"$applied"; then continue; fi
	echo "migrate: applying $v" >&2
	{ cat "$f"; echo; echo "INSERT IGNORE INTO schema_migrations (version) VALUES ('$v');"; } \
		| "${MYSQL[@]}" "$DB"
done
