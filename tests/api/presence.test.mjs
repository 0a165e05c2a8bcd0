// Presence: online while an events request is open, told only to people who
// share a conversation, offline announced by the sweeper, and private.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, expectProblem, validateSchema, sql, exclusive, until, mcStats, mcCommand, sleep } from './lib.mjs';
import { poll, head, directConv, runSweeper } from './evlib.mjs';

// Polls `user` from `since` until a presence event about `about` with
// online === want arrives; returns it and the cursor after it.
async function presenceEvent(user, since, about, want, ms = 10000) {
  let cursor = since;
  const end = Date.now() + ms;
  for (;;) {
    const left = Math.ceil((end - Date.now()) / 1000);
    if (left <= 0) throw new Error(`no presence ${want} event for user ${about}`);
    const r = await poll(user, cursor, { timeout: Math.min(left, 5) });
    assert.equal(r.status, 200);
    cursor = r.body.next;
    const e = r.body.events.find((x) => x.type === 'presence' && x.user_id === about);
    if (e) {
      assert.equal(e.online, want, JSON.stringify(e));
      return { event: e, next: cursor };
    }
  }
}

async function presenceOf(viewer, id) {
  const r = await api('GET', `/users/${id}/presence`, { token: viewer.token });
  return r;
}

test('my own presence: online while I poll, with last_seen', async () => {
  const u = await registerUser('presme');
  const before = await presenceOf(u, u.id);
  assert.equal(before.status, 200);
  assert.equal(before.body.user_id, u.id);
  // Asking for my presence is itself no events request: I was never online.
  assert.equal(before.body.online, false);
  assert.equal(before.body.last_seen, null);
  await poll(u, undefined, { timeout: 0 });
  const after = await presenceOf(u, u.id);
  assert.equal(after.body.online, true);
  validateSchema('Presence', after.body);
  assert.ok(Math.abs(Date.parse(after.body.last_seen) - Date.now()) < 60000);
});

test('contacts are told when I come online and go offline; strangers learn nothing', async () => {
  const a = await registerUser('presa');
  const b = await registerUser('presb');
  const stranger = await registerUser('presc');
  await directConv(a, b);
  let since = await head(a);
  const strangerSince = await head(stranger);
  // b opens an events request: online, told to a.
  await poll(b, undefined, { timeout: 0 });
  const on = await presenceEvent(a, since, b.id, true);
  assert.ok(on.event.last_seen);
  since = on.next;
  const seenByA = await presenceOf(a, b.id);
  assert.equal(seenByA.status, 200);
  assert.equal(seenByA.body.online, true);
  // Still online on the next request: no second announcement. (Presence
  // is written by the request that brings it, before its answer: nothing
  // to wait for.)
  await poll(b, undefined, { timeout: 0 });
  const quiet = await poll(a, since, { timeout: 0 });
  assert.equal(quiet.body.events.filter((e) => e.type === 'presence' && e.user_id === b.id).length, 0);
  // Privacy: a stranger gets 404, as for a user that does not exist.
  expectProblem(assert, await presenceOf(stranger, b.id), 404, 'not_found');
  expectProblem(assert, await presenceOf(a, 999999999), 404);
  expectProblem(assert, await presenceOf(a, 'abc'), 404);
  expectProblem(assert, await api('GET', `/users/${b.id}/presence`), 401);
  const s = await poll(stranger, strangerSince, { timeout: 0 });
  assert.equal(s.body.events.filter((e) => e.type === 'presence').length, 0);

  // b leaves; once last_seen is stale the sweeper announces offline.
  await sleep(3500);
  runSweeper({ MESSENGER_PRESENCE_OFFLINE_AFTER: '3' });
  const off = await presenceEvent(a, since, b.id, false);
  since = off.next;
  assert.ok(off.event.last_seen);
  const offNow = await presenceOf(a, b.id);
  assert.equal(offNow.body.online, false);
  assert.equal(offNow.body.last_seen, off.event.last_seen);
  // A second sweep (done when it returns) announces nothing more.
  runSweeper({ MESSENGER_PRESENCE_OFFLINE_AFTER: '3' });
  const after = await poll(a, since, { timeout: 0 });
  assert.equal(after.body.events.filter((e) => e.type === 'presence' && e.user_id === b.id).length, 0, 'no second offline');
  // b comes back: announced once more.
  await poll(b, undefined, { timeout: 0 });
  const back = await presenceEvent(a, since, b.id, true);
  const rest = await poll(a, back.next, { timeout: 0 });
  assert.equal(rest.body.events.filter((e) => e.type === 'presence' && e.user_id === b.id).length, 0);
});

