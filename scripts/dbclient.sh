# Sourced by migrate.sh and backup.sh: how they reach the database.
#   db_client SOCKET   sets MYSQL (the mariadb client, batch mode) and
#                      MYSQLDUMP (mariadb-dump) for the server at SOCKET:
#                      as root over the socket, or as the user of
#                      MIGRATE_DEFAULTS_FILE (a my.cnf-style [client]
#                      section). SOCKET "-": the server that file names
#                      (host= and port= for a database over TCP).
#   db_name [GIVEN]    prints the database: GIVEN, else MESSENGER_DB_NAME,
#                      else db_name in the config named by MESSENGER_CONF,
#                      else "messenger" (as the programs see it); a name
#                      other than 1-64 of A-Z a-z 0-9 _ is refused (the
#                      scripts put it into SQL).
#   conf_value KEY FILE  prints KEY's value in a config file as
#                      lib/util/config.c reads it (trimmed; the last wins).
db_client() {
	local sock="$1" base
	if [ "$sock" = - ] && [ -z "${MIGRATE_DEFAULTS_FILE:-}" ]; then
		echo "$(basename "$0"): SOCKET - needs MIGRATE_DEFAULTS_FILE (a [client] section naming the server)" >&2
		exit 2
	fi
	if [ -n "${MIGRATE_DEFAULTS_FILE:-}" ]; then
		base=(--defaults-extra-file="$MIGRATE_DEFAULTS_FILE")
		[ "$sock" = - ] || base+=(-S "$sock")
	else
		base=(--no-defaults -S "$sock" -uroot)
	fi
	MYSQL=(mariadb "${base[@]}" --batch --skip-column-names)
	MYSQLDUMP=(mariadb-dump "${base[@]}")
}

conf_value() {
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*\$/\1/p" "$2" | tail -1
}

db_name() {
	local conf_db="" db
	if [ -n "${MESSENGER_CONF:-}" ] && [ -r "$MESSENGER_CONF" ]; then
		conf_db="$(conf_value db_name "$MESSENGER_CONF")"
	fi
	db="${1:-${MESSENGER_DB_NAME:-${conf_db:-messenger}}}"
	if ! [[ "$db" =~ ^[A-Za-z0-9_]{1,64}$ ]]; then
		echo "$(basename "$0"): database name '$db' is not 1-64 of A-Z a-z 0-9 _" >&2
		exit 2
	fi
	echo "$db"
}
