// The event log by long-poll: starting at the head, answering at once,
// waiting and timing out, paging, cursor validation, retention (410) and
// authentication. Every event seen is validated against the Event schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { api, registerUser, sql, expectProblem, sleep } from './lib.mjs';
import { poll, head, runSweeper, directConv, fcgiRequest, EVENTS_SOCKET } from './evlib.mjs';

async function profileChange(user, about) {
  const r = await api('PATCH', '/me', { token: user.token, body: { about } });
  assert.equal(r.status, 200);
}

test('no since: no events and the head as cursor, at once', async () => {
  const u = await registerUser('evhead');
  const t0 = Date.now();
  const r = await poll(u, undefined, { timeout: 30 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.events, []);
  assert.equal(r.body.next, '0');
  assert.equal(r.body.caught_up, true);
  assert.equal(r.body.has_more, false);
  assert.ok(Date.now() - t0 < 5000, 'answered without waiting');
  await profileChange(u, 'one');
  await profileChange(u, 'two');
  assert.equal(await head(u), '2', 'the head moves with the log');
});

test('events exist: the long-poll answers at once with them', async () => {
  const u = await registerUser('evnow');
  const start = await head(u);
  await profileChange(u, 'hello');
  const t0 = Date.now();
  const r = await poll(u, start, { timeout: 30 });
  assert.ok(Date.now() - t0 < 5000, 'did not wait for the timeout');
  assert.equal(r.status, 200);
  assert.equal(r.body.events.length, 1);
  const e = r.body.events[0];
  assert.equal(e.type, 'profile.updated');
  assert.equal(e.user.id, u.id);
  assert.equal(e.user.about, 'hello');
  assert.equal(r.body.next, String(e.seq));
  assert.equal(r.body.caught_up, true);
  assert.equal(r.body.has_more, false);
});

test('nothing new: waits for the timeout and answers empty with the same cursor', async () => {
  const u = await registerUser('evwait');
  await profileChange(u, 'x');
  const since = await head(u);
  const t0 = Date.now();
  const r = await poll(u, since, { timeout: 2 });
  const took = Date.now() - t0;
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.events, []);
  assert.equal(r.body.next, since);
  assert.equal(r.body.caught_up, true);
  assert.ok(took >= 1500, `waited about the timeout (${took} ms)`);
  assert.ok(took < 10000, `but not much longer (${took} ms)`);
  // timeout=0 never waits.
  const t1 = Date.now();
  const z = await poll(u, since, { timeout: 0 });
  assert.equal(z.status, 200);
  assert.deepEqual(z.body.events, []);
  assert.ok(Date.now() - t1 < 5000);
});

test('a waiting long-poll is woken by a new event', async () => {
  const u = await registerUser('evwake');
  const since = await head(u);
  const waiting = poll(u, since, { timeout: 30 });
  await new Promise((r) => setTimeout(r, 500));
  const t0 = Date.now();
  await profileChange(u, 'wake up');
  const r = await waiting;
  assert.ok(Date.now() - t0 < 5000, 'woke well before the 30 s timeout');
  assert.equal(r.body.events.length, 1);
  assert.equal(r.body.events[0].user.about, 'wake up');
});

