// Accounts and auth: register, login, refresh rotation and reuse detection,
// logout, profile, sessions, search, rate limits, and bad input everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { api, registerUser, uniq, sql, expectProblem, rotatedAgo, tokenHashSql, exclusive, mcCommand, mcStats } from './lib.mjs';

function b64url(buf) { return Buffer.from(buf).toString('base64url'); }
function signJwt(payload, key, header = { alg: 'HS256', typ: 'JWT' }) {
  const h = b64url(JSON.stringify(header)), p = b64url(JSON.stringify(payload));
  const sig = header.alg === 'none' ? '' : b64url(crypto.createHmac('sha256', key).update(h + '.' + p).digest());
  return `${h}.${p}.${sig}`;
}
function jwtKey() {
  return fs.readFileSync(path.join(process.env.MESSENGER_VAR, 'jwt.key'), 'utf8').trim();
}
function claims(token) { return JSON.parse(Buffer.from(token.split('.')[1], 'base64url')); }

test('register returns a user and working tokens; /me answers', async () => {
  const u = await registerUser('reg');
  assert.equal(u.user.username, u.username);
  const c = claims(u.token);
  assert.equal(c.sub, String(u.id));
  assert.ok(c.exp - c.iat <= 900 && c.exp - c.iat > 60, 'access token lives about 15 minutes');
  const me = await api('GET', '/me', { token: u.token });
  assert.equal(me.status, 200);
  assert.equal(me.body.id, u.id);
  assert.ok(me.headers['x-request-id']);
  // The password is stored as an argon2id hash, never as given.
  const [[hash]] = sql(`SELECT password_hash FROM users WHERE id = ${u.id}`);
  assert.match(hash, /^\$argon2id\$/);
  assert.ok(!hash.includes(u.password));
});

test('a registration sent again (its answer lost) gets its account, not 409; anyone else gets 409', async () => {
  // A client whose registration answer never came (a timeout, a dropped
  // connection, the session not created) sends the same request again: the
  // account is there, with its password. It is answered as the first would
  // have been, with a session of its own.
  const u = await registerUser('again');
  const retry = await api('POST', '/auth/register', { body: { username: u.username, password: u.password, display_name: 'ignored now' } });
  assert.equal(retry.status, 201, retry.text);
  assert.equal(retry.body.user.id, u.id);
  assert.equal(retry.body.user.display_name, u.username, 'the account as it was stored');
  assert.notEqual(retry.body.session_id, undefined);
  const me = await api('GET', '/me', { token: retry.body.access_token });
  assert.equal(me.status, 200);
  assert.equal(me.body.id, u.id);
  assert.equal(Number(sql(`SELECT COUNT(*) FROM users WHERE username = '${u.username}'`)[0][0]), 1);
  // Another password: the name is taken.
  expectProblem(assert, await api('POST', '/auth/register', { body: { username: u.username, password: 'someone-elses-pw' } }), 409, 'username_taken');
  // An account older than a retry could be: taken, whatever the password.
  sql(`UPDATE users SET created_at = NOW(3) - INTERVAL 11 MINUTE WHERE id = ${u.id}`);
  expectProblem(assert, await api('POST', '/auth/register', { body: { username: u.username, password: u.password } }), 409, 'username_taken');
});

test('usernames are unique, case-insensitively', async () => {
  const u = await registerUser('dup');
  const r = await api('POST', '/auth/register', { body: { username: u.username.toUpperCase(), password: 'another-password' } });
  expectProblem(assert, r, 409, 'username_taken');
});

test('login: right password works; wrong password and unknown user get the same answer', async () => {
  const u = await registerUser('login');
  const ok = await api('POST', '/auth/login', { body: { username: u.username, password: u.password, device_name: 'laptop' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.user.id, u.id);
  const bad = await api('POST', '/auth/login', { body: { username: u.username, password: 'wrong-password' } });
  const unknown = await api('POST', '/auth/login', { body: { username: uniq('nobody'), password: 'wrong-password' } });
  expectProblem(assert, bad, 401, 'invalid_credentials');
  expectProblem(assert, unknown, 401, 'invalid_credentials');
  assert.equal(bad.body.detail, unknown.body.detail);
  // A name no account can have (not ASCII, too long, odd bytes) is just as
  // unknown, not a server error.
  for (const username of ['café', 'ünïcødé', '日本語のユーザー', 'x'.repeat(64), 'a b', '😀😀😀']) {
    expectProblem(assert, await api('POST', '/auth/login', { body: { username, password: 'wrong-password' } }), 401, 'invalid_credentials');
  }
});

test('each login is its own session; sessions can be listed and signed out', async () => {
  const u = await registerUser('sess');
  const second = await api('POST', '/auth/login', { body: { username: u.username, password: u.password, device_name: 'phone' } });
  const list = await api('GET', '/sessions', { token: u.token });
  assert.equal(list.status, 200);
  assert.equal(list.body.sessions.length, 2);
  const phone = list.body.sessions.find((s) => s.device_name === 'phone');
  assert.ok(phone && !phone.current);
  assert.equal(list.body.sessions.filter((s) => s.current).length, 1);
  // The phone is in use (api.fcgi and events.fcgi have both just accepted
  // its token) when it is signed out.
  assert.equal((await api('GET', '/me', { token: second.body.access_token })).status, 200);
  assert.equal((await api('GET', '/events?since=0&timeout=0', { token: second.body.access_token })).status, 200);
  const del = await api('DELETE', `/sessions/${phone.id}`, { token: u.token });
  assert.equal(del.status, 204);
  // The signed-out device's access token stops working at once, everywhere.
  expectProblem(assert, await api('GET', '/me', { token: second.body.access_token }), 401, 'invalid_token');
  expectProblem(assert, await api('GET', '/events?since=0&timeout=0', { token: second.body.access_token }), 401, 'invalid_token');
  // And its refresh token too: the session was ended (the device then
  // removes what it keeps of the account), not merely expired.
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: second.body.refresh_token } }), 401, 'session_ended');
  // An expired session's token is only invalid.
  const third = await api('POST', '/auth/login', { body: { username: u.username, password: u.password, device_name: 'old tablet' } });
  sql(`UPDATE sessions SET expires_at = NOW(3) - INTERVAL 1 MINUTE WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ${tokenHashSql(third.body.refresh_token)})`);
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: third.body.refresh_token } }), 401, 'invalid_refresh_token');
  // Signing it out again (a retry whose answer was lost) is the same success.
  assert.equal((await api('DELETE', `/sessions/${phone.id}`, { token: u.token })).status, 204);
  // Another user's session id is unknown to me.
  const other = await registerUser('sessother');
  const otherSessions = await api('GET', '/sessions', { token: other.token });
  expectProblem(assert, await api('DELETE', `/sessions/${otherSessions.body.sessions[0].id}`, { token: u.token }), 404);
  assert.equal((await api('GET', '/me', { token: other.token })).status, 200);
  expectProblem(assert, await api('DELETE', '/sessions/abc', { token: u.token }), 404);
  expectProblem(assert, await api('DELETE', '/sessions/999999999', { token: u.token }), 404);
});

