#!/bin/bash
# `make bench`: builds, starts a private stack (its own var dir and ports),
# measures three floors and the scenarios, prints one table and writes
# BENCHMARKS.md. Everything it starts is stopped at the end, pass or fail.
#
# Floors, measured in the same run:
#   A  lighttpd + a trivial fcgi2 responder (tests/bench/floor_fcgi.c), same
#      lighttpd.conf and process counts, answering a body of the same size
#   B  single-row INSERT + COMMIT into the same MariaDB (same durability
#      settings), same client count (tests/bench/floor_insert.c)
#   C  the host alone: a 4 KiB O_DIRECT write + fdatasync per message at the
#      delivery rate on the database's disk (tests/bench/floor_disk.c), with
#      the disk's stalls and the CPUs' pauses; the delivery rows count those
#      during each run beside it
#
# Environment (defaults in brackets; BENCH_QUICK=1 shrinks everything):
#   BENCH_PORT [18480]  (the floor's lighttpd uses BENCH_PORT+1; memcached listens on var/bench/memcached.sock)
#   BENCH_VAR [var/bench]  state directory, recreated at each run
#   BENCH_DURATION [10] / BENCH_WARMUP [2]   seconds per measurement
#   BENCH_CLIENTS [32]        concurrent senders (and floor B threads)
#   BENCH_SEND_ROUNDS [3]     rounds of floor B then sends, back to back; the round
#                             with the median ratio is reported (1 when quick)
#   BENCH_HISTORY_CONNS [16]  connections for history pages (and floor A)
#   BENCH_RATE [500]          messages/s for the delivery runs
#   BENCH_RECEIVERS [100]     active receivers measuring delivery latency
#   BENCH_IDLE ["1000 5000"]  idle waiters per delivery run
#   BENCH_HOLD [8000]         concurrent waiters held in the last run (0: skip)
#   BENCH_TRANSPORTS ["longpoll sse"]  transports of the delivery runs
#   BENCH_GROUPS ["2 10 100 1000"]  group sizes for the fan-out cost
#   BENCH_FANOUT_SENDS [400]  sends per group size
#   BENCH_BIG ["10000 1000000"]  messages bulk-loaded into two conversations
#   BENCH_GROWTH_SENDS [300]  sequential sends per history size (CPU per send)
#   BENCH_UPKEEP [30]         seconds of the idle-upkeep runs (BENCH_HOLD - BENCH_RECEIVERS waiters, 1 msg/s,
#                             long-poll timeout 25 s as the web app uses)
#   BENCH_CONF  extra configuration lines for the stack (e.g. "health_sends = 1")
#   BENCH_ONLY  space-separated subset of: floors sends history fanout delivery upkeep big
#   BENCH_DIAG [0]  also run delivery at BENCH_DIAG_RATE [100] msg/s with
#                   cross-host wake-ups allowed, then off (wake_cross_host = 0);
#                   on one host both should cost the same (hints and the
#                   watcher's polling start only when a second host appears)
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

Q="${BENCH_QUICK:-0}"
d() { if [ "$Q" = 1 ]; then echo "$2"; else echo "$1"; fi; }
DUR="${BENCH_DURATION:-$(d 10 3)}"
WARM="${BENCH_WARMUP:-$(d 2 1)}"
CLIENTS="${BENCH_CLIENTS:-32}"
SEND_ROUNDS="${BENCH_SEND_ROUNDS:-$(d 3 1)}"
[ "$SEND_ROUNDS" -ge 1 ] 2>/dev/null || SEND_ROUNDS=1
HCONNS="${BENCH_HISTORY_CONNS:-16}"
RATE="${BENCH_RATE:-500}"
RECV="${BENCH_RECEIVERS:-100}"
DIAG_RATE="${BENCH_DIAG_RATE:-100}"
IDLE_LIST="${BENCH_IDLE:-$(d "1000 5000" "1000")}"
HOLD="${BENCH_HOLD:-$(d 8000 2000)}"
GROUP_SIZES="${BENCH_GROUPS:-2 10 100 1000}"
FAN_N="${BENCH_FANOUT_SENDS:-$(d 400 20)}"
BIG="${BENCH_BIG:-$(d "10000 1000000" "10000 100000")}"
GROWTH_N="${BENCH_GROWTH_SENDS:-$(d 300 100)}"
UPKEEP_DUR="${BENCH_UPKEEP:-30}"	# also quick: it must span a 25 s long-poll
ONLY="${BENCH_ONLY:-floors sends history fanout delivery upkeep big}"
LP_TIMEOUT=$(( ${DUR%.*} + ${WARM%.*} + 15 ))

export MESSENGER_VAR="${BENCH_VAR:-$ROOT/var/bench}"
export MESSENGER_PORT="${BENCH_PORT:-18480}"
# No once-a-minute sweeper during measurements (stack.sh's stand-in for cron).
export MESSENGER_CRON=0
FLOOR_PORT=$((MESSENGER_PORT + 1))
VAR="$MESSENGER_VAR"
B="$ROOT/build/release/tests/bench"
SOCK="$VAR/mysql.sock"
RES="$VAR/results.tsv"
LOG="$VAR/bench.log"
USERS="$VAR/users.txt"
T0=$(date +%s)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
say() { echo "bench: $*" >&2; echo "== $*" >>"$LOG"; }
sql() { mariadb --no-defaults -S "$SOCK" -uroot --batch --skip-column-names messenger -e "$1"; }

