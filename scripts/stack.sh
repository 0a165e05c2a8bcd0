#!/bin/bash
# Starts and stops the local stack: a private MariaDB (unix socket only, data
# under var/), memcached and lighttpd on 127.0.0.1. Everything it starts is
# recorded in pid files under the state directory and stopped by those files.
#
#   scripts/stack.sh start            whole stack (idempotent)
#   scripts/stack.sh stop             stop what start started
#   scripts/stack.sh web-start NAME PORT   one more lighttpd instance over the same
#                                          MariaDB and memcached (a second "host")
#   scripts/stack.sh web-stop NAME
#   scripts/stack.sh mc-stop | mc-start    memcached alone (failure tests)
#   scripts/stack.sh env              print the variables for tools and tests
#
# Environment: MESSENGER_PORT (8080; memcached listens on VAR/memcached.sock),
# MESSENGER_VAR (./var), MESSENGER_BIN (./build/release), MESSENGER_BIND (127.0.0.1).
set -euo pipefail
# mariadbd and lighttpd live in /usr/sbin, which a user's PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VAR="${MESSENGER_VAR:-$ROOT/var}"
# The state directory holds the database's and memcached's sockets (the
# database's root account has no password: whoever reaches the socket is
# root there), the JWT key and the configuration (which may hold a
# db_password from local.conf): this user's only, and so is everything
# written in it.
umask 077
mkdir -p "$VAR"
chmod 700 "$VAR"
VAR="$(cd "$VAR" && pwd)"
# The configuration's lists (memcached servers) are split at spaces and
# commas: a state directory whose path holds one would be misread.
case "$VAR" in
*[[:space:],]*)
	echo "stack: the state directory $VAR has a space or comma in its path; use a checkout" \
		"without one, or set MESSENGER_VAR to such a directory" >&2
	exit 1 ;;
esac
PORT="${MESSENGER_PORT:-8080}"
BIN="${MESSENGER_BIN:-$ROOT/build/release}"
BIND="${MESSENGER_BIND:-127.0.0.1}"
SOCK="$VAR/mysql.sock"
MC_SOCK="$VAR/memcached.sock"
DATADIR="$VAR/mysql"
AS_ROOT=()
[ "$(id -u)" -eq 0 ] && AS_ROOT=(--user=root)

log() { echo "stack: $*" >&2; }

# Whether a pid file's process runs, and is the program the file is for (the
# pid of a crash or an earlier boot may belong to another process now).
alive() {
	[ -f "$1" ] || return 1
	local pid want
	pid="$(cat "$1")"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	case "$1" in
	*mariadb.pid) want=mariadbd ;;
	*memcached.pid) want=memcached ;;
	*lighttpd.pid) want=lighttpd ;;
	*cron.pid) want=sweeper ;;
	*) return 0 ;;
	esac
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$want"
}

