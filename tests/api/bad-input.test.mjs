// Bad input on every route: broken, mistyped and oversized JSON bodies on
// the JSON routes; missing, expired and tampered access tokens on the
// authenticated routes; unknown ids and other people's ids. Each is refused
// with the documented problem, and the state it aimed at is read again (the
// API and the database) to show that nothing changed. Each table ends with
// the same request done right, which does change that state: the reads would
// see a change had a refused request made one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { api, registerUser, sql, expectProblem, uniq, until, ROOT, BASE, tokenHashSql } from './lib.mjs';
import { group, send, cid, count } from './chatlib.mjs';

const NOPE = 999999999;
const CAP = 64 * 1024;	/* api.fcgi's max_body */
// Logins come from an address of their own: the per-address login limit of
// 127.0.0.1 belongs to the test files that run alongside.
const LOGIN_FROM = '127.0.1.' + (1 + Math.floor(Math.random() * 250));

function b64url(buf) { return Buffer.from(buf).toString('base64url'); }
function signJwt(payload, key) {
  const h = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })), p = b64url(JSON.stringify(payload));
  return `${h}.${p}.${b64url(crypto.createHmac('sha256', key).update(h + '.' + p).digest())}`;
}
function jwtKey() {
  return fs.readFileSync(path.join(process.env.MESSENGER_VAR || path.join(ROOT, 'var/test'), 'jwt.key'), 'utf8').trim();
}
function claims(token) { return JSON.parse(Buffer.from(token.split('.')[1], 'base64url')); }

// A user's token made bad three ways: expired (correctly signed), its
// signature altered, and its claims altered (another user, the old signature).
function badTokens(token, otherId) {
  const key = jwtKey(), c = claims(token), now = Math.floor(Date.now() / 1000);
  const [h, p, s] = token.split('.');
  const flip = (ch) => (ch === 'A' ? 'B' : 'A');
  return {
    expired: signJwt({ ...c, iat: now - 3600, exp: now - 60 }, key),
    'altered signature': `${h}.${p}.${s.slice(0, 10)}${flip(s[10])}${s.slice(11)}`,
    'altered claims': `${h}.${b64url(JSON.stringify({ ...c, sub: String(otherId) }))}.${s}`,
  };
}

// What the fixtures of a test own, as the database holds it: accounts,
// sessions and refresh tokens, stream tickets, conversations (given, or
// created by the users), memberships with roles and marks, messages,
// reactions, each user's event log, presence. Compared whole before and
// after each refused request. Only rows of these users and conversations:
// other test files run against the same database at the same time.
function snapshot(users, convs) {
  const u = users.map((x) => x.id).join(','), c = convs.map((x) => x.id ?? x).join(',');
  return sql(`
    SELECT 'user', id, HEX(display_name), HEX(about), deleted_at IS NULL, COALESCE(last_seen_at, '') FROM users WHERE id IN (${u}) ORDER BY id;
    SELECT 'session', id, user_id, revoked_at IS NULL FROM sessions WHERE user_id IN (${u}) ORDER BY id;
    SELECT 'refresh', HEX(r.token_hash), r.superseded_at IS NULL FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE s.user_id IN (${u}) ORDER BY 2;
    SELECT 'tickets', COUNT(*) FROM stream_tickets WHERE user_id IN (${u});
    SELECT 'online', COUNT(*) FROM presence_online WHERE user_id IN (${u});
    SELECT 'conv', id, type, HEX(COALESCE(title, '')), last_seq, closed_at IS NULL FROM conversations WHERE id IN (${c}) OR created_by IN (${u}) ORDER BY id;
    SELECT 'block', user_id, blocked_id FROM blocks WHERE user_id IN (${u}) OR blocked_id IN (${u}) ORDER BY 2, 3;
    SELECT 'member', conversation_id, user_id, role, last_read_seq, delivered_seq, COALESCE(muted_until, '') FROM members WHERE conversation_id IN (${c}) OR user_id IN (${u}) ORDER BY 2, 3;
    SELECT 'message', id, conversation_id, sender_id, HEX(COALESCE(body, '')), COALESCE(edited_at, ''), COALESCE(deleted_at, '') FROM messages WHERE conversation_id IN (${c}) ORDER BY id;
    SELECT 'reaction', r.message_id, r.user_id, HEX(r.emoji) FROM reactions r JOIN messages m ON m.id = r.message_id WHERE m.conversation_id IN (${c}) ORDER BY 2, 3, 4;
    SELECT 'events', user_id, COUNT(*), MAX(seq) FROM user_events WHERE user_id IN (${u}) GROUP BY user_id ORDER BY 2;`);
}