cleanup() {
	"$ROOT/scripts/stack.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

# --- build, fresh state, stack ---------------------------------------------
make -s all bench-bin >/dev/null || { echo "bench: build failed" >&2; exit 1; }
"$ROOT/scripts/stack.sh" stop >/dev/null 2>&1 || true
case "$VAR" in */var/*) rm -rf "$VAR" ;; esac
mkdir -p "$VAR"
: >"$RES"
: >"$LOG"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Benchmark-only settings: cheap password hashing and no registration limit
# (setup registers thousands of users through the API; neither is measured),
# and tokens that outlive the run.
cat >"$VAR/local.conf" <<CONF
access_token_ttl = 14400
password_opslimit = 1
password_memlimit = 8192
register_per_ip_per_hour = 100000000
health_sends = 1
${BENCH_CONF:-}
CONF

say "starting the stack (ports $MESSENGER_PORT, $FLOOR_PORT)"
"$ROOT/scripts/stack.sh" start >>"$LOG" 2>&1 || { tail -20 "$LOG" >&2; exit 1; }
mkdir -p "$VAR/floor-bin/cgi-bin"
ln -sf "$B/floor_fcgi" "$VAR/floor-bin/cgi-bin/api.fcgi"
ln -sf "$B/floor_fcgi" "$VAR/floor-bin/cgi-bin/events.fcgi"
MESSENGER_BIN="$VAR/floor-bin" "$ROOT/scripts/stack.sh" web-start floor "$FLOOR_PORT" >>"$LOG" 2>&1 \
	|| { tail -20 "$LOG" >&2; exit 1; }
PIDFILE="$VAR/main.lighttpd.pid"

# --- helpers -----------------------------------------------------------------
# run NAME CMD...: runs a load program (bounded by `timeout`), logs its output,
# leaves the RESULT line in $R (empty on failure).
R=""
run() {
	local name="$1"; shift
	echo "-- $name: $*" >>"$LOG"
	local out rc
	out="$(timeout 900 "$@" 2>>"$LOG")"; rc=$?
	echo "$out" >>"$LOG"
	R="$(echo "$out" | grep '^RESULT' | tail -1)"
	[ "$rc" -eq 0 ] || echo "   (exit $rc)" >>"$LOG"
	return $rc
}
# get KEY [LINE]: a value from a RESULT line.
get() { echo "${2:-$R}" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
# f EXPR: float arithmetic.
f() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
le() { awk "BEGIN { exit !($1 <= $2) }"; }
ge() { awk "BEGIN { exit !($1 >= $2) }"; }
# row FIGURE VALUE FLOOR RATIO TARGET VERDICT
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RES"; }
verdict() { if [ "$1" = 1 ]; then echo pass; else echo MISS; fi; }
flush_cache() { "$B/load" mcflush "$VAR/memcached.sock" 2>>"$LOG"; }
cid_of() { echo "$1" | sed -n 's/^cid=//p' | tail -1; }
conv() { timeout 120 "$B/load" conv -p "$MESSENGER_PORT" -u "$USERS" "$@" 2>>"$LOG"; }

# CPU time per operation by process kind (lighttpd, its FastCGI children,
# MariaDB and memcached). /proc/PID/stat counts a process's time, exited
# threads included, in clock ticks (10 ms): over a few hundred sequential
# sends that is 5-25 % per figure. So each thread's own counter
# (/proc/PID/task/TID/schedstat, nanoseconds) is summed as well and used
# whenever the two agree within two ticks; when they do not (a thread exited
# in between and took its time with it), the tick count is used.
# cpu_snap INSTANCE writes "pid kind ticks ns" lines to $VAR/cpu.before.
# Samples taken while a measurement runs (cpu_window, at the load program's
# markers) read ticks only (ns -1): reading every thread's file there cost
# tens of ms of CPU in the middle of the window and showed as delivery
# latency maxima; those windows count thousands of operations, for which
# ticks are exact enough.
CPU="$VAR/cpu.tsv"
: >"$CPU"
cpu_ticks() {	# bash builtins only: fast enough to sample at a marker
	local inst="$1" fast="${2:-0}" lp p st f t ns sum
	local -a pids a
	lp="$(cat "$VAR/$inst.lighttpd.pid" 2>/dev/null)"
	pids=($lp $(cat "$VAR/mariadb.pid" "$VAR/memcached.pid" 2>/dev/null))
	if [ -n "$lp" ]; then
		for f in /proc/[0-9]*/stat; do
			read -r st 2>/dev/null <"$f" || continue
			read -ra a <<<"${st##*) }"
			[ "${a[1]}" = "$lp" ] && { p="${f#/proc/}"; pids+=("${p%/stat}"); }
		done
	fi
	for p in "${pids[@]}"; do
		read -r st 2>/dev/null <"/proc/$p/stat" || continue
		f="${st#*(}"; f="${f%%)*}"
		read -ra a <<<"${st##*) }"
		sum=-1
		if [ "$fast" != 1 ]; then
			sum=0
			for t in /proc/"$p"/task/*/schedstat; do
				read -r ns _ 2>/dev/null <"$t" && sum=$(( sum + ns ))
			done
		fi
		echo "$p $f $(( a[11] + a[12] )) $sum"
	done
}
# The send queue's counters (api.fcgi's, /health with health_sends = 1):
# "alone batches batched fallbacks".
sendq_stats() {
	local h k
	h="$(curl -s "http://127.0.0.1:$MESSENGER_PORT/api/v1/health" 2>/dev/null)"
	for k in alone batches batched fallbacks; do
		printf '%s ' "$(echo "$h" | sed -n "s/.*\"$k\": *\([0-9]*\).*/\1/p")"
	done
}
sendq_delta() {	# BEFORE AFTER -> what the queue wrote in between
	echo "$1 $2" | awk 'NF == 8 { b = $6 - $2; m = $7 - $3;
		printf "%d sent alone, %d batches of %d sends (%.1f a batch), %d batches failed\n",
			$5 - $1, b, m, (b > 0 ? m / b : 0), $8 - $4 }'
}
questions() { sql "SHOW GLOBAL STATUS LIKE 'Questions'" 2>/dev/null | cut -f2; }
# Has InnoDB write back (up to 60 s) what a write-heavy scenario left dirty,
# so that its flushing does not land in the next measurement (left alone, an
# idle server keeps thousands of dirty pages for minutes).
settle_innodb() {
	local t0=$SECONDS dirty pct
	pct="$(sql "SELECT @@GLOBAL.innodb_max_dirty_pages_pct" 2>/dev/null)"
	[ -n "$pct" ] || return 0
	sql "SET GLOBAL innodb_max_dirty_pages_pct = 0" 2>>"$LOG"
	while [ $((SECONDS - t0)) -lt 60 ]; do
		dirty="$(sql "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" 2>/dev/null | cut -f2)"
		[ -n "$dirty" ] && [ "$dirty" -lt 100 ] && break
		sleep 0.5
	done
	sql "SET GLOBAL innodb_max_dirty_pages_pct = $pct" 2>>"$LOG"
	echo "-- InnoDB settled in $((SECONDS - t0)) s (dirty pages: ${dirty:-?})" >>"$LOG"
}
cpu_snap() {
	rm -f "$VAR/cpu.after" "$VAR/q.after" "$VAR/t.after"
	date +%s.%N >"$VAR/t.before"; cpu_ticks "$1" "${2:-0}" >"$VAR/cpu.before"; questions >"$VAR/q.before"
}
cpu_after() { date +%s.%N >"$VAR/t.after"; cpu_ticks "$1" "${2:-0}" >"$VAR/cpu.after"; questions >"$VAR/q.after"; }
# Seconds between the two samples of the last window.
window_s() { f "$(cat "$VAR/t.after") - $(cat "$VAR/t.before")" 3; }
# cpu_window INSTANCE: in the background, samples at the load program's
# window markers (mark.start, mark.end) instead of around the whole run.
cpu_window() {
	rm -f "$VAR/mark.start" "$VAR/mark.end" "$VAR/cpu.after" "$VAR/q.after"
	(
		for _ in $(seq 1 30000); do [ -e "$VAR/mark.start" ] && break; sleep 0.02; done
		[ -e "$VAR/mark.start" ] || exit 0
		cpu_snap "$1" 1
		for _ in $(seq 1 30000); do [ -e "$VAR/mark.end" ] && break; sleep 0.02; done
		[ -e "$VAR/mark.end" ] && cpu_after "$1" 1
	) &
	WATCHER=$!
}
# cpu_report INSTANCE LABEL OPS: CPU ms per operation since cpu_snap.
cpu_report() {
	local hz; hz="$(getconf CLK_TCK)"
	CPU_OP=""
	[ -n "$3" ] && [ "${3%.*}" -gt 0 ] 2>/dev/null || return 0
	local line after
	if [ -s "$VAR/cpu.after" ]; then after="$(cat "$VAR/cpu.after")"; else after="$(cpu_ticks "$1")"; fi
	line="$( { cat "$VAR/cpu.before"; echo "--"; echo "$after"; } | awk -v ops="$3" -v hz="$hz" '
		$1 == "--" { after = 1; next }
		!after { bt[$1] = $3; bn[$1] = $4; next }
		{
			tick = 1e9 / hz
			dt = ($1 in bt) ? ($3 - bt[$1]) * tick : $3 * tick
			fast = $4 < 0 || (($1 in bn) && bn[$1] < 0)
			dn = ($1 in bn) ? $4 - bn[$1] : $4
			diff = dn - dt; if (diff < 0) diff = -diff
			d = (!fast && dn >= 0 && diff <= 2 * tick) ? dn : dt
			if (!fast && d != dn && index(coarse, " " $2 ",") == 0) coarse = coarse " " $2 ","
			ns[$2] += d; tot += d
		}
		END {
			n = 0; for (k in ns) names[++n] = k
			for (i = 2; i <= n; i++) for (j = i; j > 1 && names[j - 1] > names[j]; j--) { x = names[j]; names[j] = names[j - 1]; names[j - 1] = x }
			for (i = 1; i <= n; i++) out = out sprintf("%s %.3f, ", names[i], ns[names[i]] / 1e6 / ops)
			printf "%stotal %.3f", out, tot / 1e6 / ops
			if (coarse != "") printf " (in ticks:%s)", substr(coarse, 1, length(coarse) - 1)
		}')"
	CPU_OP="$(echo "$line" | sed -n 's/.*total \([0-9.]*\).*/\1/p')"
	local q qb
	if [ -s "$VAR/q.after" ]; then q="$(cat "$VAR/q.after")"; else q="$(questions)"; fi
	qb="$(cat "$VAR/q.before" 2>/dev/null)"
	q="$(f "(${q:-0} - ${qb:-0}) / $3" 1)"
	printf '%s\t%s\t%s\t%s\n' "$2" "$3" "$q" "$line" >>"$CPU"
}

