#!/bin/bash
# `make test`: everything, against real servers started here and stopped at
# the end (pass or fail). Ends with one line "N passed, N failed".
#   1. C unit tests (release build)
#   2. OpenAPI lint, and ESLint over the web app and the tests
#   3. API tests (node:test) against the release build
#   4. the same API tests against the ASan/UBSan build; any sanitizer report fails
#   5. browser tests (Playwright + Debian's Chromium), when present
# Environment: MESSENGER_TEST_PORT (18080; memcached listens on var/test/memcached.sock),
# TESTS="file ..." to run only some API test files.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export MESSENGER_VAR="$ROOT/var/test"
export MESSENGER_PORT="${MESSENGER_TEST_PORT:-18080}"
export MESSENGER_CRON=0	# tests run the sweeper themselves, when they mean to
export MESSENGER_URL="http://127.0.0.1:$MESSENGER_PORT"
export MESSENGER_DB_SOCKET="$MESSENGER_VAR/mysql.sock"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$MESSENGER_VAR/asan:exitcode=23"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$MESSENGER_VAR/ubsan"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
PASS=0; FAIL=0
OUT="$ROOT/tests/output"
mkdir -p "$OUT" "$MESSENGER_VAR"
rm -rf "$MESSENGER_VAR"/lock-*

