// Sends that wait for their commit: while the database stalls, sends queue
// up to api_send_queue_max and the ones beyond it are answered at once with
// 503 overloaded and Retry-After, storing nothing; when the database moves
// again every queued send is answered 201 and stored once, and a refused
// send's retry is stored. When the database goes away instead, the waiting
// sends are answered 503 database_unavailable and their retries stored.
//
// A second web instance of the test stack reaches MariaDB through a proxy
// socket that the test can stall or cut, so the trouble is its own: the
// other test files keep their database. Sessions are checked in memcached
// while the database stalls, which the instance's lock keeps running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, BASE, registerUser, sql, expectProblem, sleep } from './lib.mjs';
import { withProxiedInstance } from './evlib.mjs';
import { cid } from './chatlib.mjs';

const NAME = 'sendq';
const PORT4 = Number(new URL(BASE).port) + 29;
const BASE4 = `http://127.0.0.1:${PORT4}`;

const stored = (clientId) => Number(sql(`SELECT COUNT(*) FROM messages WHERE client_id='${clientId}'`)[0][0]);
// A pending answer whose rejection (a failed test) is not reported twice.
const noted = (r) => { r.catch(() => {}); return r; };

// A direct conversation through the instance and a send into it; one send
// first, so the instance's pool and the session's cached check are warm.
async function sender() {
  const a = await registerUser('sqa');
  const b = await registerUser('sqb');
  const conv = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] }, base: BASE4 });
  assert.equal(conv.status, 201, conv.text);
  const url = `/conversations/${conv.body.id}/messages`;
  const send = (clientId) => api('POST', url, { token: a.token, body: { client_id: clientId, body: clientId }, base: BASE4 });
  assert.equal((await send(cid())).status, 201);
  return send;
}

// Resolves once the stalled proxy holds more traffic than before: a send
// has reached the database (a query, or a new connection's greeting).
// (GET /health cannot tell, as it asks the stalled database too.)
async function reachedDb(p, before) {
  for (let i = 0; i < 200 && p.held() <= before; i++) await sleep(25);
  assert.ok(p.held() > before, 'a send reached the stalled database');
}

// With the database stalled: the first send is written by its own thread
// and the next by a writer thread, so both wait for the database; then the
// rest arrive together.
async function sendWhileStalled(p, send, ids) {
  let before = p.held();
  const first = noted(send(ids[0]));
  await reachedDb(p, before);
  before = p.held();
  const second = noted(send(ids[1]));
  await reachedDb(p, before);
  return [first, second, ...ids.slice(2).map((id) => noted(send(id)))];
}

// A connection opened through the stalled proxy waits for it, not for the
// default 5 s connect timeout.
test('a send beyond api_send_queue_max is answered 503 overloaded at once and stores nothing; the queued ones are stored once the database moves', () => withProxiedInstance(NAME, PORT4, 'api_send_queue_max = 2\ndb_connect_timeout = 60\n', async (p) => {
  const send = await sender();
  p.stall();
  const ids = Array.from({ length: 6 }, () => cid());
  const pending = await sendWhileStalled(p, send, ids);
  // Two fill the queue; the two after them find it full and are answered
  // at once.
  const answered = [];
  const now = await Promise.all(pending.slice(2).map((r) => Promise.race([r, sleep(5000).then(() => null)])));
  for (const [i, r] of now.entries()) if (r) answered.push([ids[2 + i], r]);
  assert.equal(answered.length, 2, 'two sends beyond the queue of 2 are answered (within 5 s) while the database stalls');
  for (const [, r] of answered) {
    expectProblem(assert, r, 503, 'overloaded');
    assert.equal(r.headers['retry-after'], '1');
  }

  p.release();
  const results = await Promise.all(pending);
  const refused = new Set(answered.map(([id]) => id));
  for (const [i, r] of results.entries()) {
    if (refused.has(ids[i])) continue;
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.body, ids[i]);
  }
  for (const id of ids) assert.equal(stored(id), refused.has(id) ? 0 : 1, `stored ${id}`);
  // The refused sends' retries are stored.
  for (const id of refused) {
    const again = await send(id);
    assert.equal(again.status, 201, again.text);
    assert.equal(stored(id), 1);
  }
  const health = await api('GET', '/health', { base: BASE4 });
  assert.equal(health.body.sends.refused, 2);
  assert.equal(health.body.sends.waiting, 0);
}));

test('sends waiting for a database that goes away are answered 503 database_unavailable and stored by their retries once it is back', () => withProxiedInstance(NAME, PORT4, '', async (p) => {
  const send = await sender();
  p.stall();
  const ids = Array.from({ length: 4 }, () => cid());
  // One send on its own thread, one with a writer, two queued behind.
  const pending = await sendWhileStalled(p, send, ids);
  await sleep(300);
  await p.down();
  const answers = await Promise.all(pending);
  for (const r of answers) expectProblem(assert, r, 503, 'database_unavailable');
  for (const id of ids) assert.equal(stored(id), 0, `nothing of ${id} stored`);

  await p.up();
  for (const id of ids) {
    const again = await send(id);
    assert.equal(again.status, 201, again.text);
    assert.equal(stored(id), 1);
  }
}));

test('a database that hangs with its connection open: a waiting send is answered 503 after db_read_timeout, not held until it moves; its retry is stored once', () => withProxiedInstance(NAME, PORT4, 'db_read_timeout = 2\ndb_connect_timeout = 2\n', async (p) => {
  const send = await sender();
  p.stall();
  const id = cid();
  const t0 = Date.now();
  const r = await send(id);
  const took = Date.now() - t0;
  expectProblem(assert, r, 503, 'database_unavailable');
  assert.ok(took >= 1500 && took < 15000, `answered after the read timeout (${took} ms)`);
  p.release();
  // The first try may have reached the database once it moved: the retry
  // finds it (200) or stores it (201), once either way.
  const again = await send(id);
  assert.ok(again.status === 201 || again.status === 200, again.text);
  assert.equal(stored(id), 1);
}));