// Makes a rotated refresh token look rotated a minute ago: past the moments
// in which using it again counts as the same client asking twice.
const rotatedLongAgo = (token) => rotatedAgo(token, '1 MINUTE');

test('refresh rotates the token; replaying an old one ends the session', async () => {
  const u = await registerUser('refresh');
  const r1 = await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } });
  assert.equal(r1.status, 200);
  assert.notEqual(r1.body.refresh_token, u.refresh);
  assert.equal((await api('GET', '/me', { token: r1.body.access_token })).status, 200);
  const r2 = await api('POST', '/auth/refresh', { body: { refresh_token: r1.body.refresh_token } });
  assert.equal(r2.status, 200);
  // Replay of the first (already rotated) token: the session is revoked...
  rotatedLongAgo(u.refresh);
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } }), 401, 'refresh_token_reused');
  // ...so even the newest tokens of that session stop working, and once it
  // has ended any token of it, the old one too, says it ended.
  expectProblem(assert, await api('GET', '/me', { token: r2.body.access_token }), 401);
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: r2.body.refresh_token } }), 401, 'session_ended');
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } }), 401, 'session_ended');
  // An unknown token is refused without revoking anything.
  const v = await registerUser('refresh2');
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: 'not-a-real-token' } }), 401, 'invalid_refresh_token');
  assert.equal((await api('GET', '/me', { token: v.token })).status, 200);
});

test('a rotated token replayed after its row was swept (a week on) still ends its session; a forged one ends nothing', async () => {
  const u = await registerUser('oldreplay');
  const sid = claims(u.token).sid;
  const r1 = await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } });
  assert.equal(r1.status, 200);
  // The token names its session and is signed by the server.
  assert.match(r1.body.refresh_token, new RegExp(`^${sid}\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{22}$`));
  // What the sweeper does to a token rotated more than a week ago.
  sql(`DELETE FROM refresh_tokens WHERE token_hash = ${tokenHashSql(u.refresh)}`);
  // A thief who took the first token refreshed first; its owner comes back
  // with it: the session ends, the thief's newer tokens with it.
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } }), 401, 'refresh_token_reused');
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: r1.body.refresh_token } }), 401, 'session_ended');
  expectProblem(assert, await api('GET', '/me', { token: r1.body.access_token }), 401);
  // A token made up to name someone else's session (its tag not the
  // server's) is refused and ends nothing.
  const v = await registerUser('forgedvictim');
  const vsid = claims(v.token).sid;
  const [, nonce, tag] = v.refresh.split('.');
  for (const forged of [`${vsid}.${nonce}.${b64url(crypto.randomBytes(16))}`, `${vsid}.AAAAAAAAAAAAAAAAAAAAAA.${tag}`,
    `${vsid + 1}.${nonce}.${tag}`, `${vsid}.${nonce}`, `${vsid}..${tag}`, `-1.${nonce}.${tag}`, `0${vsid}x.${nonce}.${tag}`]) {
    expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: forged } }), 401, 'invalid_refresh_token');
  }
  assert.equal((await api('GET', '/me', { token: v.token })).status, 200);
  assert.equal((await api('POST', '/auth/refresh', { body: { refresh_token: v.refresh } })).status, 200);
});

test('a session from before refresh tokens named their session (a bare random token) still refreshes', async () => {
  const u = await registerUser('legacytok');
  const old = b64url(crypto.randomBytes(32));
  sql(`INSERT INTO sessions (user_id, device_name, user_agent, ip, expires_at) VALUES (${u.id}, 'old app', '', '127.0.0.1', NOW(3) + INTERVAL 30 DAY)`);
  const sid = sql(`SELECT MAX(id) FROM sessions WHERE user_id = ${u.id}`)[0][0];
  sql(`INSERT INTO refresh_tokens (token_hash, session_id) VALUES (${tokenHashSql(old)}, ${sid})`);
  const r = await api('POST', '/auth/refresh', { body: { refresh_token: old } });
  assert.equal(r.status, 200);
  assert.equal(r.body.session_id, Number(sid));
  assert.ok(r.body.refresh_token.startsWith(`${sid}.`), 'its next token is of the new kind');
  rotatedAgo(old, '1 MINUTE');
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: old } }), 401, 'refresh_token_reused');
});

test('a refresh asked twice at once, or again after a lost answer, keeps the session', async () => {
  const u = await registerUser('refrace');
  // Two requests with one token cross: both get working tokens, the same
  // refresh token (one chain: a thief racing its owner gets no chain of
  // its own that reuse detection would never see).
  const [a, b] = await Promise.all([0, 1].map(() => api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } })));
  assert.equal(a.status, 200, a.text);
  assert.equal(b.status, 200, b.text);
  assert.equal(a.body.refresh_token, b.body.refresh_token);
  assert.equal(sql(`SELECT COUNT(*) FROM refresh_tokens WHERE session_id = ${claims(u.token).sid}`)[0][0], '2');
  // The first answer lost: the same token once more, moments later.
  const c = await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } });
  assert.equal(c.status, 200, c.text);
  for (const r of [a, b, c]) {
    assert.equal((await api('GET', '/me', { token: r.body.access_token })).status, 200);
    assert.equal((await api('POST', '/auth/refresh', { body: { refresh_token: r.body.refresh_token } })).status, 200);
  }
  // Later, the same token is a replay: the session ends.
  rotatedLongAgo(u.refresh);
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } }), 401, 'refresh_token_reused');
  expectProblem(assert, await api('GET', '/me', { token: a.body.access_token }), 401);
});