test('presence goes to direct contacts and groups of up to 50, not to every member of a larger group', async () => {
  const u = await registerUser('presu');
  const pal = await registerUser('presp');
  const crowd = await Promise.all(Array.from({ length: 50 }, () => registerUser('presg')));
  const watcher = crowd[0];
  // A group of 51 (above presence_fanout_max, 50), one of exactly 50
  // (all of the first but watcher) and one of 3.
  const big = await api('POST', '/conversations', { token: u.token, body: { type: 'group', title: 'Everyone', member_ids: crowd.map((x) => x.id) } });
  assert.equal(big.status, 201, big.text);
  const fifty = await api('POST', '/conversations', { token: u.token, body: { type: 'group', title: 'Fifty', member_ids: crowd.slice(1).map((x) => x.id) } });
  assert.equal(fifty.status, 201, fifty.text);
  const small = await api('POST', '/conversations', { token: u.token, body: { type: 'group', title: 'Us', member_ids: [pal.id, crowd[1].id] } });
  assert.equal(small.status, 201, small.text);
  const palSince = await head(pal);
  const watcherSince = await head(watcher);
  const bothSince = await head(crowd[1]);
  const lastSince = await head(crowd[49]);
  // u comes online: the members of the groups of 3 and 50 are told
  // (crowd[1], in all three groups, once).
  await poll(u, undefined, { timeout: 0 });
  await presenceEvent(pal, palSince, u.id, true);
  await presenceEvent(crowd[49], lastSince, u.id, true);
  const both = await presenceEvent(crowd[1], bothSince, u.id, true);
  const after = await poll(crowd[1], both.next, { timeout: 0 });
  assert.deepEqual(after.body.events.filter((e) => e.type === 'presence' && e.user_id === u.id), []);
  const quiet = await poll(watcher, watcherSince, { timeout: 1 });
  assert.equal(quiet.status, 200);
  assert.deepEqual(quiet.body.events.filter((e) => e.type === 'presence' && e.user_id === u.id), []);
  // The large group's members still see it when they ask.
  const asked = await presenceOf(watcher, u.id);
  assert.equal(asked.status, 200);
  assert.equal(asked.body.online, true);
  // One row each for the 49 in the group of 50 and for pal; none for watcher.
  const ids = [...crowd, pal].map((x) => x.id).join(',');
  const rows = sql(`SELECT user_id FROM user_events WHERE type = 'presence' AND user_id IN (${ids}) AND payload LIKE '%"user_id":${u.id},%'`);
  assert.equal(rows.length, 50);
  assert.ok(!rows.some(([id]) => Number(id) === watcher.id));
});

test('a connected user keeps last_seen fresh; one whose online mark went missing is announced again', async () => {
  // Other test files stop memcached now and then; this one needs it steady.
  await exclusive('memcached', keepsLastSeen);
});

async function keepsLastSeen() {
  // A memcached restarted a moment ago is skipped by the servers for 2 s.
  await until(async () => +((await mcStats())?.uptime ?? -1) >= 3, 'memcached to be up for 3 s', 15000);
  const u = await registerUser('presk');
  const pal = await registerUser('presl');
  await directConv(u, pal);
  await poll(u, undefined, { timeout: 0 });
  const mark = () => Number(sql(`SELECT COUNT(*) FROM presence_online WHERE user_id = ${u.id}`)[0][0]);
  const age = () => Number(sql(`SELECT TIMESTAMPDIFF(SECOND, last_seen_at, NOW(3)) FROM users WHERE id = ${u.id}`)[0][0]);
  assert.equal(mark(), 1);
  // Ten minutes without a write, as if; the next refresh (its 30 s
  // throttle lifted) writes last_seen_at within about a second.
  sql(`UPDATE users SET last_seen_at = NOW(3) - INTERVAL 600 SECOND WHERE id = ${u.id}`);
  assert.ok(age() >= 600);
  assert.match(await mcCommand(`delete m:seen:${u.id}`), /DELETED|NOT_FOUND/);
  await poll(u, undefined, { timeout: 0 });
  await until(() => age() < 10, 'last_seen_at to be written');
  // The mark gone (as a failed transition could leave it) while the live
  // flag stays: the next refresh announces the user online again.
  const since = await head(pal);
  sql(`DELETE FROM presence_online WHERE user_id = ${u.id}`);
  assert.match(await mcCommand(`delete m:seen:${u.id}`), /DELETED|NOT_FOUND/);
  await poll(u, undefined, { timeout: 0 });
  await presenceEvent(pal, since, u.id, true);
  assert.equal(mark(), 1);
}