# Bulk-loads N messages into conversation CID (members A and B) with SQL,
# in batches, plus one message.new event per member per message so both
# tables have the size a real history of N messages would give them.
bulk_load() {
	local cid="$1" a="$2" b="$3" n="$4" step=250000 lo=1
	while [ "$lo" -le "$n" ]; do
		local hi=$((lo + step - 1)); [ "$hi" -gt "$n" ] && hi="$n"
		sql "INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body, created_at)
		     SELECT $cid, s.seq, IF(s.seq % 2 = 1, $a, $b), CONCAT('bulk-$cid-', s.seq), 'text',
		            CONCAT('history message ', s.seq, ' lorem ipsum dolor sit amet'),
		            NOW(3) - INTERVAL ($n - s.seq) SECOND
		     FROM seq_${lo}_to_${hi} s" || return 1
		lo=$((hi + 1))
	done
	sql "UPDATE conversations c SET c.last_seq = $n, c.last_activity_at = NOW(3), c.updated_at = NOW(3) WHERE c.id = $cid" || return 1
	local u
	for u in "$a" "$b"; do
		sql "INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, created_at)
		     SELECT $u, h.last_seq + m.seq, 'message.new', $cid, m.id, m.created_at
		     FROM messages m JOIN user_heads h ON h.user_id = $u
		     WHERE m.conversation_id = $cid AND m.client_id LIKE 'bulk-%';
		     UPDATE user_heads SET last_seq = last_seq + $n WHERE user_id = $u" || return 1
	done
	flush_cache
}