// The refresh cookie a browser app asks for: "name=value" from Set-Cookie, and its attributes.
function refreshCookie(res) {
  const all = [].concat(res.headers['set-cookie'] || []);
  const c = all.find((x) => x.startsWith('messenger_refresh='));
  if (!c) return null;
  const [pair, ...attrs] = c.split(/;\s*/);
  return { pair, value: pair.slice('messenger_refresh='.length), attrs: attrs.map((a) => a.toLowerCase()) };
}

test('a browser app keeps its refresh token in an HttpOnly cookie: login, rotation, reuse, logout', async () => {
  const username = uniq('ck');
  const password = 'pw-' + crypto.randomBytes(8).toString('hex');
  const reg = await api('POST', '/auth/register', { body: { username, password, refresh_cookie: true } });
  assert.equal(reg.status, 201, reg.text);
  assert.equal(reg.body.refresh_token, undefined, 'the body carries no refresh token');
  const c0 = refreshCookie(reg);
  assert.ok(c0 && c0.value.length >= 40, JSON.stringify(reg.headers['set-cookie']));
  for (const a of ['httponly', 'samesite=strict', 'path=/api/v1/auth']) assert.ok(c0.attrs.includes(a), `${a} in ${c0.attrs}`);
  assert.ok(c0.attrs.some((a) => /^max-age=\d{6,}$/.test(a)), 'lives for days');
  assert.ok(!c0.attrs.includes('secure'), 'plain HTTP here: no Secure flag');
  // Refresh with an empty body and the cookie: a new cookie, no token in the body.
  const r1 = await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: `theme=dark; ${c0.pair}` } });
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.body.refresh_token, undefined);
  const c1 = refreshCookie(r1);
  assert.ok(c1 && c1.value !== c0.value, 'rotated');
  assert.equal((await api('GET', '/me', { token: r1.body.access_token })).status, 200);
  // The old cookie again: a replay; the session ends and the cookie is cleared.
  rotatedLongAgo(c0.value);
  const replay = await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: c0.pair } });
  expectProblem(assert, replay, 401, 'refresh_token_reused');
  const cleared = refreshCookie(replay);
  assert.ok(cleared && cleared.value === '' && cleared.attrs.includes('max-age=0'));
  expectProblem(assert, await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: c1.pair } }), 401);

  // Login the same way; logout clears the cookie and the token stops working.
  const login = await api('POST', '/auth/login', { body: { username, password, refresh_cookie: true } });
  assert.equal(login.status, 200, login.text);
  assert.equal(login.body.refresh_token, undefined);
  const c2 = refreshCookie(login);
  const out = await api('POST', '/auth/logout', { token: login.body.access_token });
  assert.equal(out.status, 204);
  assert.equal(refreshCookie(out).value, '');
  expectProblem(assert, await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: c2.pair } }), 401, 'session_ended');

  // Logout with the cookie alone (no access token at hand) ends that session.
  const again = await api('POST', '/auth/login', { body: { username, password, refresh_cookie: true }, headers: { 'X-Forwarded-Proto': 'https' } });
  assert.equal(again.status, 200, again.text);
  const c4 = refreshCookie(again);
  assert.ok(c4.attrs.includes('secure'), 'Secure when the request came over TLS to a proxy');
  // As a JSON request only: a form (which a page of another site of the
  // same domain could send with the cookie) ends nothing.
  const form4 = await api('POST', '/auth/logout', { body: 'x=1', contentType: 'application/x-www-form-urlencoded', headers: { Cookie: c4.pair } });
  expectProblem(assert, form4, 415, 'unsupported_media_type');
  expectProblem(assert, await api('POST', '/auth/logout', { headers: { Cookie: c4.pair } }), 415, 'unsupported_media_type');
  assert.equal((await api('GET', '/me', { token: again.body.access_token })).status, 200, 'still signed in');
  const byCookie = await api('POST', '/auth/logout', { body: {}, headers: { Cookie: c4.pair } });
  assert.equal(byCookie.status, 204, byCookie.text);
  assert.equal(refreshCookie(byCookie).value, '');
  expectProblem(assert, await api('GET', '/me', { token: again.body.access_token }), 401);
  expectProblem(assert, await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: c4.pair } }), 401);
  // A browser whose access token expired sends it along: the cookie's
  // session ends all the same.
  const late = await api('POST', '/auth/login', { body: { username, password, refresh_cookie: true } });
  const c5 = refreshCookie(late);
  const now = Math.floor(Date.now() / 1000);
  const stale = signJwt({ ...claims(late.body.access_token), iat: now - 3600, exp: now - 60 }, jwtKey());
  const lateOut = await api('POST', '/auth/logout', { body: {}, headers: { Cookie: c5.pair, Authorization: 'Bearer ' + stale } });
  assert.equal(lateOut.status, 204, lateOut.text);
  assert.equal(refreshCookie(lateOut).value, '');
  expectProblem(assert, await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: c5.pair } }), 401, 'session_ended');
  // Once more, or with an unknown token: nothing left to end, still 204.
  assert.equal((await api('POST', '/auth/logout', { body: {}, headers: { Cookie: c4.pair } })).status, 204);
  assert.equal((await api('POST', '/auth/logout', { body: {}, headers: { Cookie: 'messenger_refresh=' + 'B'.repeat(43) } })).status, 204);
  // Neither a token nor a cookie (or a malformed one): 401.
  expectProblem(assert, await api('POST', '/auth/logout'), 401);
  expectProblem(assert, await api('POST', '/auth/logout', { headers: { Cookie: 'messenger_refresh=a b' } }), 401);

  // A token in the body wins over the cookie; asking for the cookie moves it there.
  const u = await registerUser('ckbody');
  const moved = await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh, refresh_cookie: true }, headers: { Cookie: 'messenger_refresh=AAAA' } });
  assert.equal(moved.status, 200, moved.text);
  assert.equal(moved.body.refresh_token, undefined);
  const c3 = refreshCookie(moved);
  assert.equal((await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: c3.pair } })).status, 200);
  // Two refresh cookies (another site of the domain planted its account's
  // first): neither is used, neither is spent.
  const victim = await api('POST', '/auth/login', { body: { username, password, refresh_cookie: true } });
  const planter = await registerUser('ckplant');
  const planted = await api('POST', '/auth/refresh', { body: { refresh_token: planter.refresh, refresh_cookie: true } });
  const cv = refreshCookie(victim), cp = refreshCookie(planted);
  const both = await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: `${cp.pair}; ${cv.pair}` } });
  expectProblem(assert, both, 400, 'invalid_field');
  const v2 = await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: cv.pair } });
  assert.equal(v2.status, 200, 'the victim\'s own cookie still works');
  const p2 = await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: cp.pair } });
  assert.equal(p2.status, 200, 'and the planted one was not spent');
  // Signing out with both ends the victim's session all the same (and the
  // planter's, which is only theirs to lose).
  const cv2 = refreshCookie(v2), cp2 = refreshCookie(p2);
  const out2 = await api('POST', '/auth/logout', { body: {}, headers: { Cookie: `${cp2.pair}; ${cv2.pair}` } });
  assert.equal(out2.status, 204, out2.text);
  assert.equal(refreshCookie(out2).value, '');
  expectProblem(assert, await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: cv2.pair } }), 401, 'session_ended');
  expectProblem(assert, await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: cp2.pair } }), 401, 'session_ended');

  // Bad cookies and flags: refused with a problem, nothing revoked.
  for (const cookie of ['', 'messenger_refresh=', 'messenger_refresh=a b', 'messenger_refresh=' + 'x'.repeat(200),
    'other=1', 'messenger_refresh=%00', 'messenger_refresh="quoted"']) {
    const r = await api('POST', '/auth/refresh', { body: {}, headers: cookie ? { Cookie: cookie } : {} });
    expectProblem(assert, r, 400, 'invalid_field');
  }
  expectProblem(assert, await api('POST', '/auth/refresh', { body: {}, headers: { Cookie: 'messenger_refresh=' + 'A'.repeat(43) } }), 401, 'invalid_refresh_token');
  expectProblem(assert, await api('POST', '/auth/login', { body: { username, password, refresh_cookie: 'yes' } }), 400, 'invalid_field');
  expectProblem(assert, await api('POST', '/auth/register', { body: { username: uniq('ckb'), password, refresh_cookie: 1 } }), 400, 'invalid_field');
  // Without a JSON body a cookie alone refreshes nothing (a cross-site form cannot send JSON).
  const form = await api('POST', '/auth/refresh', { body: 'x=1', contentType: 'application/x-www-form-urlencoded', headers: { Cookie: c3.pair } });
  assert.equal(form.status, 415);
});