// Waits until the fixtures' state stops moving (writers that run after an
// answer: delivered receipts, last_seen_at), then returns it.
async function settled(users, convs) {
  let prev = snapshot(users, convs), now;
  await until(async () => {
    await new Promise((r) => setTimeout(r, 150));
    now = snapshot(users, convs);
    const same = JSON.stringify(now) === JSON.stringify(prev);
    prev = now;
    return same;
  }, 'the state to settle');
  return now;
}

// A JSON body padded with spaces (still valid JSON, the same request) to
// about 70 KB: over the cap only by its size.
function oversized(body) {
  const text = JSON.stringify(body);
  return text.slice(0, -1) + ' '.repeat(70 * 1024 - text.length) + '}';
}

const conv = (u, g) => api('GET', `/conversations/${g.id}`, { token: u.token });
const history = async (u, g) => (await api('GET', `/conversations/${g.id}/messages`, { token: u.token })).body.messages
  .map((m) => ({ id: m.id, body: m.body, edited_at: m.edited_at, deleted_at: m.deleted_at, reactions: m.reactions }));

// Connections that lighttpd found closed while it still wrote a request
// (api.fcgi closes its end without waiting once the request's input has
// been read to its end; closing before that cut off bodies it had not read).
const ERROR_LOG = path.join(process.env.MESSENGER_VAR || path.join(ROOT, 'var/test'), 'main.error.log');
const dropped = () => fs.readFileSync(ERROR_LOG, 'utf8')
  .split('\n').filter((l) => l.includes('connection was dropped')).length;

test('every JSON route: broken JSON 400, a form 415, a body over the cap 413; nothing changes', async () => {
  const droppedBefore = dropped();
  const [o, m, x, v] = await Promise.all(['jo', 'jm', 'jx', 'jv'].map((p) => registerUser(p)));
  const g = await group(o, [m], 'Original title');
  await send(m, g, 'from m');
  const m1 = await send(o, g, 'original body');
  const newName = uniq('jnew');
  const G = `/conversations/${g.id}`;
  // [route, user (null: none), good body, its success status, read of the state it targets]
  const routes = [
    ['POST /auth/register', null, { username: newName, password: 'longenough-1' }, 201,
      () => count(`SELECT COUNT(*) FROM users WHERE username = '${newName}'`)],
    ['POST /auth/login', null, { username: o.username, password: o.password, device_name: 'bad-input' }, 200,
      async () => (await api('GET', '/sessions', { token: o.token })).body.sessions.map((s) => s.id)],
    ['POST /auth/refresh', null, { refresh_token: o.refresh }, 200,
      () => sql(`SELECT superseded_at IS NULL FROM refresh_tokens WHERE token_hash = ${tokenHashSql(o.refresh)}`)],
    ['PATCH /me', o, { display_name: 'Renamed', about: 'changed' }, 200,
      async () => (await api('GET', '/me', { token: o.token })).body],
    ['POST /conversations', o, { type: 'group', title: 'Another group', member_ids: [m.id] }, 201,
      async () => (await api('GET', '/conversations', { token: o.token })).body.conversations.map((c) => c.id)],
    [`PATCH ${G}`, o, { title: 'Renamed title' }, 200, async () => (await conv(o, g)).body.title],
    [`POST ${G}/members`, o, { user_ids: [x.id] }, 200,
      async () => (await conv(o, g)).body.members.map((mb) => mb.user.id).sort()],
    [`PATCH ${G}/members/${m.id}`, o, { role: 'admin' }, 200,
      async () => (await conv(o, g)).body.members.map((mb) => [mb.user.id, mb.role]).sort()],
    [`POST ${G}/messages`, o, { client_id: cid(), body: 'a new message' }, 201, () => history(o, g)],
    [`PATCH ${G}/messages/${m1.id}`, o, { body: 'edited body' }, 200, () => history(o, g)],
    [`POST ${G}/read`, m, { seq: 2 }, 200, async () => {
      const c = (await conv(m, g)).body;
      return [c.last_read_seq, c.unread_count];
    }],
    [`POST ${G}/typing`, o, {}, 204,
      () => count(`SELECT COUNT(*) FROM user_events WHERE user_id = ${m.id} AND type = 'typing' AND conversation_id = ${g.id}`)],
    ['DELETE /me', v, { password: v.password }, 204, async () => {
      const r = await api('GET', '/me', { token: v.token });
      return [r.status, r.body.deleted ?? false];
    }],
  ];
  const users = [o, m, x, v];
  for (const [route, u, good, okStatus, read] of routes) {
    const [method, p] = route.split(' ');
    const token = u?.token;
    const broken = JSON.stringify(good).slice(0, -1) + (Object.keys(good).length ? ',' : '') + '"x":';
    const bad = [
      ['broken JSON', { body: broken }, 400, 'invalid_json'],
      ['a form', { body: JSON.stringify(good), contentType: 'application/x-www-form-urlencoded' }, 415, 'unsupported_media_type'],
      ['over the cap', { body: oversized(good) }, 413, 'body_too_large'],
    ];
    assert.ok(Buffer.byteLength(bad[2][1].body) > CAP);
    const before = await read(), state = snapshot(users, [g]);
    for (const [what, opts, status, code] of bad) {
      const r = await api(method, p, { token, ...opts });
      expectProblem(assert, r, status, code);
      assert.deepEqual(await read(), before, `${route} with ${what}: the target is unchanged`);
      assert.deepEqual(snapshot(users, [g]), state, `${route} with ${what}: nothing changed`);
    }
    // The same request done right goes through and changes what was read.
    const ok = await api(method, p, { token, body: good, localAddress: LOGIN_FROM });
    assert.equal(ok.status, okStatus, `${route}: ${ok.text}`);
    assert.notDeepEqual(await read(), before, `${route}: the read sees the change`);
  }
  // Far over the cap (1.5 MiB, under lighttpd's own limit): lighttpd
  // streams it in pieces while api.fcgi reads and drops it.
  for (let i = 0; i < 3; i++) {
    const r = await api('POST', '/auth/login', { body: JSON.stringify({ username: 'x', password: 'p'.repeat(1536 * 1024) }), localAddress: LOGIN_FROM });
    expectProblem(assert, r, 413, 'body_too_large');
  }
  assert.equal(dropped(), droppedBefore, 'lighttpd wrote every refused body to its end (none cut off)');
});

