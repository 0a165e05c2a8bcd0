#!/bin/bash
# Backups of the messenger's database, and restoring one.
#
#   scripts/backup.sh save SOCKET DIR
#       writes DIR/messenger-DATABASE-YYYYmmddTHHMMSSZ/ holding database.sql.gz
#       (one consistent snapshot, taken while the server runs: InnoDB's
#       --single-transaction, with the stored procedures that sending a
#       message needs), and a copy of the config named by MESSENGER_CONF
#       and of its jwt_key_file, when they are readable; prints its path.
#       The folder is readable by its owner only (the key signs every
#       token). A failed dump leaves no folder behind.
#   scripts/backup.sh restore SOCKET BACKUP [DATABASE]
#       loads BACKUP (such a folder, or its database.sql.gz) into DATABASE,
#       which must be empty or absent, then applies the migrations the
#       backup predates (scripts/migrate.sh). The routines are created by
#       the restoring user (the dump's DEFINER may not exist on this server).
#       The key and config are not put back: copy them to where the
#       programs read them (the same key keeps sessions signed in).
#
# SOCKET, MIGRATE_DEFAULTS_FILE and the default DATABASE are as for
# scripts/migrate.sh (scripts/dbclient.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/dbclient.sh
. "$ROOT/scripts/dbclient.sh"

usage() {
	echo "usage: $0 save SOCKET DIR | restore SOCKET BACKUP [DATABASE]" >&2
	exit 2
}

save() {
	[ $# -eq 2 ] || usage
	db_client "$1"
	local db dir out tmp key=""
	db="$(db_name)"
	dir="$2"
	mkdir -p "$dir"
	umask 077
	out="$dir/messenger-$db-$(date -u +%Y%m%dT%H%M%SZ)"
	# Two in the same second: the second one gets its own name.
	[ ! -e "$out" ] || out="$out-$$"
	tmp="$(mktemp -d "$dir/.partial-XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	"${MYSQLDUMP[@]}" --single-transaction --quick --routines --triggers --hex-blob \
		--default-character-set=utf8mb4 "$db" | gzip > "$tmp/database.sql.gz"
	if [ -n "${MESSENGER_CONF:-}" ] && [ -r "$MESSENGER_CONF" ]; then
		cp "$MESSENGER_CONF" "$tmp/messenger.conf"
		key="$(conf_value jwt_key_file "$MESSENGER_CONF")"
		if [ -n "$key" ] && [ -r "$key" ]; then cp "$key" "$tmp/jwt.key"; fi
	fi
	mv -T "$tmp" "$out"
	trap - EXIT
	echo "$out"
}

restore() {
	[ $# -eq 2 ] || [ $# -eq 3 ] || usage
	local sock="$1" dump="$2" db tables
	db_client "$sock"
	db="$(db_name "${3:-}")"
	[ -d "$dump" ] && dump="$dump/database.sql.gz"
	[ -r "$dump" ] || { echo "backup: no backup at $dump" >&2; exit 1; }
	gzip -t "$dump" || { echo "backup: $dump is not a whole gzip file" >&2; exit 1; }
	"${MYSQL[@]}" -e "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	tables="$("${MYSQL[@]}" -e "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$db'")"
	if [ "$tables" != 0 ]; then
		echo "backup: database $db holds $tables tables: restore into an empty one (or drop it first)" >&2
		exit 1
	fi
	# Only the first line of a CREATE names a definer; the rows' values
	# are on INSERT lines and stay as they are. A load that stops halfway
	# (a bad dump, a full disk) leaves no half-restored database behind:
	# it was empty, and a restore of the same backup can start again.
	if ! gzip -dc "$dump" \
		| sed -E '/^(CREATE|\/\*!50003 CREATE)/ s/DEFINER=`([^`]|``)*`@`([^`]|``)*`//' \
		| "${MYSQL[@]}" "$db"; then
		"${MYSQL[@]}" -e "DROP DATABASE \`$db\`" || true
		echo "backup: the restore into $db stopped; nothing of it was kept" >&2
		exit 1
	fi
	"$ROOT/scripts/migrate.sh" "$sock" "$db"
	echo "backup: restored into $db" >&2
}

case "${1:-}" in
save) shift; save "$@" ;;
restore) shift; restore "$@" ;;
*) usage ;;
esac
