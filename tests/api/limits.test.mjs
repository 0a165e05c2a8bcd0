// Length limits count characters (code points), as the OpenAPI document
// says, not bytes: a name or password of non-ASCII letters is held to the
// same number of characters as an ASCII one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, uniq, sql, expectProblem } from './lib.mjs';

const count = (q) => Number(sql(q)[0][0]);
// Logins from an address of their own: 127.0.0.1's login limit belongs to
// the test files that run alongside.
const LOGIN_FROM = '127.0.0.9';

test('passwords: 8-256 characters, whatever their bytes', async () => {
  // Seven two-byte letters are 14 bytes but 7 characters: too short.
  const short = uniq('pwshort');
  expectProblem(assert, await api('POST', '/auth/register', { body: { username: short, password: 'äöüßéèà' } }), 400, 'weak_password');
  assert.equal(count(`SELECT COUNT(*) FROM users WHERE username='${short}'`), 0);
  // 256 four-byte characters (1,024 bytes) are a valid password, and log in.
  const name = uniq('pwlong');
  const long = '😀'.repeat(256);
  const reg = await api('POST', '/auth/register', { body: { username: name, password: long, device_name: '📱'.repeat(64) } });
  assert.equal(reg.status, 201, reg.text);
  const login = await api('POST', '/auth/login', { body: { username: name, password: long, device_name: 'é'.repeat(64) }, localAddress: LOGIN_FROM });
  assert.equal(login.status, 200, login.text);
  const sessions = await api('GET', '/sessions', { token: login.body.access_token });
  assert.deepEqual(sessions.body.sessions.map((s) => s.device_name).sort(), ['é'.repeat(64), '📱'.repeat(64)].sort());
  // One character more is refused everywhere a password is taken, and
  // changes nothing.
  const over = '😀'.repeat(257);
  const other = uniq('pwover');
  expectProblem(assert, await api('POST', '/auth/register', { body: { username: other, password: over } }), 400, 'invalid_field');
  assert.equal(count(`SELECT COUNT(*) FROM users WHERE username='${other}'`), 0);
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: name, password: over }, localAddress: LOGIN_FROM }), 400, 'invalid_field');
  const hash = sql(`SELECT password_hash FROM users WHERE id=${reg.body.user.id}`)[0][0];
  expectProblem(assert, await api('PATCH', '/me', { token: reg.body.access_token, body: { current_password: long, new_password: over } }), 400, 'invalid_field');
  expectProblem(assert, await api('PATCH', '/me', { token: reg.body.access_token, body: { current_password: over, new_password: 'a-new-password' } }), 400, 'invalid_field');
  assert.equal(sql(`SELECT password_hash FROM users WHERE id=${reg.body.user.id}`)[0][0], hash);
  expectProblem(assert, await api('DELETE', '/me', { token: reg.body.access_token, body: { password: over } }), 400, 'invalid_field');
  assert.equal((await api('GET', '/me', { token: reg.body.access_token })).status, 200);
  // A 65-character device name is refused, and opens no session.
  expectProblem(assert, await api('POST', '/auth/login', { body: { username: name, password: long, device_name: 'é'.repeat(65) }, localAddress: LOGIN_FROM }), 400, 'invalid_field');
  assert.equal((await api('GET', '/sessions', { token: login.body.access_token })).body.sessions.length, 2);
});

test('user search: q of up to 64 characters; message search: up to 256', async () => {
  const me = await registerUser('qlen');
  const users = await api('GET', '/users?q=' + encodeURIComponent('é'.repeat(64)), { token: me.token });
  assert.equal(users.status, 200, users.text);
  assert.deepEqual(users.body.users, []);
  expectProblem(assert, await api('GET', '/users?q=' + encodeURIComponent('é'.repeat(65)), { token: me.token }), 400, 'invalid_query');
  const msgs = await api('GET', '/search?q=' + encodeURIComponent('ü'.repeat(256)), { token: me.token });
  assert.equal(msgs.status, 200, msgs.text);
  assert.deepEqual(msgs.body.results, []);
  expectProblem(assert, await api('GET', '/search?q=' + encodeURIComponent('ü'.repeat(257)), { token: me.token }), 400, 'invalid_query');
});
