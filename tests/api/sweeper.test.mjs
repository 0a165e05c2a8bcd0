// The cron sweeper (cron/sweeper.c) as an operator runs it: one run at a
// time, and sessions ended long ago go. (Retention and presence are tested
// in events.test.mjs and presence.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { api, registerUser, sql, ROOT } from './lib.mjs';
import { runSweeper } from './evlib.mjs';

const SOCK = process.env.MESSENGER_DB_SOCKET;

function hash(token) {
  return `UNHEX(SHA2('${token}', 256))`;
}

test('sessions ended or expired a day ago, and tokens rotated a week ago, are deleted', async () => {
  const u = await registerUser('swsess');
  const second = await api('POST', '/auth/login', { body: { username: u.username, password: u.password } });
  const third = await api('POST', '/auth/login', { body: { username: u.username, password: u.password } });
  assert.equal(second.status, 200);
  assert.equal(third.status, 200);
  assert.equal((await api('POST', '/auth/logout', { token: second.body.access_token, body: {} })).status, 204);
  const sessionOf = (t) => sql(`SELECT session_id FROM refresh_tokens WHERE token_hash = ${hash(t)}`)[0][0];
  const ended = sessionOf(second.body.refresh_token);
  const expired = sessionOf(third.body.refresh_token);
  sql(`UPDATE sessions SET revoked_at = NOW(3) - INTERVAL 2 DAY WHERE id = ${ended}`);
  sql(`UPDATE sessions SET expires_at = NOW(3) - INTERVAL 2 DAY WHERE id = ${expired}`);
  // The first session refreshes: its old token is rotated, long ago.
  const r = await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } });
  assert.equal(r.status, 200);
  sql(`UPDATE refresh_tokens SET superseded_at = NOW(3) - INTERVAL 8 DAY WHERE token_hash = ${hash(u.refresh)}`);
  runSweeper();
  assert.equal(sql(`SELECT id FROM sessions WHERE id IN (${ended}, ${expired})`).length, 0);
  assert.equal(sql(`SELECT 1 FROM refresh_tokens WHERE session_id IN (${ended}, ${expired})`).length, 0);
  assert.equal(sql(`SELECT 1 FROM refresh_tokens WHERE token_hash = ${hash(u.refresh)}`).length, 0);
  // The live session and its current token are untouched.
  assert.equal((await api('GET', '/me', { token: r.body.access_token })).status, 200);
  assert.equal((await api('POST', '/auth/refresh', { body: { refresh_token: r.body.refresh_token } })).status, 200);
});

test('a second sweeper waits for the one running instead of sweeping beside it', async () => {
  const u = await registerUser('swlock');
  await api('PATCH', '/me', { token: u.token, body: { about: 'old news' } });
  sql(`UPDATE user_events SET created_at = NOW(3) - INTERVAL 30 DAY WHERE user_id = ${u.id}`);
  // Another run holds the lock for three seconds.
  const holder = spawn('mariadb', ['--no-defaults', '-S', SOCK, '-uroot', '-e',
    "SELECT GET_LOCK('messenger-sweeper', 10); SELECT SLEEP(3);"], { stdio: 'ignore' });
  const held = new Promise((resolve) => holder.on('exit', resolve));
  for (let i = 0; i < 50 && !sql("SELECT IS_USED_LOCK('messenger-sweeper')")[0][0].match(/^\d+$/); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const bin = process.env.MESSENGER_BIN || path.join(ROOT, 'build/release');
  const run = spawn(path.join(bin, 'cron/sweeper'), [], {
    env: { ...process.env, MESSENGER_CONF: path.join(process.env.MESSENGER_VAR, 'main.conf') }, stdio: 'ignore',
  });
  const ran = new Promise((resolve) => run.on('exit', resolve));
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(run.exitCode, null, 'still waiting for the lock');
  assert.ok(sql(`SELECT COUNT(*) FROM user_events WHERE user_id = ${u.id}`)[0][0] > 0, 'nothing pruned meanwhile');
  await held;
  assert.equal(await ran, 0);
  assert.equal(Number(sql(`SELECT COUNT(*) FROM user_events WHERE user_id = ${u.id}`)[0][0]), 0, 'pruned once it ran');
});