test('paging: limit, has_more and caught_up; every event once, in order', async () => {
  const u = await registerUser('evpage');
  for (let i = 0; i < 7; i++) await profileChange(u, 'v' + i);
  let cursor = '0';
  const seen = [];
  const flags = [];
  for (let guard = 0; guard < 10; guard++) {
    const r = await poll(u, cursor, { limit: 3, timeout: 0 });
    assert.equal(r.status, 200);
    assert.ok(r.body.events.length <= 3);
    seen.push(...r.body.events);
    flags.push(r.body.has_more);
    assert.equal(r.body.caught_up, !r.body.has_more);
    if (r.body.events.length) assert.equal(r.body.next, String(r.body.events.at(-1).seq));
    cursor = r.body.next;
    if (!r.body.has_more) break;
  }
  assert.deepEqual(flags, [true, true, false]);
  assert.deepEqual(seen.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(seen.map((e) => e.user.about), ['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6']);
  // The default batch holds everything here.
  const all = await poll(u, '0', { timeout: 0 });
  assert.equal(all.body.events.length, 7);
  assert.equal(all.body.has_more, false);
});

test('bad cursors answer 400 invalid_cursor; bad timeout and limit 400', async () => {
  const u = await registerUser('evbad');
  await profileChange(u, 'a');
  for (const since of ['abc', '-1', '1a', '0x1', '1.0', ' 1', '+1', '', '2', '99999999999999999999', '9223372036854775807', '1e3']) {
    const r = await api('GET', '/events?since=' + encodeURIComponent(since) + '&timeout=0', { token: u.token });
    expectProblem(assert, r, 400, 'invalid_cursor');
  }
  for (const q of ['timeout=61', 'timeout=-1', 'timeout=abc', 'timeout=', 'limit=0', 'limit=101', 'limit=x']) {
    const r = await api('GET', '/events?since=0&' + q, { token: u.token });
    expectProblem(assert, r, 400, 'invalid_query');
  }
  // The valid edges pass.
  assert.equal((await poll(u, '1', { timeout: 0, limit: 1 })).status, 200);
  assert.equal((await poll(u, '0', { timeout: 0, limit: 100 })).status, 200);
});

test('signing out answers a waiting long-poll at once, with nothing more', async () => {
  const u = await registerUser('lpend');
  const first = await api('GET', '/events?timeout=0', { token: u.token });
  const t0 = Date.now();
  const waiting = api('GET', `/events?since=${encodeURIComponent(first.body.next)}&timeout=25`, { token: u.token });
  await sleep(500);
  assert.equal((await api('POST', '/auth/logout', { token: u.token, body: '', contentType: 'text/plain' })).status, 204);
  const r = await waiting;
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.events, []);
  // Not at its next session check, 10-20 s after it began.
  assert.ok(Date.now() - t0 < 4000, `answered ${Date.now() - t0} ms after it began`);
  expectProblem(assert, await api('GET', `/events?since=${encodeURIComponent(r.body.next)}&timeout=0`, { token: u.token }), 401, 'invalid_token');
});

test('signing out with the refresh cookie alone (a browser whose access token is gone) also answers its waiting long-poll at once', async () => {
  const u = await registerUser('lpcookie');
  // A browser's login: the refresh token in a cookie.
  const login = await api('POST', '/auth/login', { body: { username: u.username, password: u.password, refresh_cookie: true } });
  assert.equal(login.status, 200, login.text);
  const cookie = [].concat(login.headers['set-cookie'] || []).find((c) => c.startsWith('messenger_refresh='));
  assert.ok(cookie, 'a refresh cookie');
  const token = login.body.access_token;
  const first = await api('GET', '/events?timeout=0', { token });
  const t0 = Date.now();
  const waiting = api('GET', `/events?since=${encodeURIComponent(first.body.next)}&timeout=25`, { token });
  await sleep(500);
  assert.equal((await api('POST', '/auth/logout', { body: {}, headers: { Cookie: cookie.split(';')[0] } })).status, 204);
  const r = await waiting;
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.events, []);
  assert.ok(Date.now() - t0 < 4000, `answered ${Date.now() - t0} ms after it began`);
  expectProblem(assert, await api('GET', `/events?since=${encodeURIComponent(r.body.next)}&timeout=0`, { token }), 401, 'invalid_token');
});

test('authentication is required', async () => {
  expectProblem(assert, await api('GET', '/events?since=0'), 401, 'unauthenticated');
  expectProblem(assert, await api('GET', '/events?since=0', { token: 'not.a.token' }), 401, 'invalid_token');
  expectProblem(assert, await api('POST', '/events/ticket', { body: '', contentType: 'text/plain' }), 401);
  // A signed-out session's token stops working for events at once.
  const u = await registerUser('evauth');
  assert.equal((await api('GET', '/events?since=0&timeout=0', { token: u.token })).status, 200);
  assert.equal((await api('POST', '/auth/logout', { token: u.token, body: '', contentType: 'text/plain' })).status, 204);
  expectProblem(assert, await api('GET', '/events?since=0', { token: u.token }), 401, 'invalid_token');
  // Unknown routes under /events are 404, wrong methods 405.
  const v = await registerUser('evauth2');
  expectProblem(assert, await api('GET', '/events/nope', { token: v.token, validate: false }), 404);
  // A method a route does not serve: 405 with the methods it does serve.
  for (const [method, route, allow] of [['DELETE', '/events', 'GET'], ['PUT', '/events', 'GET'],
    ['POST', '/events/stream', 'GET'], ['DELETE', '/events/ticket', 'POST']]) {
    const r = await api(method, route, { token: v.token, validate: false, ...(method === 'GET' || method === 'DELETE' ? {} : { body: '', contentType: 'text/plain' }) });
    expectProblem(assert, r, 405, 'method_not_allowed');
    assert.equal(r.headers.allow, allow, `${method} ${route}: Allow`);
  }
  // The refused requests did nothing: the token still reads the log.
  assert.equal((await api('GET', '/events?timeout=0', { token: v.token })).status, 200);
});