# --- users -------------------------------------------------------------------
# Layout of the users file: 0-7 history and fan-out, then CLIENTS pairs of
# senders, then RECEIVERS pairs, then group members, then idle waiters. Idle
# waiters share no conversation with anyone: going online tells nobody.
maxidle=$((HOLD - RECV))
for k in $IDLE_LIST; do [ "$k" -gt "$maxidle" ] && maxidle="$k"; done
maxgroup=1
for g in $GROUP_SIZES; do [ "$((g - 1))" -gt "$maxgroup" ] && maxgroup=$((g - 1)); done
SEND_OFF=8
RECV_OFF=$((SEND_OFF + 2 * CLIENTS))
GROUP_OFF=$((RECV_OFF + 2 * RECV))
IDLE_OFF=$((GROUP_OFF + maxgroup))
NUSERS=$((IDLE_OFF + maxidle))
say "registering $NUSERS users through the API"
run register "$B/load" register -p "$MESSENGER_PORT" -n "$NUSERS" -c 8 -x "b$(date +%s | tail -c 6)u" -o "$USERS" \
	|| { echo "bench: cannot register users; see $LOG" >&2; exit 1; }
uid() { sed -n "$(( $1 + 1 ))p" "$USERS" | cut -d' ' -f1; }

HAVE_CHAT=0
CID_SMALL="$(cid_of "$(conv -i 0 -j 1)")"
[ -n "$CID_SMALL" ] && HAVE_CHAT=1
[ "$HAVE_CHAT" = 1 ] || say "POST /conversations is not available: message scenarios are skipped"
HAVE_EVENTS=0
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(sed -n 1p "$USERS" | cut -d' ' -f2)" \
	"http://127.0.0.1:$MESSENGER_PORT/api/v1/events")
[ "$code" = 200 ] && HAVE_EVENTS=1
[ "$HAVE_EVENTS" = 1 ] || say "GET /events answers $code: delivery scenarios are skipped"

# --- floor B and durable sends -----------------------------------------------
# Both move by 10-20 % from one run to the next on a shared VM, so they are
# measured SEND_ROUNDS times, floor B then sends back to back (a drift of the
# host hits both of a round alike), and the round with the median ratio is
# the one reported, the other rounds' ratios beside it.
FLOOR_B=""; FLOOR_B_CPU=""; SEND_CPU=""
floor_b() {	# -> FB, FB_P50, FB_P99, FB_CPU (empty on failure), CPU rows into $CPU
	FB=""; FB_CPU=""
	say "floor B: INSERT + COMMIT, $CLIENTS threads"
	cpu_snap main
	if run floorB "$B/floor_insert" -S "$SOCK" -t "$CLIENTS" -d "$DUR" -w "$WARM"; then
		FB="$(get inserts_per_s)"; FB_P50="$(get p50_ms)"; FB_P99="$(get p99_ms)"
		cpu_report main "floor B insert+commit" "$(get ok)"
		FB_CPU="$CPU_OP"
	fi
}
if want sends && [ "$HAVE_CHAT" = 1 ]; then
	CPU_MAIN="$CPU"
	ratios=""; rounds_ok=0; rounds_failed=0; failed_errors=""
	rm -f "$VAR/send.rounds"
	for round in $(seq 1 "$SEND_ROUNDS"); do
		CPU="$VAR/cpu.round$round"; : >"$CPU"
		# The round before left dirty pages: written back first, so that
		# neither floor B nor the sends pay for them.
		[ "$round" -gt 1 ] && settle_innodb
		floor_b
		say "durable sends, $CLIENTS senders over 1:1 conversations (round $round of $SEND_ROUNDS)"
		cpu_snap main
		sendq_before="$(sendq_stats)"
		if [ -n "$FB" ] && run sends "$B/load" send -p "$MESSENGER_PORT" -u "$USERS" -o "$SEND_OFF" -c "$CLIENTS" -d "$DUR" -w "$WARM"; then
			v="$(get sends_per_s)"
			cpu_report main "send (1:1, $CLIENTS clients)" "$(get ok)"
			echo "send queue over the round (warm-up included): $(sendq_delta "$sendq_before" "$(sendq_stats)")" >>"$LOG"
			r="$(f "$v / $FB" 3)"
			rounds_ok=$((rounds_ok + 1))
			ratios="$ratios $r"
			# '|'-separated: an empty field must not shift the others.
			printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$r" "$round" "$v" "$(get p50_ms)" "$(get p99_ms)" \
				"$CPU_OP" "$FB" "$FB_P50" "$FB_P99" "$FB_CPU" >>"$VAR/send.rounds"
		else
			rounds_failed=$((rounds_failed + 1))
			failed_errors="$(get errors)"
		fi
	done
	CPU="$CPU_MAIN"
	if [ "$rounds_ok" -gt 0 ]; then
		# The median round (the lower middle one of an even count).
		IFS='|' read -r r round v p50 p99 SEND_CPU FLOOR_B fb50 fb99 FLOOR_B_CPU < <(sort -t'|' -k1,1n "$VAR/send.rounds" | sed -n "$(( (rounds_ok + 1) / 2 ))p")
		cat "$VAR/cpu.round$round" >>"$CPU"
		row "floor B: INSERT+COMMIT/s, $CLIENTS conns" "$FLOOR_B (p50 $fb50 / p99 $fb99 ms)" "-" "-" "-" "-"
		r2="$(f "$r")"
		# A round whose sends failed fails the figure, whatever the others gave.
		ok=0; ge "$r2" 0.5 && [ "$rounds_failed" = 0 ] && ok=1
		others=""
		[ "$rounds_ok" -gt 1 ] && others="; median of $rounds_ok rounds, ratios$(echo "$ratios" | tr ' ' '\n' | sort -n | awk 'NF { printf "%s %.2f", (n++ ? "," : ""), $1 }')"
		[ "$rounds_failed" -gt 0 ] && others="$others; $rounds_failed round(s) failed (${failed_errors:-?} errors)"
		row "sends/s, $CLIENTS clients (1:1)" "$v (p50 $p50 / p99 $p99 ms; CPU ${SEND_CPU:-?} ms/send$others)" "$FLOOR_B (B; CPU ${FLOOR_B_CPU:-?} ms/insert)" "$r2" ">= 0.50 x B" "$(verdict $ok)"
	else
		row "sends/s, $CLIENTS clients (1:1)" "failed (${failed_errors:-?} errors)" "${FB:-?} (B)" "-" ">= 0.50 x B" "MISS"
	fi
	rm -f "$VAR/send.rounds" "$VAR"/cpu.round*
