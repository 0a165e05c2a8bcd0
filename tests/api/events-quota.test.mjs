// One account cannot hold more than events_per_user (32) long-polls and
// streams open at once: the connections thousands of others wait on are
// not one user's to take.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerUser, expectProblem, sleep } from './lib.mjs';
import { poll, head, openStream } from './evlib.mjs';

const PER_USER = 32;
const bearer = (u) => ({ Authorization: 'Bearer ' + u.token });

test('a user with 32 event requests open gets 429 for more, others are not affected, and a request that ends makes room', async () => {
  const a = await registerUser('evqa');
  const b = await registerUser('evqb');
  const since = await head(a);
  // A stream answers its headers once it is counted.
  const open = () => openStream({ headers: bearer(a), query: `since=${since}` });
  const streams = [];
  for (let i = 0; i < PER_USER; i++) {
    const s = await open();
    assert.equal(s.status, 200, `stream ${i + 1}: ${s.text}`);
    streams.push(s);
  }
  const refused = await open();
  expectProblem(assert, refused, 429, 'too_many_waiting');
  assert.ok(Number(refused.headers['retry-after']) > 0);
  const lp = await poll(a, since, { timeout: 5 });
  expectProblem(assert, lp, 429, 'too_many_waiting');
  assert.ok(Number(lp.headers['retry-after']) > 0);
  // Starting without a cursor never waits, so it is not counted.
  assert.equal((await poll(a)).status, 200);
  // Someone else still connects.
  const other = await openStream({ headers: bearer(b) });
  assert.equal(other.status, 200);
  other.close();

  // A client that goes away stops counting once the server notices (at
  // the latest at the stream's next heartbeat, 15 s): then a long-poll
  // is taken.
  streams.pop().close();
  let taken;
  for (const end = Date.now() + 25000; Date.now() < end;) {
    const r = await poll(a, since, { timeout: 1 });
    if (r.status === 200) { taken = r; break; }
    expectProblem(assert, r, 429, 'too_many_waiting');
    await sleep(250);
  }
  assert.ok(taken, 'a request was taken after a client left');
  assert.deepEqual(taken.body.events, []);
  // That long-poll has ended: its place is free again.
  let again;
  for (const end = Date.now() + 2000; Date.now() < end;) {
    const s = await open();
    if (s.status === 200) { again = s; break; }
    await sleep(100);
  }
  assert.ok(again, 'the place of an ended long-poll is free');
  streams.push(again);
  expectProblem(assert, await open(), 429, 'too_many_waiting');
  for (const s of streams) s.close();
});