test('a cursor older than the retention window answers 410 with where to resume', async () => {
  const u = await registerUser('evgone');
  for (let i = 0; i < 4; i++) await profileChange(u, 'r' + i);
  // Retention removed events 1-2 (what the sweeper does: raise min_seq, delete).
  sql(`UPDATE user_heads SET min_seq = 3 WHERE user_id = ${u.id}`);
  sql(`DELETE FROM user_events WHERE user_id = ${u.id} AND seq < 3`);
  for (const since of ['0', '1']) {
    const r = await api('GET', `/events?since=${since}&timeout=0`, { token: u.token });
    expectProblem(assert, r, 410, 'cursor_expired');
    assert.equal(r.body.oldest_cursor, '2');
    assert.match(r.body.resync, /GET \/conversations/);
  }
  // From the oldest cursor on, nothing is missing.
  const r = await poll(u, '2', { timeout: 0 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.events.map((e) => e.seq), [3, 4]);
});

test('the sweeper prunes events past retention and old cursors then get 410', async () => {
  const u = await registerUser('evsweep');
  const keep = await registerUser('evkeep');
  for (let i = 0; i < 3; i++) await profileChange(u, 's' + i);
  await profileChange(keep, 'recent');
  // Make u's first two events look 30 days old (retention is 14 days).
  sql(`UPDATE user_events SET created_at = NOW(3) - INTERVAL 30 DAY WHERE user_id = ${u.id} AND seq <= 2`);
  runSweeper();
  const [[minSeq]] = sql(`SELECT min_seq FROM user_heads WHERE user_id = ${u.id}`);
  assert.equal(minSeq, '3');
  const gone = await api('GET', '/events?since=0&timeout=0', { token: u.token });
  expectProblem(assert, gone, 410, 'cursor_expired');
  assert.equal(gone.body.oldest_cursor, '2');
  const r = await poll(u, '2', { timeout: 0 });
  assert.deepEqual(r.body.events.map((e) => e.seq), [3]);
  // Recent events of others are untouched.
  const k = await poll(keep, '0', { timeout: 0 });
  assert.equal(k.status, 200);
  assert.equal(k.body.events.length, 1);
});

test('events pruned while a long-poll waits answer 410, never a silent gap', async () => {
  const u = await registerUser('evrace');
  await profileChange(u, 'one');
  const since = await head(u);
  const s = Number(since);
  const pending = poll(u, since, { timeout: 20 });
  await sleep(300);
  // Two events arrive and pass the retention limit before the waiter reads
  // them (as if the sweeper ran in between), without a ring: the log's
  // state once the sweeper pruned them, in one transaction. (Written as
  // rows and pruned by the sweeper, a wake-up in between from anything
  // sharing the waiter's doorbell slot let it read them first; the
  // sweeper's pruning has its own tests.)
  sql(`UPDATE user_heads SET last_seq = last_seq + 2, min_seq = last_seq + 1 WHERE user_id = ${u.id}`);
  const [[last, minSeq]] = sql(`SELECT last_seq, min_seq FROM user_heads WHERE user_id = ${u.id}`);
  assert.deepEqual([Number(last), Number(minSeq)], [s + 2, s + 3]);
  // The next event rings the waiter: it must not hand over s + 3 as if
  // nothing came before it.
  await profileChange(u, 'after the gap');
  const r = await pending;
  expectProblem(assert, r, 410, 'cursor_expired');
  assert.equal(r.body.oldest_cursor, String(s + 2));
});

test('the sweeper drops typing events after an hour and keeps the rest of that age', async () => {
  const a = await registerUser('evtyp'), b = await registerUser('evtypb');
  const c = await directConv(a, b);
  assert.equal((await api('POST', `/conversations/${c}/typing`, { token: a.token, body: {} })).status, 204);
  await profileChange(b, 'same age');
  const [[typingSeq]] = sql(`SELECT seq FROM user_events WHERE user_id = ${b.id} AND type = 'typing' AND conversation_id = ${c}`);
  // Both two hours old: past the ephemeral limit (1 h), well inside
  // retention. The sweeper's pass over the log starts where its last run
  // ended (sweep_marks), an hour ago: moved back past them, as if the
  // sweeper had not run since (under its lock, so that no run ending
  // meanwhile moves it on again).
  sql(`SELECT GET_LOCK('messenger-sweeper', 60);
    UPDATE user_events SET created_at = NOW(3) - INTERVAL 2 HOUR WHERE user_id = ${b.id};
    UPDATE sweep_marks SET at = LEAST(at, NOW(3) - INTERVAL 3 HOUR) WHERE name = 'ephemeral';
    SELECT RELEASE_LOCK('messenger-sweeper')`);
  runSweeper();
  const left = sql(`SELECT type FROM user_events WHERE user_id = ${b.id} ORDER BY seq`).map((r) => r[0]);
  assert.ok(!left.includes('typing'), `typing ${typingSeq} still there: ${left}`);
  assert.ok(left.includes('profile.updated'), `the profile event went too: ${left}`);
  // The cursor still passes over the gap it left.
  const r = await poll(b, '0', { timeout: 0 });
  assert.equal(r.status, 200);
  assert.ok(r.body.events.every((e) => e.type !== 'typing'));
});

// Long-polls sent the way lighttpd sends them, straight to events.fcgi's
// FastCGI socket, so the test decides when the web server's side of each
// closes. (Through lighttpd the test could not: lighttpd 1.4.69 does not
// watch every client connection while its request waits for the backend,
// and a client reset it does not see leaves the request to its timeout;
// running this through lighttpd, 0-57 of 200 reset requests per round
// stayed parked.)
function abandonedPolls(user, since, n) {
  const query = `timeout=60&since=${since}`;
  const request = fcgiRequest('/events', query, { HTTP_AUTHORIZATION: 'Bearer ' + user.token });
  return Array.from({ length: n }, () => {
    const sock = net.connect(EVENTS_SOCKET);
    sock.on('error', () => {});
    sock.write(request);
    return sock;
  });
}

async function waiting() {
  const r = await api('GET', '/events/health');
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.body.waiting, 'number');
  return r.body.waiting;
}

