// The cron sweeper (cron/sweeper.c) as an operator runs it: one run at a
// time, and sessions ended long ago go. (Retention and presence are tested
// in events.test.mjs and presence.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { api, registerUser, sql, sleep, until, tokenHashSql as hash, rotatedAgo } from './lib.mjs';
import { runSweeper, spawnSweeper } from './evlib.mjs';

const SOCK = process.env.MESSENGER_DB_SOCKET;
const count = (q) => Number(sql(q)[0][0]);

test('sessions expired a day ago (ended ones too, once expired) and tokens rotated a week ago are deleted', async () => {
  const u = await registerUser('swsess');
  const login = async () => {
    const r = await api('POST', '/auth/login', { body: { username: u.username, password: u.password } });
    assert.equal(r.status, 200);
    return r.body;
  };
  const [second, third, recent] = [await login(), await login(), await login()];
  for (const s of [second, recent]) assert.equal((await api('POST', '/auth/logout', { token: s.access_token, body: {} })).status, 204);
  const sessionOf = (t) => sql(`SELECT session_id FROM refresh_tokens WHERE token_hash = ${hash(t)}`)[0][0];
  const ended = sessionOf(second.refresh_token);
  const expired = sessionOf(third.refresh_token);
  const endedLately = sessionOf(recent.refresh_token);
  sql(`UPDATE sessions SET revoked_at = NOW(3) - INTERVAL 2 DAY WHERE id = ${ended}`);
  sql(`UPDATE sessions SET expires_at = NOW(3) - INTERVAL 2 DAY WHERE id = ${expired}`);
  sql(`UPDATE sessions SET revoked_at = NOW(3) - INTERVAL 1 HOUR WHERE id = ${endedLately}`);
  // The first session refreshes twice: one old token rotated 8 days ago
  // (goes), one 6 days ago (kept: a replay of it still ends the session).
  const r1 = await api('POST', '/auth/refresh', { body: { refresh_token: u.refresh } });
  assert.equal(r1.status, 200);
  const r = await api('POST', '/auth/refresh', { body: { refresh_token: r1.body.refresh_token } });
  assert.equal(r.status, 200);
  rotatedAgo(u.refresh, '8 DAY');
  rotatedAgo(r1.body.refresh_token, '6 DAY');
  // Signed out two days ago and expired since.
  const endedExpired = sessionOf((await login()).refresh_token);
  sql(`UPDATE sessions SET revoked_at = NOW(3) - INTERVAL 9 DAY, expires_at = NOW(3) - INTERVAL 2 DAY WHERE id = ${endedExpired}`);
  runSweeper();
  assert.equal(sql(`SELECT id FROM sessions WHERE id IN (${expired}, ${endedExpired})`).length, 0);
  assert.equal(sql(`SELECT 1 FROM refresh_tokens WHERE session_id IN (${expired}, ${endedExpired})`).length, 0);
  assert.equal(sql(`SELECT 1 FROM refresh_tokens WHERE token_hash = ${hash(u.refresh)}`).length, 0);
  // Not yet: sessions ended two days and an hour ago that have not
  // expired (a device signed out from another one learns so when it comes
  // back, and its drafts go), a token rotated 6 days ago.
  assert.equal(sql(`SELECT id FROM sessions WHERE id IN (${ended}, ${endedLately})`).length, 2);
  const back = await api('POST', '/auth/refresh', { body: { refresh_token: second.refresh_token } });
  assert.equal(back.status, 401);
  assert.equal(back.body.code, 'session_ended');
  assert.equal(sql(`SELECT 1 FROM refresh_tokens WHERE token_hash = ${hash(r1.body.refresh_token)}`).length, 1);
  // The live session and its current token are untouched.
  assert.equal((await api('GET', '/me', { token: r.body.access_token })).status, 200);
  assert.equal((await api('POST', '/auth/refresh', { body: { refresh_token: r.body.refresh_token } })).status, 200);
});

test('a second sweeper waits for the one running instead of sweeping beside it', async () => {
  const u = await registerUser('swlock');
  await api('PATCH', '/me', { token: u.token, body: { about: 'old news' } });
  // Another run holds the lock for three seconds. (Its own connection, not
  // a sweeper that another test file started meanwhile: that one would
  // prune what this test makes old.)
  const holder = spawn('mariadb', ['--no-defaults', '-S', SOCK, '-uroot', '--batch', '--skip-column-names', '--unbuffered', '-e',
    "SELECT CONNECTION_ID(); SELECT GET_LOCK('messenger-sweeper', 20); SELECT SLEEP(3);"], { stdio: ['ignore', 'pipe', 'ignore'] });
  const held = new Promise((resolve) => holder.on('exit', resolve));
  const holderId = await new Promise((resolve) => holder.stdout.once('data', (d) => resolve(String(d).trim().split('\n')[0])));
  await until(() => sql("SELECT IS_USED_LOCK('messenger-sweeper')")[0][0] === holderId, 'the holder to take the lock', 20000);
  sql(`UPDATE user_events SET created_at = NOW(3) - INTERVAL 30 DAY WHERE user_id = ${u.id}`);
  const { run, exited } = spawnSweeper();
  await sleep(1000);
  assert.equal(run.exitCode, null, 'still waiting for the lock');
  assert.ok(count(`SELECT COUNT(*) FROM user_events WHERE user_id = ${u.id}`) > 0, 'nothing pruned meanwhile');
  await held;
  assert.equal(await exited, 0);
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE user_id = ${u.id}`), 0, 'pruned once it ran');
});

test('an account deletion that could not leave its groups is finished by the sweeper', async () => {
  const owner = await registerUser('swgone');
  const m1 = await registerUser('swstay');
  const g = await api('POST', '/conversations', { token: owner.token, body: { type: 'group', title: 'Left behind', member_ids: [m1.id] } });
  assert.equal(g.status, 201, g.text);
  const gid = g.body.id;
  // The deletion committed (renamed, sessions ended) and then the database
  // went away before the account left its group: it is still the owner.
  sql(`UPDATE users SET username = CONCAT('deleted-', id), display_name = 'Deleted account', password_hash = '!', deleted_at = NOW(3) - INTERVAL 2 MINUTE WHERE id = ${owner.id}`);
  sql(`UPDATE sessions SET revoked_at = NOW(3) WHERE user_id = ${owner.id}`);
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE conversation_id = ${gid} AND user_id = ${owner.id}`), 1);
  runSweeper();
  // It has left, as a leaving owner does: the other member owns the group
  // and is told.
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE conversation_id = ${gid} AND user_id = ${owner.id}`), 0);
  const conv = await api('GET', `/conversations/${gid}`, { token: m1.token });
  assert.equal(conv.status, 200);
  assert.deepEqual(conv.body.members.map((m) => [m.user.id, m.role]), [[m1.id, 'owner']]);
  const removed = sql(`SELECT COUNT(*) FROM user_events WHERE user_id = ${m1.id} AND type = 'member.removed' AND conversation_id = ${gid}`);
  assert.equal(Number(removed[0][0]), 1);
  // Nothing is left for the next run.
  assert.equal(count(`SELECT COUNT(*) FROM members m JOIN conversations c ON c.id = m.conversation_id AND c.type = 'group' WHERE m.user_id = ${owner.id}`), 0);
});
