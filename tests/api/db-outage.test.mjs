// While the database cannot be reached, every route answers 503
// database_unavailable (which clients retry), not 500, and nothing is
// written; once it is back, the same requests succeed.
//
// A second web instance of the test stack reaches MariaDB through a proxy
// socket that this test opens and closes, so the outage is its own: the
// other test files keep their database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, BASE, registerUser, sql, expectProblem, uniq, sleep } from './lib.mjs';
import { withProxiedInstance } from './evlib.mjs';
import { cid } from './chatlib.mjs';

// Logins from an address of their own: 127.0.0.1's login limit belongs to
// the test files that run alongside.
const LOGIN_FROM = '127.0.0.8';
const NAME = 'dbout';
const PORT3 = Number(new URL(BASE).port) + 23;
const BASE3 = `http://127.0.0.1:${PORT3}`;

test('a database outage answers 503 database_unavailable everywhere and writes nothing; then it heals', () => withProxiedInstance(NAME, PORT3, '', async (p) => {
  const a = await registerUser('outa');
  const b = await registerUser('outb');
  const conv = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] }, base: BASE3 });
  assert.equal(conv.status, 201, conv.text);
  const c = conv.body.id;
  // The instance's connections are open (its pool is warm): a send, a
  // login and a long-poll through it work.
  const first = await api('POST', `/conversations/${c}/messages`, { token: a.token, body: { client_id: cid(), body: 'before' }, base: BASE3 });
  assert.equal(first.status, 201, first.text);
  assert.equal((await api('POST', '/auth/login', { body: { username: a.username, password: a.password }, base: BASE3, localAddress: LOGIN_FROM })).status, 200);
  assert.equal((await api('GET', '/events?timeout=0', { token: b.token, base: BASE3 })).status, 200);

  await p.down();
  const during = cid();
  const sessions = Number(sql(`SELECT COUNT(*) FROM sessions WHERE user_id=${a.id}`)[0][0]);
  const name = uniq('outc');
  const answers = [
    await api('POST', `/conversations/${c}/messages`, { token: a.token, body: { client_id: during, body: 'during' }, base: BASE3 }),
    await api('POST', '/auth/login', { body: { username: a.username, password: a.password }, base: BASE3, localAddress: LOGIN_FROM }),
    await api('POST', '/auth/register', { body: { username: name, password: 'long-enough-pw' }, base: BASE3 }),
    await api('POST', `/conversations/${c}/read`, { token: b.token, body: { seq: first.body.seq }, base: BASE3 }),
    await api('GET', '/sessions', { token: a.token, base: BASE3 }),
    await api('GET', '/events?since=0&timeout=0', { token: b.token, base: BASE3 }),
  ];
  for (const r of answers) expectProblem(assert, r, 503, 'database_unavailable');
  // Nothing of it was written.
  assert.equal(Number(sql(`SELECT COUNT(*) FROM messages WHERE client_id='${during}'`)[0][0]), 0);
  assert.equal(Number(sql(`SELECT COUNT(*) FROM sessions WHERE user_id=${a.id}`)[0][0]), sessions);
  assert.equal(Number(sql(`SELECT COUNT(*) FROM users WHERE username='${name}'`)[0][0]), 0);
  assert.equal(Number(sql(`SELECT last_read_seq FROM members WHERE conversation_id=${c} AND user_id=${b.id}`)[0][0]), 0);

  // Back: the client's retry of the same send is stored once.
  await p.up();
  const retry = await api('POST', `/conversations/${c}/messages`, { token: a.token, body: { client_id: during, body: 'during' }, base: BASE3 });
  assert.equal(retry.status, 201, retry.text);
  assert.equal(Number(sql(`SELECT COUNT(*) FROM messages WHERE client_id='${during}'`)[0][0]), 1);
  assert.equal((await api('POST', '/auth/login', { body: { username: a.username, password: a.password }, base: BASE3, localAddress: LOGIN_FROM })).status, 200);
}));

// A long-poll whose time is up with nothing new needs no database: it is
// answered on time while the database hangs, even with every connection of
// events.fcgi's pool (one here) taken by a request stuck in a query.
// The instance takes no part in cross-host wake-ups: a rung waiter reads,
// which needs the one connection, and as a second host it would be rung
// by shard (1 in 256 users) for every send the other test files make
// through the main instance meanwhile, and once when it announces itself.
test('a long-poll with nothing new is answered at its timeout while the database hangs with every connection taken', () => withProxiedInstance(NAME, PORT3, 'events_db_connections = 1\ndb_connect_timeout = 60\nwake_cross_host = 0\n', async (p) => {
  const w = await registerUser('hangw');
  const x = await registerUser('hangx');
  const head = await api('GET', '/events?timeout=0', { token: w.token, base: BASE3 });
  assert.equal(head.status, 200, head.text);
  const waiting = api('GET', `/events?since=${head.body.next}&timeout=2`, { token: w.token, base: BASE3 });
  await sleep(300);
  p.stall();
  const stuck = api('GET', '/events?since=0&timeout=0', { token: x.token, base: BASE3 });
  const first = await Promise.race([waiting.then(() => 'the wait'), stuck.then(() => 'the stuck request'),
    sleep(10000).then(() => 'neither, in 10 s')]);
  p.release();
  assert.equal(first, 'the wait', 'the long-poll is answered while the other request waits for the database');
  const r = await waiting;
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.events, []);
  assert.equal(r.body.next, head.body.next);
  assert.equal((await stuck).status, 200, 'the stuck request is answered once the database moves');
}));