# stop_pidfile FILE WHAT [SECONDS]: TERM, and KILL after SECONDS (10).
stop_pidfile() {
	local f="$1" what="$2" wait="${3:-10}"
	if alive "$f"; then
		local pid; pid="$(cat "$f")"
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 $((wait * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			log "$what did not stop; killing"
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$f"
}

start_mariadb() {
	if alive "$VAR/mariadb.pid"; then return 0; fi
	mkdir -p "$VAR/mysql-files"
	if [ ! -d "$DATADIR/mysql" ]; then
		log "creating MariaDB data directory in $DATADIR"
		mariadb-install-db --no-defaults --datadir="$DATADIR" "${AS_ROOT[@]}" \
			--auth-root-authentication-method=normal --skip-test-db >"$VAR/mariadb-install.log" 2>&1 \
			|| { cat "$VAR/mariadb-install.log" >&2; exit 1; }
	fi
	mariadbd --no-defaults --datadir="$DATADIR" --socket="$SOCK" --skip-networking \
		--pid-file="$VAR/mariadb.pid" --log-error="$VAR/mariadb.err" "${AS_ROOT[@]}" \
		--innodb-flush-log-at-trx-commit=1 --sync-binlog=0 --innodb-buffer-pool-size=256M \
		--max-connections=500 --character-set-server=utf8mb4 \
		--collation-server=utf8mb4_unicode_ci --default-time-zone=+00:00 \
		--innodb-ft-min-token-size=2 --ft-min-word-len=2 --innodb-ft-enable-stopword=0 \
		--secure-file-priv="$VAR/mysql-files" \
		>/dev/null 2>&1 &
	for _ in $(seq 1 300); do
		mariadb-admin --no-defaults -S "$SOCK" -uroot ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	mariadb-admin --no-defaults -S "$SOCK" -uroot ping >/dev/null 2>&1 \
		|| { log "MariaDB did not start; see $VAR/mariadb.err"; tail -20 "$VAR/mariadb.err" >&2; exit 1; }
	# The pid file may lag behind ping by a moment.
	for _ in $(seq 1 50); do [ -s "$VAR/mariadb.pid" ] && break; sleep 0.1; done
}

start_memcached() {
	if alive "$VAR/memcached.pid"; then
		tr '\0' ' ' <"/proc/$(cat "$VAR/memcached.pid")/cmdline" 2>/dev/null \
			| grep -qF -- "-s $MC_SOCK " && return 0
		# Started by an earlier version on a TCP port: replace it, and
		# restart the web instances configured for that port (start_web
		# writes their new configuration).
		stop_pidfile "$VAR/memcached.pid" memcached
		local f
		for f in "$VAR"/*.lighttpd.pid; do [ -e "$f" ] && stop_pidfile "$f" lighttpd; done
	fi
	local u=(); [ "$(id -u)" -eq 0 ] && u=(-u root)
	memcached -s "$MC_SOCK" -a 0700 -m 128 -c 4096 -d -P "$VAR/memcached.pid" "${u[@]}"
	for _ in $(seq 1 50); do [ -s "$VAR/memcached.pid" ] && [ -S "$MC_SOCK" ] && break; sleep 0.1; done
}

secrets() {
	if [ ! -s "$VAR/jwt.key" ]; then
		head -c 48 /dev/urandom | base64 -w0 > "$VAR/jwt.key"
	fi
	chmod 600 "$VAR/jwt.key"
}

# write_conf NAME: the configuration one web instance's FastCGI processes read.
write_conf() {
	local name="$1"
	cat > "$VAR/$name.conf" <<CONF
# Written by scripts/stack.sh; edit the script or override with MESSENGER_* variables.
db_socket = $SOCK
db_user = root
db_name = messenger
memcached = $MC_SOCK
jwt_key_file = $VAR/jwt.key
doorbell_path = /dev/shm/messenger-$(echo "$VAR/$name" | md5sum | cut -c1-12)
cors_origins = http://127.0.0.1:$PORT http://localhost:$PORT
CONF
	# Optional local overrides survive restarts; NAME.local.conf overrides
	# for one instance only (later lines win).
	if [ -f "$VAR/local.conf" ]; then cat "$VAR/local.conf" >> "$VAR/$name.conf"; fi
	if [ -f "$VAR/$name.local.conf" ]; then cat "$VAR/$name.local.conf" >> "$VAR/$name.conf"; fi
	# A file that existed keeps its mode under the umask: set it.
	chmod 600 "$VAR/$name.conf"
}

start_web() {
	local name="$1" port="$2"
	if alive "$VAR/$name.lighttpd.pid"; then return 0; fi
	[ -x "$BIN/cgi-bin/api.fcgi" ] || { log "build first: $BIN/cgi-bin/api.fcgi is missing"; exit 1; }
	write_conf "$name"
	ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	MESSENGER_ROOT="$ROOT" MESSENGER_BIN="$BIN" MESSENGER_VAR="$VAR" MESSENGER_NAME="$name" \
	MESSENGER_PORT="$port" MESSENGER_BIND="$BIND" MESSENGER_CONF="$VAR/$name.conf" \
		lighttpd -f "$ROOT/lighttpd.conf"
	for _ in $(seq 1 100); do
		curl -sS -o /dev/null "http://127.0.0.1:$port/api/v1/health" 2>/dev/null && return 0
		sleep 0.1
	done
	log "lighttpd ($name) did not answer on port $port; see $VAR/$name.error.log"
	tail -20 "$VAR/$name.error.log" >&2 || true
	exit 1
}

# A stand-in for cron on a local run: the sweeper every minute (retention,
# expired tickets, presence going offline). Production uses cron itself.
start_cron() {
	[ "${MESSENGER_CRON:-1}" = 1 ] || return 0
	if alive "$VAR/cron.pid"; then return 0; fi
	MESSENGER_CONF="$VAR/main.conf" setsid bash -c \
		"while :; do '$BIN/cron/sweeper' >>'$VAR/cron.log' 2>&1; sleep 60; done" \
		</dev/null >/dev/null 2>&1 &
	echo $! > "$VAR/cron.pid"
}

stop_cron() {
	if alive "$VAR/cron.pid"; then
		kill -TERM -- "-$(cat "$VAR/cron.pid")" 2>/dev/null || true
	fi
	rm -f "$VAR/cron.pid"
}

# Into the database the programs use: db_name as main.conf (with
# local.conf) names it.
migrate() {
	write_conf main
	MESSENGER_CONF="$VAR/main.conf" "$ROOT/scripts/migrate.sh" "$SOCK"
}

case "${1:-}" in
start)
	secrets
	start_mariadb
	migrate
	start_memcached
	# Already running (make run again after an upgrade or a change of
	# local.conf): the web server and its programs start again, so the
	# new build and configuration serve; clients reconnect on their own.
	again=""
	if alive "$VAR/main.lighttpd.pid"; then
		stop_pidfile "$VAR/main.lighttpd.pid" lighttpd
		again=" again"
	fi
	start_web main "$PORT"
	start_cron
	echo "Messenger is running$again at http://127.0.0.1:$PORT/  (stop with: make stop)"
	;;
stop)
	stop_cron
	for f in "$VAR"/*.lighttpd.pid; do [ -e "$f" ] && stop_pidfile "$f" lighttpd; done
	stop_pidfile "$VAR/memcached.pid" memcached
	stop_pidfile "$VAR/mariadb.pid" MariaDB 60
	# The doorbell files (shared memory, 256 KB each) of this state
	# directory's instances: their processes are gone, and the next start
	# makes them again.
	for c in "$VAR"/*.conf; do
		[ -e "$c" ] || continue
		bell="$(sed -n 's/^doorbell_path = \(\/dev\/shm\/messenger-[0-9a-f]*\)$/\1/p' "$c")"
		if [ -n "$bell" ]; then rm -f "$bell"; fi
	done
	;;
web-start) start_web "$2" "$3" ;;
web-stop) stop_pidfile "$VAR/$2.lighttpd.pid" lighttpd ;;
mc-stop) stop_pidfile "$VAR/memcached.pid" memcached ;;
mc-start) start_memcached ;;
db-start) start_mariadb ;;
db-stop) stop_pidfile "$VAR/mariadb.pid" MariaDB 60 ;;
migrate) migrate ;;
env)
	echo "MESSENGER_URL=http://127.0.0.1:$PORT"
	echo "MESSENGER_DB_SOCKET=$SOCK"
	echo "MESSENGER_VAR=$VAR"
	;;
*)
	echo "usage: $0 start|stop|web-start NAME PORT|web-stop NAME|mc-stop|mc-start|migrate|env" >&2
	exit 2
	;;
esac