elif want floors || want sends; then
	floor_b
	if [ -n "$FB" ]; then
		FLOOR_B="$FB"; FLOOR_B_CPU="$FB_CPU"
		row "floor B: INSERT+COMMIT/s, $CLIENTS conns" "$FLOOR_B (p50 $FB_P50 / p99 $FB_P99 ms)" "-" "-" "-" "-"
	fi
fi

# --- history page vs floor A ---------------------------------------------------
HIST_RPS=""; HIST_P50=""; HIST_CPU=""; SEND_SMALL=""; SEND_SMALL_CPU=""
history_rps() {	# CID LABEL USER -> sets HR (req/s) and HP (p50 ms), HB (body bytes)
	HR=""; HP=""; HB=""
	flush_cache
	cpu_snap main
	run "history-$2" "$B/load" get -p "$MESSENGER_PORT" -u "$USERS" -i "$3" -c "$HCONNS" -d "$DUR" -w "$WARM" \
		-P "/api/v1/conversations/$1/messages?limit=50" || return 1
	HR="$(get requests_per_s)"; HP="$(get p50_ms)"; HB="$(get body_bytes)"
	cpu_report main "history page ($2)" "$(get ok)"
	HC="$CPU_OP"
}
if want history && [ "$HAVE_CHAT" = 1 ]; then
	say "history page of 50 (warm cache) and floor A"
	cpu_snap main
	run fill "$B/load" sendseq -p "$MESSENGER_PORT" -u "$USERS" -i 0 -C "$CID_SMALL" -n "$GROWTH_N" -w 5
	SEND_SMALL="$(get send_ms_p50)"
	cpu_report main "send 1:1, small history (sequential)" "$(( $(get n) + 5 ))"
	SEND_SMALL_CPU="$CPU_OP"
	if history_rps "$CID_SMALL" small 0; then
		HIST_RPS="$HR"; HIST_P50="$HP"; HIST_CPU="$HC"
		cpu_snap floor
		run floorA "$B/load" get -p "$FLOOR_PORT" -c "$HCONNS" -d "$DUR" -w "$WARM" -P "/api/v1/floor?size=${HB%.*}"
		FA="$(get requests_per_s)"
		cpu_report floor "floor A (trivial responder)" "$(get ok)"
		FA_CPU="$CPU_OP"
		if [ -n "$FA" ]; then r="$(f "$HR / $FA")"; else r="-"; fi
		ok=0; [ "$r" != "-" ] && ge "$r" 0.5 && ok=1
		row "history page (50 msgs, ${HB%.*} B), $HCONNS conns, req/s" "$HR (p50 $HP ms; CPU $HC ms/page)" "${FA:-?} (A; CPU ${FA_CPU:-?} ms/req)" "$r" ">= 0.50 x A" "$(verdict $ok)"
	else
		row "history page (50 msgs), req/s" "failed" "-" "-" ">= 0.50 x A" "MISS"
	fi
fi

# --- fan-out cost --------------------------------------------------------------
if want fanout && [ "$HAVE_CHAT" = 1 ]; then
	say "cost of one send by group size"
	CID_DIRECT="$(cid_of "$(conv -i 6 -j 7)")"
	cpu_snap main
	run fan-1to1 "$B/load" sendseq -p "$MESSENGER_PORT" -u "$USERS" -i 6 -C "$CID_DIRECT" -n "$FAN_N" -w 5
	BASE="$(get send_ms_mean)"
	cpu_report main "send 1:1 (sequential)" "$((FAN_N + 5))"
	BASE_CPU="$CPU_OP"
	row "send latency 1:1 (mean, sequential)" "$BASE ms (p50 $(get send_ms_p50) / p99 $(get send_ms_p99); CPU ${BASE_CPU:-?} ms)" "-" "1.0" "-" "-"
	for g in $GROUP_SIZES; do
		cid="$(cid_of "$(conv -i 6 -j "$GROUP_OFF" -s "$g")")"
		if [ -z "$cid" ]; then row "send to a group of $g" "group not created" "$BASE ms (1:1)" "-" "-" "MISS"; continue; fi
		# At most about 100,000 event rows per size: more leaves InnoDB
		# flushing into the next scenario.
		n="$FAN_N"; [ $((g * n)) -gt 100000 ] && n=$((100000 / g)); [ "$n" -lt 20 ] && n=20
		cpu_snap main
		if run "fan-$g" "$B/load" sendseq -p "$MESSENGER_PORT" -u "$USERS" -i 6 -C "$cid" -n "$n" -w 5; then
			v="$(get send_ms_mean)"; r="$(f "$v / $BASE" 1)"
			cpu_report main "send to a group of $g" "$((n + 5))"
			cr="-"; [ -n "$BASE_CPU" ] && [ -n "$CPU_OP" ] && cr="$(f "$CPU_OP / $BASE_CPU" 1)"
			tgt="-"; vd="-"
			if [ "$g" = 1000 ]; then tgt="<= 20 x 1:1"; ok=0; le "$r" 20 && ok=1; vd="$(verdict $ok)"; fi
			row "send to a group of $g (mean)" "$v ms (p99 $(get send_ms_p99); CPU $CPU_OP ms = ${cr}x 1:1)" "$BASE ms (1:1)" "$r" "$tgt" "$vd"
		else
			row "send to a group of $g" "failed" "$BASE ms (1:1)" "-" "-" "MISS"
		fi
	done
	settle_innodb
