// One account holds at most events_per_user (32) long-polls and streams
// open at once: the connections thousands of others wait on are not one
// user's to take. A new request is always taken; the user's oldest is
// asked to end (a client that vanished without closing leaves a stream
// that would otherwise live for minutes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerUser, expectProblem, until } from './lib.mjs';
import { poll, head, openStream, directConv, send } from './evlib.mjs';

const PER_USER = 32;
const bearer = (u) => ({ Authorization: 'Bearer ' + u.token });
const ended = (s) => until(() => s.ended || !!s.error, 'the stream to end');

test('past 32 open event requests the newest is taken and the oldest ends; other users are not touched', async () => {
  const a = await registerUser('evqa');
  const b = await registerUser('evqb');
  const cid = await directConv(b, a);
  const since = await head(a);
  // A stream answers its headers once it is counted.
  const open = () => openStream({ headers: bearer(a), query: `since=${since}` });
  const streams = [], more = [];
  let s33, other;
  try {
    for (let i = 0; i < PER_USER; i++) {
      const s = await open();
      assert.equal(s.status, 200, `stream ${i + 1}: ${s.text}`);
      streams.push(s);
    }
    other = await openStream({ headers: bearer(b) });
    assert.equal(other.status, 200);
    // Long-polls start after b's coming online (told to a): they wait.
    const now = await head(a);

    // Requests with a bad cursor are refused and take nobody's place (else
    // the streams ending below would be later ones).
    expectProblem(assert, await poll(a, 'abc', { timeout: 5 }), 400, 'invalid_cursor');
    expectProblem(assert, await poll(a, '99999999', { timeout: 5 }), 400, 'invalid_cursor');
    const bad = await openStream({ headers: bearer(a), query: 'since=x' });
    expectProblem(assert, bad, 400, 'invalid_cursor');
    // The 33rd is taken; the first ends.
    s33 = await open();
    assert.equal(s33.status, 200);
    await ended(streams[0]);
    // A long-poll is taken the same way; the second stream ends.
    const lp = poll(a, now, { timeout: 30 });
    await ended(streams[1]);
    // The rest, the newest stream, the long-poll and the other user's
    // stream are all still there: a message reaches each.
    await send(b, cid, 'still here?');
    const lpAnswer = await lp;
    assert.equal(lpAnswer.status, 200);
    assert.ok(lpAnswer.body.events.some((e) => e.type === 'message.new'), JSON.stringify(lpAnswer.body));
    const live = [...streams.slice(2), s33];
    await Promise.all(live.map((s) => s.until((x) => x.events.some((e) => e.type === 'message.new'))));
    await other.until((x) => x.events.some((e) => e.type === 'message.new'));
    assert.ok(!streams[2].ended);

    // A long-poll whose place is taken answers 429 with Retry-After (a live
    // client that asks again displaces the next oldest, not itself).
    const lp2 = poll(a, lpAnswer.body.next, { timeout: 30 });
    // It is the newest now: 31 more requests make it the oldest live one...
    for (let i = 0; i < PER_USER - 1; i++) {
      const s = await open();
      assert.equal(s.status, 200);
      more.push(s);
    }
    // ...but the oldest live ones are the remaining first streams: keep
    // opening until the long-poll's turn comes.
    let answered = null;
    lp2.then((r) => { answered = r; });
    for (let i = 0; i < PER_USER + 2 && !answered; i++) {
      const s = await open();
      assert.equal(s.status, 200);
      more.push(s);
      await new Promise((r) => setTimeout(r, 20));
    }
    const r2 = await lp2;
    expectProblem(assert, r2, 429, 'too_many_waiting');
    assert.ok(Number(r2.headers['retry-after']) > 0);
  } finally {
    // Open streams would otherwise keep the file running for minutes.
    for (const s of [...streams, s33, ...more, other]) if (s) s.close();
  }
});