test('logout revokes the access token at once', async () => {
  const u = await registerUser('logout');
  assert.equal((await api('POST', '/auth/logout', { token: u.token })).status, 204);
  expectProblem(assert, await api('GET', '/me', { token: u.token }), 401, 'invalid_token');
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } }), 401);
  // A retried logout (its first answer lost) succeeds as well; a forged
  // token still does not.
  assert.equal((await api('POST', '/auth/logout', { token: u.token })).status, 204);
  const [h, p] = u.token.split('.');
  expectProblem(assert, await api('POST', '/auth/logout', { token: `${h}.${p}.${'A'.repeat(43)}` }), 401, 'invalid_token');
});

test('a logout sent again soon tells the caches again; one of a session ended long ago costs them nothing', async () => {
  const u = await registerUser('relogout');
  const sid = claims(u.token).sid;
  const key = `m:sess:${sid}`;
  await exclusive('memcached', async () => {
    const st = await mcStats();
    assert.ok(st, 'memcached is up');
    assert.equal((await api('POST', '/auth/logout', { token: u.token, body: {} })).status, 204);
    assert.match(await mcCommand(`mg ${key} v`), /^VA /, 'the ending is in the cache');
    // Sent again moments later (its first answer lost): told again.
    await mcCommand(`md ${key}`);
    assert.equal((await api('POST', '/auth/logout', { token: u.token, body: {} })).status, 204);
    assert.match(await mcCommand(`mg ${key} v`), /^VA /, 'a retry tells the caches again');
    // Ended over a minute ago: no cache can still hold it as valid, and
    // the same logout again (or a loop of them) writes nothing there.
    await mcCommand(`md ${key}`);
    sql(`UPDATE sessions SET revoked_at = NOW(3) - INTERVAL 2 MINUTE WHERE id = ${sid}`);
    assert.equal((await api('POST', '/auth/logout', { token: u.token, body: {} })).status, 204);
    assert.equal((await api('DELETE', `/sessions/${sid}`, { token: u.token })).status, 401);
    assert.match(await mcCommand(`mg ${key} v`), /^EN/, 'nothing written for a session ended long ago');
    assert.equal((await mcStats()).pid, st.pid, 'the same memcached throughout');
  });
});

test('tokens: missing, malformed, tampered, alg=none, expired and foreign-signed are refused', async () => {
  const u = await registerUser('jwt');
  const key = jwtKey();
  const c = claims(u.token);
  const now = Math.floor(Date.now() / 1000);
  const cases = {
    missing: undefined,
    garbage: 'abc.def.ghi',
    empty: '',
    tampered: u.token.slice(0, -3) + (u.token.endsWith('AAA') ? 'BBB' : 'AAA'),
    other_sub: signJwt({ ...c, sub: String(u.id + 1) }, 'wrong-key-wrong-key-wrong-key'),
    alg_none: signJwt({ ...c }, key, { alg: 'none', typ: 'JWT' }),
    expired: signJwt({ ...c, iat: now - 3600, exp: now - 60 }, key),
    wrong_typ: signJwt({ ...c, typ: 'refresh' }, key),
    hs512: (() => {
      const h = b64url(JSON.stringify({ alg: 'HS512', typ: 'JWT' })), p = b64url(JSON.stringify(c));
      return `${h}.${p}.${b64url(crypto.createHmac('sha512', key).update(h + '.' + p).digest())}`;
    })(),
  };
  for (const [name, tok] of Object.entries(cases)) {
    const headers = tok === undefined ? {} : { Authorization: 'Bearer ' + tok };
    const r = await api('GET', '/me', { headers });
    assert.equal(r.status, 401, `${name}: expected 401, got ${r.status}`);
    assert.match(r.headers['www-authenticate'] || '', /^Bearer/);
  }
  // A correctly signed, unexpired token for this session still works (the key is right).
  const fresh = signJwt({ ...c, iat: now, exp: now + 60 }, key);
  assert.equal((await api('GET', '/me', { token: fresh })).status, 200);
  // Basic auth or another scheme is not a bearer token.
  expectProblem(assert, await api('GET', '/me', { headers: { Authorization: 'Basic dXNlcjpwdw==' } }), 401);
});