fi

# --- delivery, RSS per waiter, holding waiters ---------------------------------
delivery() {	# TRANSPORT IDLE [LABEL] -> row(s)
	local tr="$1" k="$2" label="${3:-}" flag=""
	[ "$tr" = sse ] && flag="--sse"
	say "delivery over $tr at $RATE msg/s with $k idle waiters $label"
	fresh_web
	cpu_window main
	run "delivery-$tr-$k" "$B/load" delivery -p "$MESSENGER_PORT" -u "$USERS" -k "$k" -K "$IDLE_OFF" \
		-r "$RECV" -o "$RECV_OFF" -R "$RATE" -c 32 -d "$DUR" -w "$WARM" --pidfile "$PIDFILE" \
		--lp-timeout "$LP_TIMEOUT" --mark "$VAR" --disk "$VAR/mysql" --trace "$VAR/trace-$tr-$k" $flag
	local rc=$?
	# The sampler finishes by itself once the end marker exists; otherwise
	# the run ended early and there is nothing to sample.
	[ -e "$VAR/mark.end" ] || kill "$WATCHER" 2>/dev/null
	wait "$WATCHER" 2>/dev/null
	if [ -z "$R" ]; then row "delivery $tr, $k idle" "failed" "-" "-" "p99 <= 5, max <= 25 ms" "MISS"; return; fi
	# The samples are taken a moment after the markers: normalise by the
	# time between them and the acknowledged rate.
	if [ -s "$VAR/cpu.after" ]; then
		cpu_report main "message delivered ($tr, $k idle$label; includes the send)" "$(f "$(get achieved_per_s) * $(window_s)" 0)"
	fi
	local p99 max lost errs ok
	p99="$(get p99_ms)"; max="$(get max_ms)"; lost="$(get undelivered)"
	errs=$(( $(get idle_errors) + $(get recv_errors) + $(get send_errors) ))
	ok=0; [ "$rc" = 0 ] && le "$p99" 5 && le "$max" 25 && [ "$lost" = 0 ] && ge "$(get achieved_per_s)" "$(f "$RATE * 0.95")" && ok=1
	row "delivery $tr, $RATE msg/s, $k idle + $RECV active$label" \
		"p50 $(get p50_ms) / p99 $p99 / max $max ms (after ack: p99 $(get after_ack_p99_ms)); achieved $(get achieved_per_s) msg/s; undelivered after 10 s: $lost; errors $errs$(host_note)" \
		"-" "-" "p99 <= 5, max <= 25 ms" "$(verdict $ok)"
	local per; per="$(f "$(get rss_per_waiter_bytes) / 1024" 1)"
	ok=0; le "$per" 32 && ok=1
	[ -n "$label" ] && return
	row "RSS per idle waiter ($tr, $((k + RECV)) waiters)" "$per KiB (lighttpd $(f "$(get lighttpd_per_waiter_bytes) / 1024" 1), events.fcgi $(f "$(get events_per_waiter_bytes) / 1024" 1))" \
		"-" "-" "<= 32 KiB" "$(verdict $ok)"
}
# What the host did during a run (tests/bench/host.c): the database disk's
# stalls (5 ms or more with a request in flight and none completed) and the
# CPUs' pauses (5 ms or more in which one ran nothing of ours: on a VM, the
# hypervisor took it), and how many deliveries over 5 ms were on their way
# during one.
host_note() {
	local d=""
	[ "$(get disk_watch)" = 1 ] && d="disk stalls >= 5 ms: $(get disk_stalls) (longest $(get disk_stall_max_ms) ms), "
	printf '; the host: %sCPU pauses >= 5 ms: %s (longest %s ms)' "$d" "$(get cpu_pauses)" "$(get cpu_pause_max_ms)"
	[ -n "$(get slow_over_5ms)" ] && printf '; deliveries over 5 ms: %s, during a disk stall or CPU pause: %s' \
		"$(get slow_over_5ms)" "$(get slow_in_either)"
	return 0
}
# Floor C: the host alone, at the delivery rate: a 4 KiB O_DIRECT write and
# fdatasync per message, as a lone commit asks of the disk, with nothing
# else running (tests/bench/floor_disk.c).
floor_c() {
	say "floor C: the host alone, $RATE durable writes/s"
	if run floorC "$B/floor_disk" -D "$VAR/mysql" -r "$RATE" -d "$DUR" -w "$WARM"; then
		row "floor C: the host alone, 4 KiB write + fdatasync at $RATE/s" \
			"p50 $(get p50_ms) / p99 $(get p99_ms) / max $(get max_ms) ms$(host_note)" \
			"-" "-" "-" "-"
	else
		row "floor C: the host alone" "failed" "-" "-" "-" "-"
	fi
}
# A fresh lighttpd and events.fcgi, so that the RSS before the waiters connect
# holds nothing left over from an earlier run, on a database that has written
# back the earlier run's pages.
fresh_web() {
	settle_innodb
	"$ROOT/scripts/stack.sh" web-stop main >>"$LOG" 2>&1
	"$ROOT/scripts/stack.sh" web-start main "$MESSENGER_PORT" >>"$LOG" 2>&1
}
if want delivery && [ "$HAVE_CHAT" = 1 ] && [ "$HAVE_EVENTS" = 1 ]; then
	settle_innodb
	floor_c
	for tr in ${BENCH_TRANSPORTS:-longpoll sse}; do
		for k in $IDLE_LIST; do delivery "$tr" "$k"; done
	done
	# Diagnostic: the same run with the cross-host wake-up watcher off
	# (wake_cross_host = 0: a single web host needs only the local doorbell).
	# Run at a rate the machine can carry, with the watcher on, then off.
	if [ "${BENCH_DIAG:-0}" = 1 ]; then
		kmax=0; for k in $IDLE_LIST; do [ "$k" -gt "$kmax" ] && kmax="$k"; done
		rate_saved="$RATE"; RATE="$DIAG_RATE"
		delivery longpoll "$kmax" " [diagnostic: wake_cross_host = 1 (default)]"
		echo "wake_cross_host = 0" >>"$VAR/local.conf"
		delivery longpoll "$kmax" " [diagnostic: wake_cross_host = 0]"
		sed -i '/^wake_cross_host/d' "$VAR/local.conf"
		RATE="$rate_saved"
	fi
	k=$((HOLD - RECV))
	[ "$HOLD" -gt 0 ] && {
	say "holding $HOLD concurrent waiters (long-poll) under $RATE msg/s"
	fresh_web
	run "hold-$HOLD" "$B/load" delivery -p "$MESSENGER_PORT" -u "$USERS" -k "$k" -K "$IDLE_OFF" \
		-r "$RECV" -o "$RECV_OFF" -R "$RATE" -c 32 -d "$DUR" -w "$WARM" --pidfile "$PIDFILE" \
		--lp-timeout "$LP_TIMEOUT"
	rc=$?
	if [ -n "$R" ]; then
		errs=$(( $(get idle_errors) + $(get recv_errors) + $(get send_errors) ))
		ok=0; [ "$rc" = 0 ] && [ "$errs" = 0 ] && [ "$(get idle_open)" = "$k" ] && ok=1
		row "$HOLD concurrent waiters held (${DUR}s at $RATE msg/s)" \
			"$(get idle_open)/$k idle still open, errors $errs, undelivered $(get undelivered); p99 $(get p99_ms) ms" "-" "-" "0 errors" "$(verdict $ok)"
		per="$(f "$(get rss_per_waiter_bytes) / 1024" 1)"; ok=0; le "$per" 32 && ok=1
		row "RSS per idle waiter (longpoll, $HOLD waiters)" "$per KiB (lighttpd $(f "$(get lighttpd_per_waiter_bytes) / 1024" 1), events.fcgi $(f "$(get events_per_waiter_bytes) / 1024" 1))" \
			"-" "-" "<= 32 KiB" "$(verdict $ok)"
	else
		row "$HOLD concurrent waiters held" "failed" "-" "-" "0 errors" "MISS"
	fi
	}
	# Parked requests outlive their clients until their timeout (and keep
	# being woken): start the next scenarios on a fresh events process.
	fresh_web