test('routes that take no body: one over the cap 413, nothing changes; DELETE /me without its password 400', async () => {
  const [o, m] = await Promise.all(['nbo', 'nbm'].map((p) => registerUser(p)));
  const g = await group(o, [m], 'No body');
  const msg = await send(m, g, 'react to me');
  const G = `/conversations/${g.id}`;
  const thumbs = `${G}/messages/${msg.id}/reactions/${encodeURIComponent('👍')}`;
  assert.equal((await api('PUT', thumbs, { token: o.token })).status, 200);
  const second = await api('POST', '/auth/login', { body: { username: o.username, password: o.password, device_name: 'second' }, localAddress: LOGIN_FROM });
  assert.equal(second.status, 200, second.text);
  // [method, path, user, its success status]; the logout last (it ends o's session).
  const routes = [
    ['PUT', `${G}/messages/${msg.id}/reactions/${encodeURIComponent('🎉')}`, o, 200],
    ['DELETE', thumbs, o, 200],
    ['DELETE', `${G}/messages/${msg.id}`, m, 200],
    ['DELETE', `${G}/members/${m.id}`, o, 204],
    ['POST', '/events/ticket', o, 201],
    ['DELETE', `/sessions/${second.body.session_id}`, o, 204],
    ['PUT', `/me/blocks/${m.id}`, o, 204],
    ['DELETE', `/me/blocks/${m.id}`, o, 204],
    ['POST', '/auth/logout', o, 204],
  ];
  const big = JSON.stringify({ pad: 'x'.repeat(70 * 1024) });
  assert.ok(Buffer.byteLength(big) > CAP);
  for (const [method, p, u, okStatus] of routes) {
    const state = snapshot([o, m], [g]);
    expectProblem(assert, await api(method, p, { token: u.token, body: big }), 413, 'body_too_large');
    assert.deepEqual(snapshot([o, m], [g]), state, `${method} ${p} with a body over the cap: nothing changed`);
    const ok = await api(method, p, { token: u.token, body: method === 'POST' ? {} : undefined });
    assert.equal(ok.status, okStatus, `${method} ${p}: ${ok.text}`);
    assert.notDeepEqual(snapshot([o, m], [g]), state, `${method} ${p}: done right, it changes something`);
  }
  // Deleting an account needs its password, as a string, and nothing else.
  const state = snapshot([m], [g]);
  for (const body of [{}, { password: 5 }, { password: null }, { password: m.password, confirm: true }, []]) {
    expectProblem(assert, await api('DELETE', '/me', { token: m.token, body }), 400);
    assert.deepEqual(snapshot([m], [g]), state, `DELETE /me with ${JSON.stringify(body)}: nothing changed`);
  }
  expectProblem(assert, await api('DELETE', '/me', { token: m.token, body: { password: m.password + 'x' } }), 403, 'wrong_password');
  assert.deepEqual(snapshot([m], [g]), state);
  assert.equal((await api('GET', '/me', { token: m.token })).status, 200);
});

