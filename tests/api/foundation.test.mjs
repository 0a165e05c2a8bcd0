// Foundation: the FastCGI programs also work as plain CGI (shared hosting),
// lost database connections are reopened, and responses carry request ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { api, registerUser, uniq, sql, ROOT, checkAgainstSpec, exclusive, expectProblem, until } from './lib.mjs';
import { direct, send } from './chatlib.mjs';

const BIN = process.env.MESSENGER_BIN || path.join(ROOT, 'build/release');
const CONF = path.join(process.env.MESSENGER_VAR || path.join(ROOT, 'var/test'), 'main.conf');

// Runs one request through a binary as plain CGI (RFC 3875): environment in,
// body on stdin, "Status:" + headers + body out.
function cgi(bin, method, uri, { body, headers = {}, conf = CONF } = {}) {
  const env = {
    PATH: process.env.PATH, MESSENGER_CONF: conf, GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: method, REQUEST_URI: uri, QUERY_STRING: uri.split('?')[1] || '',
    REMOTE_ADDR: '127.0.0.1', SERVER_PROTOCOL: 'HTTP/1.1',
    ASAN_OPTIONS: process.env.ASAN_OPTIONS || '', UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || '',
    LSAN_OPTIONS: process.env.LSAN_OPTIONS || '',
  };
  let input = '';
  if (body !== undefined) {
    input = JSON.stringify(body);
    env.CONTENT_TYPE = 'application/json';
    env.CONTENT_LENGTH = String(Buffer.byteLength(input));
  }
  for (const [k, v] of Object.entries(headers)) env['HTTP_' + k.toUpperCase().replace(/-/g, '_')] = v;
  const run = () => spawnSync(path.join(BIN, 'cgi-bin', bin), [], { env, input, encoding: 'utf8', timeout: 20000 });
  let r = run();
  // The process could not be started at all (once, in a loaded run: gone in
  // 7 ms with no status or output): that is the machine, not the program;
  // once more, and the reason is said if it fails again.
  if (r.error && r.status === null && r.stdout === null) r = run();
  assert.equal(r.status, 0, `${bin} exited ${r.status}: ${r.stderr} ${r.error || ''}`);
  const sep = r.stdout.indexOf('\r\n\r\n');
  assert.ok(sep > 0, 'CGI output has a header block');
  const head = r.stdout.slice(0, sep).split('\r\n');
  const status = Number(/^Status: (\d+)/.exec(head[0])[1]);
  const hdrs = {};
  for (const line of head) { const i = line.indexOf(':'); hdrs[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim(); }
  const text = r.stdout.slice(sep + 4);
  const res = { status, headers: hdrs, text, body: text ? JSON.parse(text) : null };
  checkAgainstSpec(method, uri, res);
  return res;
}

test('api.fcgi works as plain CGI: register, then /me with the token', () => {
  const username = uniq('cgi');
  const reg = cgi('api.fcgi', 'POST', '/api/v1/auth/register', { body: { username, password: 'cgi-password-1' } });
  assert.equal(reg.status, 201);
  assert.equal(reg.body.user.username, username);
  assert.match(reg.headers['x-request-id'], /^[0-9a-f]{24}$/);
  const me = cgi('api.fcgi', 'GET', '/api/v1/me', { headers: { Authorization: 'Bearer ' + reg.body.access_token } });
  assert.equal(me.status, 200);
  assert.equal(me.body.id, reg.body.user.id);
  const bad = cgi('api.fcgi', 'GET', '/api/v1/me');
  assert.equal(bad.status, 401);
  assert.equal(bad.headers['content-type'], 'application/problem+json');
});

test('api.fcgi as plain CGI sends a message: answered 201 after the commit, stored once, a retry answered with it', async () => {
  const a = await registerUser('cgisend');
  const b = await registerUser('cgisendb');
  const conv = await direct(a, b);
  const uri = `/api/v1/conversations/${conv.id}/messages`;
  const auth = { Authorization: 'Bearer ' + a.token };
  const r = cgi('api.fcgi', 'POST', uri, { body: { client_id: 'cgi-1', body: 'sent through CGI' }, headers: auth });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.body, 'sent through CGI');
  const again = cgi('api.fcgi', 'POST', uri, { body: { client_id: 'cgi-1', body: 'sent through CGI' }, headers: auth });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.id, r.body.id);
  const page = await api('GET', uri, { token: b.token });
  assert.deepEqual(page.body.messages.map((m) => m.body), ['sent through CGI']);
});