test('a long-poll whose FastCGI connection closes is dropped at once, not at its timeout', async () => {
  // The count is the whole process's, and other test files park and end
  // their own waiters meanwhile (by a few dozen either way): enough of
  // ours that their coming and going cannot decide the outcome.
  // Spread over ten users: one may have only 32 open (events_per_user).
  const N = 200, ENOUGH = 150, USERS = 10;
  const users = await Promise.all(Array.from({ length: USERS }, () => registerUser('leaver')));
  const heads = await Promise.all(users.map((u) => head(u)));
  const before = await waiting();
  const reqs = users.flatMap((u, i) => abandonedPolls(u, heads[i], N / USERS));
  let peak = 0;
  for (let i = 0; i < 100 && peak < before + N - 10; i++) {
    await sleep(100);
    peak = Math.max(peak, await waiting());
  }
  assert.ok(peak >= before + ENOUGH, `${N} long-polls parked (before ${before}, peak ${peak})`);
  // The web server closes its side of each (what lighttpd does when it
  // sees the client go): the events process must let go of them at once.
  const open = reqs.filter((r) => !r.destroyed && r.readyState === 'open').length;
  for (const r of reqs) r.destroy();
  let low = peak;
  for (let i = 0; i < 50 && low > peak - ENOUGH; i++) {
    await sleep(100);
    low = Math.min(low, await waiting());
  }
  assert.ok(low <= peak - ENOUGH,
    `at least ${ENOUGH} of the ${N} left within 5 s (peak ${peak}, lowest ${low}; ${open} were open)`);
});

test('a typing event read later tells what is left of its time, and one whose time is over is not shown', async () => {
  const a = await registerUser('tyla'), b = await registerUser('tylb');
  const c = await directConv(a, b);
  const since = await head(b);
  assert.equal((await api('POST', `/conversations/${c}/typing`, { token: a.token, body: {} })).status, 204);
  const typing = async () => (await poll(b, since, { timeout: 0 })).body;
  const fresh = await typing();
  const [ev] = fresh.events.filter((e) => e.type === 'typing');
  assert.equal(ev.user_id, a.id);
  assert.ok(ev.expires_in >= 4 && ev.expires_in <= 5, `fresh: ${ev.expires_in} s`);
  // Read three seconds after it was written: two seconds left.
  const at = (s) => sql(`UPDATE user_events SET created_at = NOW(3) - INTERVAL ${s} SECOND WHERE user_id = ${b.id} AND seq = ${ev.seq}`);
  at(3);
  const later = (await typing()).events.find((e) => e.seq === ev.seq);
  assert.ok(later && later.expires_in >= 1 && later.expires_in <= 2, `three seconds on: ${later && later.expires_in} s`);
  // Read after its time is over (a client back after a while): not shown,
  // and the cursor moves past it all the same.
  at(60);
  const over = await typing();
  assert.deepEqual(over.events, []);
  assert.equal(over.next, String(ev.seq));
});