test('every route: a malformed query string 400 invalid_query before anything else; nothing changes', async () => {
  const [o, m] = await Promise.all(['mqo', 'mqm'].map((p) => registerUser(p)));
  const g = await group(o, [m], 'Queries');
  const msg = await send(m, g, 'query me');
  const spec = YAML.parse(fs.readFileSync(path.join(ROOT, 'www/openapi.yaml'), 'utf8'));
  const fill = { id: g.id, uid: m.id, mid: msg.id, emoji: encodeURIComponent('👍') };
  const state = snapshot([o, m], [g]);
  let n = 0;
  for (const [tpl, item] of Object.entries(spec.paths)) {
    const p = tpl.replace(/\{(\w+)\}/g, (_, k) => {
      assert.ok(k in fill, `a value for {${k}} of ${tpl}`);
      return fill[k];
    });
    for (const method of ['get', 'put', 'post', 'patch', 'delete']) {
      if (!item[method]) continue;
      for (const q of ['x=%zz', 'x=%F4%90%80%80']) {
        const r = await api(method.toUpperCase(), `${p}?${q}`, { token: o.token, body: method === 'get' ? undefined : {} });
        expectProblem(assert, r, 400, 'invalid_query');
        n++;
      }
    }
  }
  assert.ok(n >= 60, `${n} requests`);
  assert.deepEqual(snapshot([o, m], [g]), state, 'nothing changed');
});

test('requests whose bodies come slowly or never do not hold the API: more than its threads stall, and it still answers', async () => {
  // lighttpd takes a body whole before the API sees its request, so a
  // client trickling its body (or never sending it) holds a connection of
  // lighttpd's, not one of api.fcgi's 64 threads (api_max_threads).
  const { hostname, port } = new URL(BASE);
  const stalled = [];
  const rest = 'x'.repeat(1000);
  try {
    for (let i = 0; i < 80; i++) {
      const sock = net.connect(Number(port), hostname);
      await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
      const s = { sock, text: '' };
      sock.on('data', (d) => { s.text += d; });
      sock.on('error', () => {});
      sock.write('POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\n' +
        `Content-Type: application/json\r\nContent-Length: ${13 + rest.length}\r\n\r\n{"username":"`);
      stalled.push(s);
    }
    // Their bodies not come, the API answers others at once.
    const r = await api('GET', '/health');
    assert.equal(r.status, 200);
    const login = await api('POST', '/auth/login', { body: { username: 'nobody-' + uniq(), password: 'wrong password' }, localAddress: LOGIN_FROM });
    expectProblem(assert, login, 401, 'invalid_credentials');
    assert.ok(stalled.every((s) => s.text === ''), 'nothing answered before a body came');
    // A body that comes in the end is answered (JSON cut short: 400).
    for (const s of stalled.slice(0, 3)) s.sock.write(rest);
    await until(() => stalled.slice(0, 3).every((s) => s.text.startsWith('HTTP/1.1 400')), 'a 400 for each body that came', 15000);
  } finally {
    for (const s of stalled) s.sock.destroy();
  }
});