test('bad input to register and login is refused with a problem and creates nothing', async () => {
  const name = uniq('bad');
  const cases = [
    ['malformed JSON', '{"username": "x", ', 400, 'invalid_json'],
    ['empty body', '', 400, 'invalid_json'],
    ['array body', '[]', 400, 'invalid_json'],
    ['trailing garbage', `{"username":"${name}","password":"longenough"} x`, 400, 'invalid_json'],
    ['wrong type', { username: 12345, password: 'longenough' }, 400, 'invalid_field'],
    ['missing password', { username: name }, 400, 'invalid_field'],
    ['missing username', { password: 'longenough' }, 400, 'invalid_field'],
    ['null username', { username: null, password: 'longenough' }, 400, 'invalid_field'],
    ['unknown field', { username: name, password: 'longenough', admin: true }, 400, 'invalid_field'],
    ['short password', { username: name, password: 'short' }, 400, 'weak_password'],
    ['bad username chars', { username: "robert'); DROP TABLE users;--", password: 'longenough' }, 400, 'invalid_username'],
    ['unicode username', { username: 'ünïcødé', password: 'longenough' }, 400, 'invalid_username'],
    ['NUL in password', { username: name, password: 'long\u0000enough' }, 400, 'invalid_field'],
    ['NUL in display name', { username: name, password: 'longenough', display_name: 'a\u0000b' }, 400, 'invalid_field'],
    ['control chars in display name', { username: name, password: 'longenough', display_name: 'a\u0007b' }, 400, 'invalid_field'],
    ['display name too long', { username: name, password: 'longenough', display_name: 'x'.repeat(65) }, 400, 'invalid_field'],
    ['blank display name', { username: name, password: 'longenough', display_name: '   ' }, 400, 'invalid_field'],
    ['huge password', { username: name, password: 'x'.repeat(10000) }, 400, 'invalid_field'],
  ];
  for (const [label, body, status, code] of cases) {
    const r = await api('POST', '/auth/register', { body });
    assert.equal(r.status, status, `${label}: ${r.status} ${r.text}`);
    assert.equal(r.body.code, code, label);
  }
  // Bytes that are not UTF-8, including the forms json-c lets through
  // (an overlong NUL, a UTF-16 surrogate, a code point past U+10FFFF),
  // which the database would refuse with a 500.
  for (const bad of [[0xff, 0xfe], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
    const raw = Buffer.concat([Buffer.from(`{"username":"${name}","password":"longenough","display_name":"a`), Buffer.from(bad), Buffer.from('b"}')]);
    expectProblem(assert, await api('POST', '/auth/register', { body: raw }), 400, 'invalid_json');
  }
  // The name a deleted account is renamed to is reserved.
  expectProblem(assert, await api('POST', '/auth/register', { body: { username: 'deleted-1', password: 'longenough' } }), 400, 'invalid_username');
  expectProblem(assert, await api('POST', '/auth/register', { body: { username: `Deleted-${name}`.slice(0, 32), password: 'longenough' } }), 400, 'invalid_username');
  // Wrong content type.
  expectProblem(assert, await api('POST', '/auth/register', { body: 'username=x', contentType: 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
  // A body over the cap.
  const huge = JSON.stringify({ username: name, password: 'x'.repeat(200 * 1024) });
  const r = await api('POST', '/auth/register', { body: huge });
  assert.equal(r.status, 413);
  // Login with an SQL-looking username is just a wrong login.
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: "' OR 1=1 --", password: 'whatever1' } }), 401, 'invalid_credentials');
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: 'x' } }), 400, 'invalid_field');
  expectProblem(assert, await api('POST', '/auth/refresh', { body: { refresh_token: 42 } }), 400, 'invalid_field');
  // No account under any name these refused requests carried, lower-cased
  // as the server does before it stores or looks one up. (An account a test
  // deleted is renamed deleted-<id>: user 1 may rightly be deleted-1.)
  const tried = [name, 12345, "robert'); DROP TABLE users;--", 'ünïcødé', 'deleted-1', `Deleted-${name}`.slice(0, 32), "' OR 1=1 --", 'x']
    .map((u) => `'${String(u).toLowerCase().replace(/'/g, "''")}'`);
  assert.equal(sql(`SELECT COUNT(*) FROM users WHERE CONVERT(username USING utf8mb4) IN (${tried.join(', ')})
    AND NOT (deleted_at IS NOT NULL AND username = CONCAT('deleted-', id))`)[0][0], '0');
});

test('display names keep unicode; SQL-looking text is stored as text', async () => {
  const u = await registerUser('uni', { display_name: 'Zoë 🚀 日本' });
  assert.equal(u.user.display_name, 'Zoë 🚀 日本');
  const r = await api('PATCH', '/me', { token: u.token, body: { about: "'; DROP TABLE users; --\nsecond line" } });
  assert.equal(r.status, 200);
  assert.equal(r.body.about, "'; DROP TABLE users; --\nsecond line");
  assert.equal((await api('GET', `/users/${u.id}`, { token: u.token })).body.about, r.body.about);
});