count() { PASS=$((PASS + $1)); FAIL=$((FAIL + $2)); }
cleanup() { "$ROOT/scripts/stack.sh" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

step() { echo; echo "== $*"; }

step "build (release and sanitizer)"
if ! make -s all >"$OUT/build.log" 2>&1 || ! make -s asan >>"$OUT/build.log" 2>&1; then
	cat "$OUT/build.log"; echo "0 passed, 1 failed"; exit 1
fi

step "unit tests"
make -s check >"$OUT/unit.log" 2>&1
u_rc=$?
tail -20 "$OUT/unit.log"
u_pass=$(grep -c "checks, 0 failed" "$OUT/unit.log" || true)
u_fail=$(grep -c "^FAILED" "$OUT/unit.log" || true)
# A unit test that does not even build counts as a failure.
if [ "$u_rc" -ne 0 ] && [ "$u_fail" -eq 0 ]; then u_fail=1; fi
count "$u_pass" "$u_fail"

step "npm packages for tests"
if [ ! -d tests/node_modules/ajv ] || [ tests/package-lock.json -nt tests/node_modules/.package-lock.json ]; then
	(cd tests && npm ci --no-audit --no-fund --loglevel=error >"$OUT/npm.log" 2>&1) || { cat "$OUT/npm.log"; count 0 1; }
fi

step "OpenAPI lint"
if (cd tests && ./node_modules/.bin/redocly lint ../www/openapi.yaml --format=stylish >"$OUT/lint.log" 2>&1); then
	count 1 0; echo "openapi.yaml: valid"
else
	grep -E "error|warning" "$OUT/lint.log" | head -30; count 0 1
fi

step "JavaScript lint (web app and tests)"
if tests/node_modules/.bin/eslint -c tests/eslint.config.mjs www/js www/docs tests/api tests/browser >"$OUT/eslint.log" 2>&1; then
	count 1 0; echo "no problems"
else
	head -40 "$OUT/eslint.log"; count 0 1
fi

# Test configuration: defaults, plus what the tests need to see in seconds.
# Each run registers a few hundred users from 127.0.0.1, twice.
cat > "$MESSENGER_VAR/local.conf" <<CONF
event_retention_days = 14
register_per_ip_per_hour = 100000
health_sends = 1
health_waiting = 1
events_safety_read_seconds = 5
CONF

# Empty rate-limit windows (every test registers and logs in from 127.0.0.1).
fresh_limits() { mariadb --no-defaults -S "$MESSENGER_DB_SOCKET" -uroot messenger -e "DELETE FROM rate_limits"; }

run_api() {
	local label="$1"
	local files
	# Each run starts with empty rate-limit windows: the runs share one
	# database and all register and log in from 127.0.0.1, so a second run
	# (or another make test) within login_window_seconds would otherwise
	# meet the first one's login_per_ip count. The limits are tested
	# within a run.
	fresh_limits
	if [ -n "${TESTS:-}" ]; then files="$TESTS"; else files="$(ls tests/api/*.test.mjs)"; fi
	# The operations and statuses the run saw, for tests/api/coverage.mjs.
	rm -rf "$OUT/seen-$label"; mkdir -p "$OUT/seen-$label"
	# shellcheck disable=SC2086
	MESSENGER_OPS_DIR="$OUT/seen-$label" \
		node --test --test-concurrency=4 --test-reporter=tap $files >"$OUT/api-$label.tap" 2>&1
	local p f
	p=$(grep -E "^# pass " "$OUT/api-$label.tap" | awk '{print $3}')
	f=$(grep -E "^# fail " "$OUT/api-$label.tap" | awk '{print $3}')
	p=${p:-0}; f=${f:-1}
	grep -E "^not ok|^# (pass|fail|tests)" "$OUT/api-$label.tap" | head -40
	if [ "$f" != 0 ]; then
		grep -B2 -A25 "^ *not ok" "$OUT/api-$label.tap" | grep -E "not ok|error:|message|expected|actual|OpenAPI|at .*test.mjs" | head -60
	fi
	count "$p" "$f"
}

step "API tests (release build)"
# Servers a killed earlier run left (an older build, perhaps the sanitizer
# one) must not be what this run tests.
"$ROOT/scripts/stack.sh" stop >/dev/null 2>&1 || true
MESSENGER_BIN="$ROOT/build/release" "$ROOT/scripts/stack.sh" start >"$OUT/stack.log" 2>&1 || { cat "$OUT/stack.log"; echo "$PASS passed, $((FAIL+1)) failed"; exit 1; }
run_api release
# Every operation of the OpenAPI document was answered at least once with
# a success and once with a client error (a whole run only).
if [ -z "${TESTS:-}" ]; then
	step "OpenAPI coverage of the API tests"
	if node tests/api/coverage.mjs "$OUT/seen-release"; then count 1 0; else count 0 1; fi
fi

step "API tests (ASan/UBSan build)"
"$ROOT/scripts/stack.sh" web-stop main >/dev/null 2>&1
rm -f "$MESSENGER_VAR"/asan.* "$MESSENGER_VAR"/ubsan.*
# A report can also land on the processes' standard error (their app logs):
# UBSan's, before it ends the process. Counted before and after the run.
sanitizer_lines() { cat "$MESSENGER_VAR"/*.app.log 2>/dev/null | grep -cE "runtime error:|ERROR: (Address|Leak)Sanitizer"; }
san_before=$(sanitizer_lines)
MESSENGER_BIN="$ROOT/build/asan" "$ROOT/scripts/stack.sh" web-start main "$MESSENGER_PORT" >>"$OUT/stack.log" 2>&1 || { tail "$OUT/stack.log"; count 0 1; }
MESSENGER_BIN="$ROOT/build/asan" run_api asan
# Stop lighttpd so the sanitized processes exit and write their leak reports
# (they exit through exit() on SIGTERM in this build; wait until they are gone).
"$ROOT/scripts/stack.sh" web-stop main >/dev/null 2>&1
for _ in $(seq 1 50); do pgrep -f "$ROOT/build/asan/cgi-bin/" >/dev/null || break; sleep 0.2; done
if ls "$MESSENGER_VAR"/asan.* "$MESSENGER_VAR"/ubsan.* >/dev/null 2>&1; then
	echo "sanitizer reports:"; head -60 "$MESSENGER_VAR"/asan.* "$MESSENGER_VAR"/ubsan.* 2>/dev/null
	count 0 1
elif [ "$(sanitizer_lines)" -gt "$san_before" ]; then
	echo "sanitizer reports in the app logs:"
	grep -hE -A8 "runtime error:|ERROR: (Address|Leak)Sanitizer" "$MESSENGER_VAR"/*.app.log | tail -60
	count 0 1
else
	echo "no sanitizer reports"; count 1 0
fi

# The browser tests are part of the suite: without a browser they fail
# (counted), they are never skipped silently.
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
	step "browser tests (Chromium)"
	echo "no Chromium at $CHROMIUM (scripts/deps.sh --test installs it; CHROMIUM_PATH names another)"
	count 0 1
elif ls tests/browser/*.test.mjs >/dev/null 2>&1; then
	step "browser tests (Chromium)"
	MESSENGER_BIN="$ROOT/build/release" "$ROOT/scripts/stack.sh" web-start main "$MESSENGER_PORT" >>"$OUT/stack.log" 2>&1
	# Empty rate-limit windows here too (as for each API run): the logins
	# of the API run just before, all from 127.0.0.1, still count for part
	# of login_window_seconds and could make the browser's logins 429.
	fresh_limits
	node --test --test-concurrency=1 --test-reporter=tap tests/browser/*.test.mjs >"$OUT/browser.tap" 2>&1
	p=$(grep -E "^# pass " "$OUT/browser.tap" | awk '{print $3}'); f=$(grep -E "^# fail " "$OUT/browser.tap" | awk '{print $3}')
	grep -E "^not ok|^# (pass|fail)" "$OUT/browser.tap"
	count "${p:-0}" "${f:-1}"
fi

echo
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