test('every authenticated route: no token, an expired or a tampered token 401; nothing changes', async () => {
  const [o, m, x] = await Promise.all(['ao', 'am', 'ax'].map((p) => registerUser(p)));
  const g = await group(o, [m], 'Original title');
  const m1 = await send(o, g, 'original body');
  await send(m, g, 'unread by o');
  const login = async (device) => (await api('POST', '/auth/login', { body: { username: o.username, password: o.password, device_name: device }, localAddress: LOGIN_FROM })).body;
  const second = await login('second'), third = await login('third');
  const secondId = (await api('GET', '/sessions', { token: o.token })).body.sessions.find((s) => s.device_name === 'second').id;
  const G = `/conversations/${g.id}`, M1 = `${G}/messages/${m1.id}`, thumb = encodeURIComponent('👍');
  // [route, good body, its success status (null: a stream, not opened right),
  //  the token the bad ones are made from (default o's)]. Each route once:
  // api.fcgi's ROUTE_AUTH routes, logout (it authenticates itself), and
  // events.fcgi's authenticated routes. Ordered so that each success leaves
  // the next route something to change.
  const routes = [
    ['GET /me', undefined, 200],
    ['PATCH /me', { display_name: 'Renamed' }, 200],
    [`GET /users?q=${m.username}`, undefined, 200],
    [`GET /users/${m.id}`, undefined, 200],
    [`GET /users/${m.id}/presence`, undefined, 200],
    ['GET /sessions', undefined, 200],
    [`DELETE /sessions/${secondId}`, undefined, 204],
    [`PUT /me/blocks/${x.id}`, undefined, 204],
    ['GET /me/blocks', undefined, 200],
    [`DELETE /me/blocks/${x.id}`, undefined, 204],
    ['POST /auth/logout', undefined, 204, third.access_token],
    ['POST /conversations', { type: 'group', title: 'Another group', member_ids: [m.id] }, 201],
    ['GET /conversations', undefined, 200],
    [`GET ${G}`, undefined, 200],
    [`PATCH ${G}`, { title: 'Renamed title' }, 200],
    [`POST ${G}/read`, { seq: 2 }, 200],
    [`POST ${G}/typing`, {}, 204],
    [`POST ${G}/members`, { user_ids: [x.id] }, 200],
    [`PATCH ${G}/members/${m.id}`, { role: 'admin' }, 200],
    [`POST ${G}/messages`, { client_id: cid(), body: 'a new message' }, 201],
    [`GET ${G}/messages`, undefined, 200],
    [`GET ${M1}`, undefined, 200],
    [`PATCH ${M1}`, { body: 'edited body' }, 200],
    [`PUT ${M1}/reactions/${thumb}`, undefined, 200],
    [`DELETE ${M1}/reactions/${thumb}`, undefined, 200],
    [`DELETE ${M1}`, undefined, 200],
    ['GET /search?q=original', undefined, 200],
    [`DELETE ${G}/members/${m.id}`, undefined, 204],
    ['POST /events/ticket', undefined, 201],
    ['GET /events/stream?since=0', undefined, null],
    ['GET /events?since=0&timeout=0', undefined, 200],
    ['DELETE /me', { password: o.password }, 204],
  ];
  // The expired token is refused for its age alone: signed the same way
  // with a later expiry, it works.
  const now = Math.floor(Date.now() / 1000);
  assert.equal((await api('GET', '/me', { token: signJwt({ ...claims(o.token), iat: now, exp: now + 60 }, jwtKey()) })).status, 200);
  const users = [o, m, x];
  let prev = '';
  for (const [route, body, okStatus, from = o.token] of routes) {
    const [method, p] = route.split(' ');
    const tokens = { missing: undefined, ...badTokens(from, m.id) };
    // An events read goes on writing after its answer (receipts, last seen).
    const state = prev.startsWith('GET /events') ? await settled(users, [g]) : snapshot(users, [g]);
    prev = route;
    for (const [what, tok] of Object.entries(tokens)) {
      const r = await api(method, p, { body, headers: tok === undefined ? {} : { Authorization: 'Bearer ' + tok }, timeoutMs: 5000 });
      expectProblem(assert, r, 401, what === 'missing' ? 'unauthenticated' : 'invalid_token');
      assert.match(r.headers['www-authenticate'] || '', /^Bearer/, `${route} (${what}): WWW-Authenticate`);
      assert.deepEqual(snapshot(users, [g]), state, `${route} with a token ${what}: nothing changed`);
    }
    if (okStatus === null) continue;
    // The token they were made from works on the same request.
    const ok = await api(method, p, { body, token: from });
    assert.equal(ok.status, okStatus, `${route}: ${ok.text}`);
  }
  // The last success deleted the account; the first session it had is gone
  // with it, the one deleted and the one logged out went before.
  for (const t of [o.token, second.access_token, third.access_token]) {
    expectProblem(assert, await api('GET', '/me', { token: t }), 401, 'invalid_token');
  }
});