test('PATCH /me changes profile and password; bad input changes nothing', async () => {
  const u = await registerUser('patch');
  const r = await api('PATCH', '/me', { token: u.token, body: { display_name: 'New Name', about: 'Hello there' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.display_name, 'New Name');
  for (const body of [{ display_name: '' }, { display_name: '   ' }, { display_name: 5 }, { about: 'x'.repeat(281) }, { id: 7 }, { new_password: 'newpassword1' }]) {
    const b = await api('PATCH', '/me', { token: u.token, body });
    expectProblem(assert, b, 400, 'invalid_field');
    assert.ok(b.body.field, `names its field: ${JSON.stringify(body)}`);
  }
  // Blank and control characters by Unicode's classes (no-break and
  // ideographic spaces; C1 controls such as U+009B), each error naming its
  // field.
  for (const [body, field] of [[{ display_name: '\u00a0\u3000' }, 'display_name'], [{ display_name: '\u200b\u200d' }, 'display_name'], [{ display_name: 'Ann \u202egnp.exe' }, 'display_name'], [{ display_name: 'a\u0001' }, 'display_name'],
    [{ display_name: 'x\u009b2J' }, 'display_name'], [{ about: 'hi\u0085there' }, 'about'], [{ display_name: '  ' }, 'display_name'],
    [{ new_password: 'newpassword1' }, 'current_password'], [{ current_password: u.password }, 'new_password']]) {
    const b = await api('PATCH', '/me', { token: u.token, body });
    expectProblem(assert, b, 400, 'invalid_field');
    assert.equal(b.body.field, field, JSON.stringify(body));
  }
  const wrong = await api('PATCH', '/me', { token: u.token, body: { current_password: 'not-it-at-all', new_password: 'newpassword1' } });
  expectProblem(assert, wrong, 403, 'wrong_password');
  const me = await api('GET', '/me', { token: u.token });
  assert.equal(me.body.display_name, 'New Name');
  assert.equal(me.body.about, 'Hello there');
  // Right-to-left writing keeps its marks in a name, and its isolates in a
  // longer text.
  const rtl = await api('PATCH', '/me', { token: u.token, body: { display_name: 'שלום\u200f', about: 'hi \u2067שלום\u2069 there' } });
  assert.equal(rtl.status, 200, rtl.text);
  assert.equal(rtl.body.display_name, 'שלום\u200f');
  assert.equal((await api('PATCH', '/me', { token: u.token, body: { display_name: 'New Name', about: 'Hello there' } })).status, 200);
  const other = await api('POST', '/auth/login', { body: { username: u.username, password: u.password, device_name: 'other' } });
  assert.equal((await api('GET', '/me', { token: other.body.access_token })).status, 200);
  assert.equal((await api('GET', '/events?since=0&timeout=0', { token: other.body.access_token })).status, 200);
  const ok = await api('PATCH', '/me', { token: u.token, body: { current_password: u.password, new_password: 'brand-new-password' } });
  assert.equal(ok.status, 200);
  // The device that changed it stays signed in; every other device is signed out.
  assert.equal((await api('GET', '/me', { token: u.token })).status, 200);
  expectProblem(assert, await api('GET', '/me', { token: other.body.access_token }), 401);
  expectProblem(assert, await api('GET', '/events?since=0&timeout=0', { token: other.body.access_token }), 401);
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: u.username, password: u.password } }), 401);
  assert.equal((await api('POST', '/auth/login', { body: { username: u.username, password: 'brand-new-password' } })).status, 200);
  expectProblem(assert, await api('PATCH', '/me', { body: { about: 'x' } }), 401);
});

test('PATCH /me refuses text that is not UTF-8 before the password changes', async () => {
  const u = await registerUser('patchutf');
  const body = Buffer.concat([Buffer.from(`{"current_password":"${u.password}","new_password":"another-password","display_name":"a`), Buffer.from([0xc0, 0x80]), Buffer.from('b"}')]);
  expectProblem(assert, await api('PATCH', '/me', { token: u.token, body }), 400, 'invalid_json');
  assert.equal((await api('POST', '/auth/login', { body: { username: u.username, password: u.password }, localAddress: '127.0.0.6' })).status, 200);
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: u.username, password: 'another-password' }, localAddress: '127.0.0.6' }), 401, 'invalid_credentials');
  assert.equal((await api('GET', '/me', { token: u.token })).body.display_name, u.user.display_name);
});

test('password checks on /me count toward the account login limit (a token gives no extra guesses)', async () => {
  const u = await registerUser('pwlimit');
  let limited = null;
  for (let i = 0; i < 12; i++) {
    const r = await api('PATCH', '/me', { token: u.token, body: { current_password: 'wrong-password', new_password: 'whatever-new-1' } });
    if (r.status === 429) { limited = r; break; }
    expectProblem(assert, r, 403, 'wrong_password');
  }
  assert.ok(limited, 'expected 429 within 12 wrong password checks');
  expectProblem(assert, limited, 429, 'rate_limited');
  assert.ok(Number(limited.headers['retry-after']) >= 1);
  // Deleting the account is held back too, even with the right password;
  // the account stays, and so does the login form's limit for it from that
  // address. Its owner elsewhere still logs in.
  expectProblem(assert, await api('DELETE', '/me', { token: u.token, body: { password: u.password } }), 429, 'rate_limited');
  assert.equal((await api('GET', '/me', { token: u.token })).status, 200);
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: u.username, password: u.password } }), 429, 'rate_limited');
  assert.equal((await api('POST', '/auth/login', { body: { username: u.username, password: u.password }, localAddress: '127.0.0.5' })).status, 200);
  // Changing only the profile needs no password and is not limited.
  assert.equal((await api('PATCH', '/me', { token: u.token, body: { about: 'still here' } })).status, 200);
});