fi

# --- idle upkeep: what held waiters cost while nothing happens ---------------
# BENCH_HOLD - BENCH_RECEIVERS idle waiters and one receiver of 1 msg/s for UPKEEP_DUR
# seconds: long-poll with the web app's 25 s timeout (each waiter asks again
# about every 25 s), SSE with its heartbeats (every 7.5-15 s); both renew
# presence every 20 s. The CPU of every server process over the window,
# per 1,000 waiters and second, says how many waiters a host whose
# descriptor limit is higher than this machine's could hold.
upkeep() {	# TRANSPORT
	local tr="$1" flag="" k=$((HOLD - RECV))
	[ "$tr" = sse ] && flag="--sse"
	say "idle upkeep over $tr: $k waiters for ${UPKEEP_DUR}s"
	fresh_web
	cpu_window main
	run "upkeep-$tr" "$B/load" delivery -p "$MESSENGER_PORT" -u "$USERS" -k "$k" -K "$IDLE_OFF" \
		-r 1 -o "$RECV_OFF" -R 1 -c 1 -d "$UPKEEP_DUR" -w "$WARM" --pidfile "$PIDFILE" \
		--lp-timeout 25 --mark "$VAR" $flag
	local rc=$?
	[ -e "$VAR/mark.end" ] || kill "$WATCHER" 2>/dev/null
	wait "$WATCHER" 2>/dev/null
	if [ "$rc" != 0 ] || [ -z "$R" ] || [ ! -s "$VAR/cpu.after" ]; then
		row "idle upkeep ($tr, $k waiters)" "failed" "-" "-" "-" "MISS"
		return
	fi
	cpu_report main "idle upkeep ($tr): per 1,000 waiters and second" "$(f "$(window_s) * $k / 1000" 0)"
	row "idle upkeep ($tr, $k waiters, ${UPKEEP_DUR}s)" \
		"$CPU_OP ms of CPU per second per 1,000 waiters ($(f "$CPU_OP / 10" 2) % of a core); errors $(( $(get idle_errors) + $(get recv_errors) ))" \
		"-" "-" "-" "-"
}
if want upkeep && [ "$HOLD" -gt 0 ] && [ "$HAVE_CHAT" = 1 ] && [ "$HAVE_EVENTS" = 1 ]; then
	for tr in ${BENCH_TRANSPORTS:-longpoll sse}; do upkeep "$tr"; done
	fresh_web
fi