test('health answers a malformed query string with a problem, on both programs', async () => {
  for (const p of ['/health?x=%zz', '/events/health?x=%zz']) {
    const r = await api('GET', p);
    expectProblem(assert, r, 400, 'invalid_query');
  }
});

test('health shows send and waiting counts only when configured (they tell when users write or are online)', async () => {
  const on = await api('GET', '/health');
  assert.equal(typeof on.body.sends.batches, 'number', 'the test configuration sets health_sends = 1');
  const evOn = await api('GET', '/events/health');
  assert.equal(typeof evOn.body.waiting, 'number', 'the test configuration sets health_waiting = 1');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conf-'));
  const conf = path.join(dir, 'main.conf');
  fs.writeFileSync(conf, fs.readFileSync(CONF, 'utf8').split('\n').filter((l) => !/^health_(sends|waiting)\b/.test(l)).join('\n'));
  try {
    const off = cgi('api.fcgi', 'GET', '/api/v1/health', { conf });
    assert.equal(off.status, 200);
    assert.equal(off.body.database, 'ok');
    assert.equal(off.body.sends, undefined);
    const evOff = cgi('events.fcgi', 'GET', '/api/v1/events/health', { conf });
    assert.equal(evOff.status, 200);
    assert.equal(evOff.body.database, 'ok');
    assert.equal(evOff.body.waiting, undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('settings out of range are taken at their nearest bound, not obeyed into a crash', async () => {
  const u = await registerUser('confrange');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conf-'));
  const conf = path.join(dir, 'main.conf');
  // A zero rate-limit window divided by zero at the first login; zero
  // database connections left every request waiting for ever.
  fs.writeFileSync(conf, fs.readFileSync(CONF, 'utf8') + '\nlogin_window_seconds = 0\napi_db_connections = 0\n' +
    'access_token_ttl = -5\n');
  try {
    const bad = cgi('api.fcgi', 'POST', '/api/v1/auth/login', { body: { username: u.username, password: 'wrong-password' }, conf });
    assert.equal(bad.status, 401);
    const ok = cgi('api.fcgi', 'POST', '/api/v1/auth/login', { body: { username: u.username, password: u.password }, conf });
    assert.equal(ok.status, 200);
    // The shortest token lifetime allowed, not an already expired token.
    assert.ok(ok.body.expires_in >= 60, `expires_in ${ok.body.expires_in}`);
    assert.equal(cgi('api.fcgi', 'GET', '/api/v1/me', { headers: { Authorization: 'Bearer ' + ok.body.access_token }, conf }).status, 200);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('health says the cache is off, not down, when no memcached is configured', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conf-'));
  const conf = path.join(dir, 'main.conf');
  fs.writeFileSync(conf, fs.readFileSync(CONF, 'utf8').split('\n').filter((l) => !/^memcached\b/.test(l)).join('\n'));
  try {
    for (const bin of ['api.fcgi', 'events.fcgi']) {
      const h = cgi(bin, 'GET', bin === 'api.fcgi' ? '/api/v1/health' : '/api/v1/events/health', { conf });
      assert.equal(h.status, 200);
      assert.equal(h.body.cache, 'off');
      assert.equal(h.body.status, 'ok');
    }
    // With it configured and up (other files stop it under this lock): ok.
    await exclusive('memcached', async () => {
      assert.equal(cgi('api.fcgi', 'GET', '/api/v1/health').body.cache, 'ok');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('events.fcgi works as plain CGI', () => {
  const h = cgi('events.fcgi', 'GET', '/api/v1/health');
  assert.equal(h.status, 200);
  assert.equal(h.body.database, 'ok');
});

test('a message handed out by events.fcgi as plain CGI is marked delivered before the process ends', async () => {
  const tx = await registerUser('cgidl');
  const rx = await registerUser('cgidlrx');
  const conv = await direct(tx, rx);
  const auth = { Authorization: 'Bearer ' + rx.token };
  const start = cgi('events.fcgi', 'GET', '/api/v1/events?timeout=0', { headers: auth }).body.next;
  const m = await send(tx, conv, 'over CGI');
  const r = cgi('events.fcgi', 'GET', `/api/v1/events?since=${start}&timeout=0`, { headers: auth });
  assert.ok(r.body.events.some((e) => e.type === 'message.new' && e.message.id === m.id));
  // The process has exited: what it owed is in the database.
  const [[delivered]] = sql(`SELECT delivered_seq FROM members WHERE conversation_id = ${conv.id} AND user_id = ${rx.id}`);
  assert.equal(Number(delivered), m.seq);
});

test('the access log keeps no query strings: what users search for stays out of it', async () => {
  const u = await registerUser('alog');
  const secret = uniq('privateword');
  const r = await api('GET', `/search?q=${secret}`, { token: u.token });
  assert.equal(r.status, 200, r.text);
  // A request of its own path marks where the log has got to.
  const marker = `/users/${900000000 + Math.floor(Math.random() * 99999999)}`;
  expectProblem(assert, await api('GET', `${marker}?q=${secret}`, { token: u.token }), 404);
  const log = path.join(process.env.MESSENGER_VAR || path.join(ROOT, 'var/test'), 'main.access.log');
  await until(() => fs.readFileSync(log, 'utf8').includes(`/api/v1${marker} `), 'the access log line of the marker');
  const text = fs.readFileSync(log, 'utf8');
  assert.match(text, /"GET \/api\/v1\/search HTTP\/1\.1" 200/);
  assert.ok(!text.includes(secret), 'the searched word is not in the access log');
});

test('a client-supplied X-Request-Id is echoed; otherwise one is generated', async () => {
  const r = await api('GET', '/health', { headers: { 'X-Request-Id': 'trace-abc-123' } });
  assert.equal(r.headers['x-request-id'], 'trace-abc-123');
  const g = await api('GET', '/health', { headers: { 'X-Request-Id': 'bad id with spaces' } });
  assert.match(g.headers['x-request-id'], /^[0-9a-f]{24}$/);
  // At most 31 characters are taken as given.
  const longest = 'a'.repeat(30) + 'Z';
  assert.equal((await api('GET', '/health', { headers: { 'X-Request-Id': longest } })).headers['x-request-id'], longest);
  const over = await api('GET', '/health', { headers: { 'X-Request-Id': longest + '9' } });
  assert.match(over.headers['x-request-id'], /^[0-9a-f]{24}$/);
});

test('lost database connections are reopened transparently', async () => {
  const u = await registerUser('reconn');
  // Warm every api process's connection, then kill the idle ones server-side.
  await Promise.all(Array.from({ length: 8 }, () => api('GET', '/me', { token: u.token })));
  // Idle connections (asleep for a second, no transaction open): killing
  // them must never break a request (other test files running now see this
  // too). One asleep inside a transaction, between its statements, would
  // lose its COMMIT, whose outcome the API cannot know (it answers 500).
  let ids = [];
  for (let i = 0; i < 50 && ids.length === 0; i++) {
    ids = sql("SELECT p.ID FROM information_schema.PROCESSLIST p LEFT JOIN information_schema.INNODB_TRX t " +
      "ON t.trx_mysql_thread_id = p.ID WHERE p.COMMAND = 'Sleep' AND p.DB = 'messenger' AND p.TIME >= 1 " +
      'AND t.trx_id IS NULL').map((r) => r[0]);
    if (!ids.length) await new Promise((r) => setTimeout(r, 100));
  }
  for (const id of ids) { try { sql(`KILL ${id}`); } catch { /* already gone */ } }
  assert.ok(ids.length > 0, 'there were idle connections to kill');
  const results = await Promise.all(Array.from({ length: 8 }, () => api('GET', '/me', { token: u.token })));
  for (const r of results) assert.equal(r.status, 200);
  const patch = await api('PATCH', '/me', { token: u.token, body: { about: 'after reconnect' } });
  assert.equal(patch.status, 200);
  assert.equal(patch.body.about, 'after reconnect');
});

test('CORS: allowed origins get headers and preflight answers; others get none', async () => {
  const origin = process.env.MESSENGER_URL.replace('localhost', '127.0.0.1');
  const pre = await api('OPTIONS', '/me', { headers: { Origin: origin, 'Access-Control-Request-Method': 'GET' }, validate: false });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], origin);
  assert.match(pre.headers['access-control-allow-headers'], /Authorization/);
  const other = await api('GET', '/health', { headers: { Origin: 'https://evil.example' } });
  assert.equal(other.headers['access-control-allow-origin'], undefined);
});