test('a malformed query string is a 400, not an absent parameter', async () => {
  const u = await registerUser('badq');
  const peer = await registerUser('badqp');
  const c = await api('POST', '/conversations', { token: u.token, body: { type: 'direct', member_ids: [peer.id] } });
  assert.equal(c.status, 201);
  // (lighttpd answers %00, other escaped control characters and some broken
  // UTF-8 such as %FF itself, with its own 400.)
  for (const q of ['before=%zz', 'before=5%', 'before=%F4%90%80%80', 'limit=%ED%A0%80']) {
    expectProblem(assert, await api('GET', `/conversations/${c.body.id}/messages?${q}`, { token: u.token }), 400, 'invalid_query');
  }
  expectProblem(assert, await api('GET', '/events?since=5%&timeout=0', { token: u.token }), 400, 'invalid_query');
  expectProblem(assert, await api('GET', '/users?q=%F4%90%80%80', { token: u.token }), 400, 'invalid_query');
  // Well-formed escapes of any UTF-8 still work, and find what they name
  // (a display name outside ASCII, which no username can hold).
  const shown = `Zoë 🚀 ${uniq('n')}`;
  const z = await registerUser('badqz', { display_name: shown });
  const found = await api('GET', `/users?q=${encodeURIComponent(shown)}`, { token: u.token });
  assert.equal(found.status, 200);
  assert.deepEqual(found.body.users.map((x) => x.id), [z.id]);
  assert.deepEqual((await api('GET', `/users?q=${encodeURIComponent('🚀')}`, { token: u.token })).body.users, []);
  assert.equal((await api('GET', `/conversations/${c.body.id}/messages?limit=%35`, { token: u.token })).status, 200);
});

test('users: get by id, search by prefix with pagination', async () => {
  const prefix = uniq('srch').slice(0, 12);
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await registerUser(prefix));
  const me = made[0];
  const r1 = await api('GET', `/users?q=${prefix}&limit=2`, { token: me.token });
  assert.equal(r1.status, 200);
  assert.equal(r1.body.users.length, 2);
  assert.ok(r1.body.next_cursor);
  const r2 = await api('GET', `/users?q=${prefix}&limit=2&cursor=${r1.body.next_cursor}`, { token: me.token });
  assert.equal(r2.body.users.length, 1);
  assert.equal(r2.body.next_cursor, null);
  const ids = [...r1.body.users, ...r2.body.users].map((u) => u.id).sort();
  assert.deepEqual(ids, made.map((u) => u.id).sort());
  // LIKE wildcards are literal.
  assert.equal((await api('GET', '/users?q=%25', { token: me.token })).body.users.length, 0);
  expectProblem(assert, await api('GET', '/users', { token: me.token }), 400);
  expectProblem(assert, await api('GET', `/users?q=${'x'.repeat(65)}`, { token: me.token }), 400);
  expectProblem(assert, await api('GET', `/users?q=a&limit=0`, { token: me.token }), 400);
  expectProblem(assert, await api('GET', `/users?q=a&cursor=zz`, { token: me.token }), 400);
  const one = await api('GET', `/users/${made[1].id}`, { token: me.token });
  assert.equal(one.body.username, made[1].username);
  expectProblem(assert, await api('GET', '/users/99999999', { token: me.token }), 404);
  expectProblem(assert, await api('GET', '/users/-1', { token: me.token }), 404);
  expectProblem(assert, await api('GET', '/users/1', {}), 401);
});

test('DELETE /me needs the password, then the account is gone and its name free', async () => {
  const u = await registerUser('del');
  expectProblem(assert, await api('DELETE', '/me', { token: u.token, body: { password: 'wrong-one-here' } }), 403);
  assert.equal((await api('GET', '/me', { token: u.token })).status, 200);
  assert.equal((await api('GET', '/events?since=0&timeout=0', { token: u.token })).status, 200);
  assert.equal((await api('DELETE', '/me', { token: u.token, body: { password: u.password } })).status, 204);
  expectProblem(assert, await api('GET', '/me', { token: u.token }), 401);
  expectProblem(assert, await api('GET', '/events?since=0&timeout=0', { token: u.token }), 401);
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: u.username, password: u.password } }), 401);
  assert.equal((await api('POST', '/auth/register', { body: { username: u.username, password: 'new-owner-password' } })).status, 201);
});

test('login is rate-limited per account from one address, even with the right password, without locking its owner out elsewhere', async () => {
  const u = await registerUser('rl');
  const wrongFrom = async (ip) => {
    for (let i = 0; i < 12; i++) {
      const r = await api('POST', '/auth/login', { body: { username: u.username, password: 'wrong-password' }, localAddress: ip });
      if (r.status === 429) return r;
      assert.equal(r.status, 401);
    }
    return null;
  };
  const limited = await wrongFrom('127.0.0.3');
  assert.ok(limited, 'expected 429 within 12 attempts');
  assert.ok(Number(limited.headers['retry-after']) > 0);
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: u.username, password: u.password }, localAddress: '127.0.0.3' }), 429, 'rate_limited');
  // The owner, elsewhere, still logs in: wrong passwords from one address
  // lock nobody out.
  assert.equal((await api('POST', '/auth/login', { body: { username: u.username, password: u.password }, localAddress: '127.0.0.4' })).status, 200);
  // Guessing spread over many addresses is stopped too, at ten times the
  // limit of one (the first address's attempts count: 10 of 100).
  for (let a = 0; a < 9; a++) assert.ok(await wrongFrom(`127.0.1.${a + 10}`), `429 from address ${a}`);
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: u.username, password: u.password }, localAddress: '127.0.1.100' }), 429, 'rate_limited');
  // Other accounts are unaffected.
  const v = await registerUser('rl2');
  assert.equal((await api('POST', '/auth/login', { body: { username: v.username, password: v.password }, localAddress: '127.0.0.4' })).status, 200);
});

test('registration is rate-limited per address (register_per_ip_per_hour); nothing is created past it', async () => {
  const from = '127.0.3.' + (1 + Math.floor(Math.random() * 250));
  // This address has used up its hour (the test stack's limit is 100,000;
  // the count is set, not made): the current and the next hour's window.
  const now = Math.floor(Date.now() / 1000), start = now - (now % 3600);
  for (const w of [start, start + 3600]) {
    sql(`SET time_zone = '+00:00'; INSERT INTO rate_limits (bucket, window_start, hits)
      VALUES ('register:${from}:${w}', FROM_UNIXTIME(${w}), 100000) ON DUPLICATE KEY UPDATE hits = 100000`);
  }
  const name = uniq('rlreg');
  const r = await api('POST', '/auth/register', { body: { username: name, password: 'longenough-1' }, localAddress: from });
  expectProblem(assert, r, 429, 'rate_limited');
  assert.ok(Number(r.headers['retry-after']) > 0, 'with Retry-After');
  assert.equal(sql(`SELECT COUNT(*) FROM users WHERE username = '${name}'`)[0][0], '0');
  // Another address registers the same name.
  const ok = await api('POST', '/auth/register', { body: { username: name, password: 'longenough-1' } });
  assert.equal(ok.status, 201, ok.text);
});