test('unknown ids and other people\'s ids: 404 (or 400 for a bad emoji), nothing changes', async () => {
  const [o, m, x] = await Promise.all(['io', 'im', 'ix'].map((p) => registerUser(p)));
  const g = await group(o, [m, x], 'Ours');
  const m1 = await send(o, g, 'first words');
  const mx = await send(x, g, 'from x while a member');
  const thumb = encodeURIComponent('👍'), party = encodeURIComponent('🎉');
  for (const u of [o, x]) {
    assert.equal((await api('PUT', `/conversations/${g.id}/messages/${m1.id}/reactions/${thumb}`, { token: u.token })).status, 200);
  }
  // x leaves (o removes them): a former member, with a message and a reaction in g.
  assert.equal((await api('DELETE', `/conversations/${g.id}/members/${x.id}`, { token: o.token })).status, 204);
  // o's other conversation, which m is not in; o reacted to its message.
  const g2 = await group(o, [x], 'Elsewhere');
  const other = await send(o, g2, 'elsewhere words');
  assert.equal((await api('PUT', `/conversations/${g2.id}/messages/${other.id}/reactions/${thumb}`, { token: o.token })).status, 200);
  const G = `/conversations/${g.id}`;
  const reactions = () => sql(`SELECT message_id, user_id, HEX(emoji) FROM reactions WHERE message_id IN (${m1.id}, ${other.id}, ${mx.id}) ORDER BY 1, 2, 3`);
  const reactionsBefore = reactions();
  assert.equal(reactionsBefore.length, 3, 'o and x on m1, o on the other conversation\'s message');
  // [what, user, method, path, body, status, code]
  const cases = [
    ['delete an unknown message', o, 'DELETE', `${G}/messages/${NOPE}`],
    ['delete a message of another conversation of mine', o, 'DELETE', `${G}/messages/${other.id}`],
    ['delete a message through an unknown conversation', o, 'DELETE', `/conversations/${NOPE}/messages/${m1.id}`],
    ['delete my old message after leaving', x, 'DELETE', `${G}/messages/${mx.id}`],
    ['edit an unknown message', o, 'PATCH', `${G}/messages/${NOPE}`, { body: 'changed' }],
    ['edit a message of another conversation of mine', o, 'PATCH', `${G}/messages/${other.id}`, { body: 'changed' }],
    ['edit my old message after leaving', x, 'PATCH', `${G}/messages/${mx.id}`, { body: 'changed' }],
    ['send to an unknown conversation', o, 'POST', `/conversations/${NOPE}/messages`, { client_id: cid(), body: 'hi' }],
    ['send after leaving', x, 'POST', `${G}/messages`, { client_id: cid(), body: 'hi' }],
    ['history after leaving', x, 'GET', `${G}/messages`],
    ['details after leaving', x, 'GET', G],
    ['mark an unknown conversation read', o, 'POST', `/conversations/${NOPE}/read`, { seq: 1 }],
    ['mark read after leaving', x, 'POST', `${G}/read`, { seq: 5 }],
    ['mark read with an id that is no number', o, 'POST', '/conversations/abc/read', { seq: 1 }],
    ['type in an unknown conversation', o, 'POST', `/conversations/${NOPE}/typing`, {}],
    ['type after leaving', x, 'POST', `${G}/typing`, {}],
    ['add members to an unknown conversation', o, 'POST', `/conversations/${NOPE}/members`, { user_ids: [m.id] }],
    ['add myself back after leaving', x, 'POST', `${G}/members`, { user_ids: [x.id] }],
    ['rename an unknown conversation', o, 'PATCH', `/conversations/${NOPE}`, { title: 'Renamed' }],
    ['rename after leaving', x, 'PATCH', G, { title: 'Renamed' }],
    ['an empty change after leaving', x, 'PATCH', G, {}],
    ['remove an unknown user', o, 'DELETE', `${G}/members/${NOPE}`],
    ['remove a member as a non-member', x, 'DELETE', `${G}/members/${m.id}`],
    ['leave again', x, 'DELETE', `${G}/members/${x.id}`],
    ['remove a member of an unknown conversation', o, 'DELETE', `/conversations/${NOPE}/members/${m.id}`],
    ['change the role of an unknown user', o, 'PATCH', `${G}/members/${NOPE}`, { role: 'admin' }],
    ['change the role of a former member', o, 'PATCH', `${G}/members/${x.id}`, { role: 'admin' }],
    ['change a role as a non-member', x, 'PATCH', `${G}/members/${m.id}`, { role: 'owner' }],
    ['search an unknown conversation', o, 'GET', `/search?q=first&conversation_id=${NOPE}`],
    ['search someone else\'s conversation', m, 'GET', `/search?q=elsewhere&conversation_id=${g2.id}`],
    ['unreact as a former member', x, 'DELETE', `${G}/messages/${m1.id}/reactions/${thumb}`],
    ['unreact with an emoji that is none', o, 'DELETE', `${G}/messages/${m1.id}/reactions/abc`, undefined, 400, 'invalid_emoji'],
    ['unreact on an unknown message', o, 'DELETE', `${G}/messages/${NOPE}/reactions/${thumb}`],
    ['unreact on a message of another conversation of mine', o, 'DELETE', `${G}/messages/${other.id}/reactions/${thumb}`],
    ['react as a former member', x, 'PUT', `${G}/messages/${m1.id}/reactions/${party}`],
    ['react with an emoji that is none', o, 'PUT', `${G}/messages/${m1.id}/reactions/abc`, undefined, 400, 'invalid_emoji'],
    ['react with a squared letter', o, 'PUT', `${G}/messages/${m1.id}/reactions/${encodeURIComponent('\u{1F130}')}`, undefined, 400, 'invalid_emoji'],
    ['react with half a flag', o, 'PUT', `${G}/messages/${m1.id}/reactions/${encodeURIComponent('\u{1F1E6}')}`, undefined, 400, 'invalid_emoji'],
    ['react on an unknown message', o, 'PUT', `${G}/messages/${NOPE}/reactions/${party}`],
    ['react on a message of another conversation of mine', o, 'PUT', `${G}/messages/${other.id}/reactions/${party}`],
    ['block an unknown user', o, 'PUT', `/me/blocks/${NOPE}`],
    ['unblock an unknown user', o, 'DELETE', `/me/blocks/${NOPE}`],
    ['block with an id that is no number', o, 'PUT', '/me/blocks/abc'],
    ['block myself', o, 'PUT', `/me/blocks/${o.id}`, undefined, 400, 'invalid_user'],
    ['unblock myself', o, 'DELETE', `/me/blocks/${o.id}`, undefined, 400, 'invalid_user'],
  ];
  const users = [o, m, x];
  const state = snapshot(users, [g, g2]);
  const seen = { o: await history(o, g), m: await history(m, g), o2: await history(o, g2) };
  for (const [what, u, method, p, body, status = 404, code = 'not_found'] of cases) {
    const r = await api(method, p, { token: u.token, body });
    expectProblem(assert, r, status, code);
    assert.ok(!r.body.messages && !r.body.results && !r.body.members, `${what}: nothing shown`);
    assert.deepEqual(snapshot(users, [g, g2]), state, `${what}: nothing changed`);
  }
  assert.deepEqual(reactions(), reactionsBefore, 'the reactions are as they were');
  assert.deepEqual({ o: await history(o, g), m: await history(m, g), o2: await history(o, g2) }, seen, 'the members see what they saw');
  // The same kinds of request with the right ids go through: the checks above would see a change.
  assert.equal((await api('DELETE', `/conversations/${g2.id}/messages/${other.id}/reactions/${thumb}`, { token: o.token })).status, 200);
  assert.equal((await api('DELETE', `${G}/messages/${m1.id}/reactions/${thumb}`, { token: o.token })).status, 200);
  assert.equal((await api('DELETE', `/conversations/${g2.id}/messages/${other.id}`, { token: o.token })).status, 200);
  assert.equal((await api('DELETE', `${G}/members/${m.id}`, { token: o.token })).status, 204);
  assert.notDeepEqual(reactions(), reactionsBefore);
  assert.notDeepEqual(snapshot(users, [g, g2]), state);
});
