// Full-text search over my own conversations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { api, registerUser, expectProblem } from './lib.mjs';
import { direct, group, send } from './chatlib.mjs';

const word = () => 'zq' + randomBytes(5).toString('hex');

test('search finds only messages of my conversations, newest first, paged; deleted ones vanish', async () => {
  const a = await registerUser('sa'), b = await registerUser('sb'), x = await registerUser('sx');
  const w = word();
  const c = await direct(a, b);
  const g = await group(a, [b], 'Search group');
  const mine1 = await send(a, c, `first ${w} here`);
  const mine2 = await send(b, g, `second ${w}`);
  const mine3 = await send(b, c, `third ${w} and more`);
  const theirs = await send(x, await direct(x, b), `not yours ${w}`);
  const r = await api('GET', '/search?q=' + w, { token: a.token });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.results.map((m) => m.id), [mine3.id, mine2.id, mine1.id]);
  assert.ok(!r.body.results.some((m) => m.id === theirs.id));
  // x sees only their own.
  const rx = await api('GET', '/search?q=' + w, { token: x.token });
  assert.deepEqual(rx.body.results.map((m) => m.id), [theirs.id]);
  // Paging.
  const p1 = await api('GET', `/search?q=${w}&limit=2`, { token: a.token });
  assert.equal(p1.body.results.length, 2);
  assert.ok(p1.body.next_cursor);
  const p2 = await api('GET', `/search?q=${w}&limit=2&cursor=${p1.body.next_cursor}`, { token: a.token });
  assert.deepEqual(p2.body.results.map((m) => m.id), [mine1.id]);
  assert.equal(p2.body.next_cursor, null);
  // One conversation only.
  const inG = await api('GET', `/search?q=${w}&conversation_id=${g.id}`, { token: a.token });
  assert.deepEqual(inG.body.results.map((m) => m.id), [mine2.id]);
  expectProblem(assert, await api('GET', `/search?q=${w}&conversation_id=${g.id}`, { token: x.token }), 404);
  // All words must match.
  const both = await api('GET', `/search?q=${encodeURIComponent(w + ' more')}`, { token: a.token });
  assert.deepEqual(both.body.results.map((m) => m.id), [mine3.id]);
  // Words apart however they are set apart (a no-break space, a dash),
  // in any order.
  for (const sep of ['\u00a0', '\u2014', '\u3000']) {
    const r2 = await api('GET', `/search?q=${encodeURIComponent('more' + sep + w)}`, { token: a.token });
    assert.deepEqual(r2.body.results.map((m) => m.id), [mine3.id], JSON.stringify(sep));
  }
  // Every word counts, the seventeenth too.
  const sixteen = ['third', 'and', 'more', ...Array.from({ length: 13 }, () => w)].join(' ');
  assert.equal((await api('GET', `/search?q=${encodeURIComponent(sixteen)}`, { token: a.token })).body.results.length, 1);
  const r17 = await api('GET', `/search?q=${encodeURIComponent(sixteen + ' nowhere')}`, { token: a.token });
  assert.equal(r17.status, 200);
  assert.deepEqual(r17.body.results, [], 'a message without the 17th word is not found');
  // Deleted messages are not found.
  await api('DELETE', `/conversations/${c.id}/messages/${mine3.id}`, { token: b.token });
  const after = await api('GET', '/search?q=' + w, { token: a.token });
  assert.deepEqual(after.body.results.map((m) => m.id), [mine2.id, mine1.id]);
});

test('search: boolean-mode operators in q are plain text; bad queries answer 400', async () => {
  const a = await registerUser('so'), b = await registerUser('so');
  const w = word();
  const c = await direct(a, b);
  const m = await send(a, c, `operators ${w} test`);
  // Every word is required and the operators only separate words: "-operators"
  // is the word "operators" (in the message), one-letter words (x y z 2: under
  // the index's minimum token) are left out, and "DROP TABLE messages" are
  // three more required words the message does not have.
  for (const [q, want] of [
    [`+${w} -operators`, [m.id]],
    [`"${w}`, [m.id]],
    [`${w}*`, [m.id]],
    [`(${w}) ~x <y >z @2`, [m.id]],
    [`${w} -nothere`, []],
    [`${w}'; DROP TABLE messages; --`, []],
  ]) {
    const r = await api('GET', '/search?q=' + encodeURIComponent(q), { token: a.token });
    assert.equal(r.status, 200, q);
    assert.deepEqual(r.body.results.map((k) => k.id), want, q);
  }
  // The table is still there and still holds the message.
  assert.equal((await api('GET', '/search?q=' + w, { token: a.token })).body.results.length, 1);
  const ops = await api('GET', '/search?q=' + encodeURIComponent('+-*"()~<>@'), { token: a.token });
  assert.equal(ops.status, 200);
  assert.deepEqual(ops.body.results, []);
  for (const q of ['', 'x'.repeat(257)]) expectProblem(assert, await api('GET', '/search?q=' + q, { token: a.token }), 400);
  expectProblem(assert, await api('GET', '/search', { token: a.token }), 400);
  expectProblem(assert, await api('GET', `/search?q=${w}&limit=0`, { token: a.token }), 400);
  expectProblem(assert, await api('GET', `/search?q=${w}&limit=51`, { token: a.token }), 400);
  expectProblem(assert, await api('GET', `/search?q=${w}&cursor=abc`, { token: a.token }), 400);
  expectProblem(assert, await api('GET', `/search?q=${w}&conversation_id=x`, { token: a.token }), 400);
  expectProblem(assert, await api('GET', '/search?q=' + w, {}), 401);
});