test('login is rate-limited per IP address across accounts', async () => {
  const ip = '127.0.0.' + (10 + Math.floor(Math.random() * 200));
  let limited = false;
  for (let i = 0; i < 60 && !limited; i++) {
    const r = await api('POST', '/auth/login', { body: { username: uniq('ghost'), password: 'wrong-password' }, localAddress: ip });
    if (r.status === 429) limited = true; else assert.equal(r.status, 401);
  }
  assert.ok(limited, 'expected 429 from one address within 60 attempts');
  // Another address still gets in (one of its own: 127.0.0.1 is every
  // other test file's, which may be near its own limit).
  const u = await registerUser('rlip');
  assert.equal((await api('POST', '/auth/login', { body: { username: u.username, password: u.password }, localAddress: '127.0.0.7' })).status, 200);
});

test('the login limit looks back a whole window: attempts just before a window ends still count just after', async () => {
  const ip = '127.0.0.230';
  const w = 300; // login_window_seconds
  let now = Math.floor(Date.now() / 1000);
  if (w - (now % w) < 3) {
    await new Promise((r) => setTimeout(r, (w - (now % w) + 1) * 1000));
    now = Math.floor(Date.now() / 1000);
  }
  const start = now - (now % w);
  // The previous window alone is full, at any moment of this one (its
  // weight falls to 1/300 at the end): a fixed window would start afresh.
  sql(`INSERT INTO rate_limits (bucket, window_start, hits) VALUES ('login-ip:${ip}:${start - w}', FROM_UNIXTIME(${start - w}), ${50 * w}) ON DUPLICATE KEY UPDATE hits = VALUES(hits)`);
  const r = await api('POST', '/auth/login', { body: { username: uniq('ghost'), password: 'wrong-password' }, localAddress: ip });
  expectProblem(assert, r, 429, 'rate_limited');
  assert.ok(Number(r.headers['retry-after']) >= 1 && Number(r.headers['retry-after']) <= w);
});

test('unknown routes and methods', async () => {
  const u = await registerUser('route');
  const r = await api('GET', '/nope', { token: u.token, validate: false });
  expectProblem(assert, r, 404, 'not_found');
  const m = await api('PUT', '/me', { token: u.token, validate: false });
  expectProblem(assert, m, 405, 'method_not_allowed');
  // A 405 names the methods the resource has.
  assert.deepEqual(m.headers.allow.split(', ').sort(), ['DELETE', 'GET', 'PATCH']);
  const s = await api('DELETE', '/auth/login', { validate: false });
  expectProblem(assert, s, 405, 'method_not_allowed');
  assert.equal(s.headers.allow, 'POST');
});

test('health reports the database and cache', async () => {
  const r = await api('GET', '/health');
  assert.equal(r.status, 200);
  assert.equal(r.body.database, 'ok');
});

test('a login with the old password while the password changes gets no session that outlives the change', async () => {
  // The login reads the account's password hash, then waits its turn to
  // check the password (argon2, two at a time). A password change that
  // commits in between used to leave the login's new session alive (its
  // refresh token good for 30 days): the change ends only the sessions
  // that exist when it commits. The login is started at several moments of
  // the change's two hashings, one account each.
  const lags = [0, 25, 50, 75, 100, 150, 200, 300, 450, 700];
  const results = await Promise.all(lags.map(async (lag, i) => {
    const u = await registerUser('race' + i);
    const change = api('PATCH', '/me', { token: u.token, body: { current_password: u.password, new_password: 'changed-password-' + i } });
    await new Promise((r) => setTimeout(r, lag));
    const login = await api('POST', '/auth/login', { body: { username: u.username, password: u.password } });
    const changed = await change;
    return { lag, u, changed, login };
  }));
  for (const { lag, changed, login } of results) {
    assert.equal(changed.status, 200, `the change (login ${lag} ms later)`);
    // Refused: the login found the new password in place.
    if (login.status === 401) continue;
    assert.equal(login.status, 200, `login ${lag} ms into the change`);
    // The old password's session must be over once the change committed.
    const me = await api('GET', '/me', { token: login.body.access_token });
    assert.equal(me.status, 401, `the old password's session, login ${lag} ms into the change, still works`);
    const r = await api('POST', '/auth/refresh', { body: { refresh_token: login.body.refresh_token } });
    assert.equal(r.status, 401, `its refresh token, login ${lag} ms into the change`);
  }
});

test('two devices changing the password at once: one wins, the other is told and changes nothing', async () => {
  // Both prove the same current password; each used to write its own new
  // one and sign the other out, so the device signed out chose the
  // password. Now a change replaces only the password it checked.
  const u = await registerUser('pwrace');
  const second = await api('POST', '/auth/login', { body: { username: u.username, password: u.password } });
  assert.equal(second.status, 200);
  const [one, two] = await Promise.all([
    api('PATCH', '/me', { token: u.token, body: { current_password: u.password, new_password: 'first-device-pw', about: 'from the first' } }),
    api('PATCH', '/me', { token: second.body.access_token, body: { current_password: u.password, new_password: 'second-device-pw', about: 'from the second' } }),
  ]);
  const statuses = [one.status, two.status].sort();
  assert.deepEqual(statuses, [200, 409], `answers ${one.status} ${one.text} / ${two.status} ${two.text}`);
  const [won, lost] = one.status === 200 ? [one, two] : [two, one];
  expectProblem(assert, lost, 409, 'password_changed');
  const winner = one.status === 200 ? 'first-device-pw' : 'second-device-pw';
  const loser = one.status === 200 ? 'second-device-pw' : 'first-device-pw';
  assert.equal((await api('POST', '/auth/login', { body: { username: u.username, password: winner } })).status, 200);
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: u.username, password: loser } }), 401, 'invalid_credentials');
  // The refused change changed nothing of the profile either.
  const me = await api('GET', '/me', { token: (await api('POST', '/auth/login', { body: { username: u.username, password: winner } })).body.access_token });
  assert.equal(me.body.about, won.body.about);
});