# --- history size ----------------------------------------------------------------
if want big && [ "$HAVE_CHAT" = 1 ]; then
	i=0
	for n in $BIG; do
		a=$((2 + 2 * i)); b=$((3 + 2 * i)); i=$((i + 1))
		[ "$i" -gt 2 ] && break
		cid="$(cid_of "$(conv -i "$a" -j "$b")")"
		say "bulk-loading $n messages with SQL"
		t=$(date +%s)
		if [ -z "$cid" ] || ! bulk_load "$cid" "$(uid "$a")" "$(uid "$b")" "$n" >>"$LOG" 2>&1; then
			row "history with $n messages" "bulk load failed" "-" "-" "-" "MISS"; continue
		fi
		echo "bulk load of $n: $(( $(date +%s) - t )) s" >>"$LOG"
		# warm the cache/buffer pool once, then measure
		# Growth is judged on CPU time per operation (all server processes),
		# which a busy machine disturbs far less than throughput or latency.
		if history_rps "$cid" "$n" "$a"; then
			ok=0; r="-"
			if [ -n "$HIST_CPU" ] && [ -n "$HC" ]; then r="$(f "$HC / $HIST_CPU")"; le "$r" 1.25 && ok=1; fi
			row "history page, $n msgs stored: CPU/page" "$HC ms ($HR req/s, p50 $HP ms)" "${HIST_CPU:-?} ms ($HIST_RPS req/s, small)" "$r" "<= 1.25 x small" "$(verdict $ok)"
		fi
		# The small conversation is measured again right before, in the
		# same state (the bulk load leaves InnoDB flushing for a while).
		cpu_snap main
		run "send-small-$n" "$B/load" sendseq -p "$MESSENGER_PORT" -u "$USERS" -i 0 -C "$CID_SMALL" -n "$GROWTH_N" -w 5
		vs="$(get send_ms_p50)"
		cpu_report main "send 1:1, small history, after loading $n (sequential)" "$(( $(get n) + 5 ))"
		base_cpu="$CPU_OP"
		cpu_snap main
		run "send-$n" "$B/load" sendseq -p "$MESSENGER_PORT" -u "$USERS" -i "$a" -C "$cid" -n "$GROWTH_N" -w 5
		v="$(get send_ms_p50)"
		cpu_report main "send 1:1, $n msgs stored (sequential)" "$(( $(get n) + 5 ))"
		if [ -n "$v" ]; then
			ok=0; r="-"
			if [ -n "$base_cpu" ] && [ -n "$CPU_OP" ]; then r="$(f "$CPU_OP / $base_cpu")"; le "$r" 1.25 && ok=1; fi
			row "send, $n msgs stored: CPU/send" "$CPU_OP ms (p50 $v ms)" "${base_cpu:-?} ms (p50 ${vs:-?} ms, small, measured just before)" "$r" "<= 1.25 x small" "$(verdict $ok)"
		fi
	done
fi

# --- report ------------------------------------------------------------------------
ELAPSED=$(( $(date +%s) - T0 ))
# Aligned columns (column(1) when present, else tabs).
cols() { if command -v column >/dev/null 2>&1; then column -t -s $'\t'; else cat; fi; }
table_text() {
	{ printf 'figure\tvalue\tfloor\tratio\ttarget\tverdict\n'; cat "$RES"; } | cols
}
table_md() {
	echo "| figure | value | floor | ratio | target | verdict |"
	echo "|---|---|---|---|---|---|"
	sed 's/\t/ | /g; s/^/| /; s/$/ |/' "$RES"
}
echo
table_text
echo
echo "CPU ms per operation:"
cols <"$CPU"
echo
CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MEM="$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
{
	echo "# Benchmarks"
	echo
	echo "Generated by \`make bench\` (scripts/bench.sh) on $(date -u '+%Y-%m-%d %H:%M UTC') in ${ELAPSED} s."
	echo
	echo "## Machine"
	echo
	echo "- CPU: $CPU_MODEL, $(nproc) cores ($(uname -m)); memory $MEM; kernel $(uname -r)"
	echo "- load average at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- MariaDB $(mariadbd --version 2>/dev/null | grep -o 'Ver [^ ]*' | cut -d' ' -f2), $(lighttpd -v 2>/dev/null | head -1 | cut -d' ' -f1), memcached $(memcached -V 2>/dev/null | cut -d' ' -f2)"
	echo
	echo "## Command"
	echo
	echo '```'
	env | grep -E '^BENCH_' | sort | tr '\n' ' '
	echo "make bench"
	echo '```'
	echo
	echo "Sizes: ${DUR} s per measurement after ${WARM} s warm-up; $CLIENTS senders; $HCONNS history"
	echo "connections; delivery at $RATE msg/s to $RECV active receivers with idle waiters: $IDLE_LIST;"
	echo "$HOLD held waiters; groups: $GROUP_SIZES ($FAN_N sends each, at most 100,000 event rows per size); bulk-loaded histories: $BIG."
	echo
	echo "## Results"
	echo
	table_md
	echo
	echo "### CPU time per operation (ms; sequential runs: per-thread run time from /proc/PID/task/TID/schedstat, or clock ticks of $(( 1000 / $(getconf CLK_TCK) )) ms from /proc/PID/stat where noted; timed windows of thousands of operations: clock ticks)"
	echo
	echo "| operation | count | SQL statements per operation | CPU ms per operation by process |"
	echo "|---|---|---|---|"
	sed 's/\t/ | /g; s/^/| /; s/$/ |/' "$CPU"
	echo
	cat "$ROOT/tests/bench/NOTES.md"
} >"$ROOT/BENCHMARKS.md"
echo "bench: wrote BENCHMARKS.md (log: $LOG)" >&2
misses=$(grep -c 'MISS$' "$RES" || true)
echo "bench: $(grep -c 'pass$' "$RES" || true) targets met, $misses missed"
exit 0
