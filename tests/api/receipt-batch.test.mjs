// Delivered receipts written together: events.fcgi queues the receipts of
// all its readers and one thread writes them in one transaction
// (lib/chat/receipts.c, sql/0011). The result must be what one receipt at a
// time wrote: marks that only move forward, one receipt event per advance to
// every other member, and nothing for pairs that are not members.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, sql, sleep } from './lib.mjs';
import { direct, group, send, events, count } from './chatlib.mjs';

const mark = (conv, u) => count(`SELECT delivered_seq FROM members WHERE conversation_id = ${conv.id} AND user_id = ${u.id}`);
const headIsEnd = (u) => {
  const [[head, max]] = sql(`SELECT h.last_seq, COALESCE((SELECT MAX(seq) FROM user_events e WHERE e.user_id = h.user_id), 0) FROM user_heads h WHERE h.user_id = ${u.id}`);
  assert.equal(+head, +max, `user ${u.id}: the head is the end of the log`);
};

test('the receipt batch procedure moves marks, tells the other members once per advance and skips non-members', async () => {
  const a = await registerUser('rba'), b = await registerUser('rbb'), c = await registerUser('rbc');
  const stranger = await registerUser('rbx');
  const d = await direct(a, b);
  const g = await group(a, [b, c], 'Receipts');
  // b has read its own first message in g (read_seq 1 travels in the receipt).
  await send(b, g, 'from b');
  for (let i = 0; i < 3; i++) await send(a, d, 'to b ' + i);
  await send(a, g, 'to the group');
  const before = { a: events(a.id, 'receipt').length, b: events(b.id, 'receipt').length, c: events(c.id, 'receipt').length };
  const pairs = [
    { c: d.id, u: b.id, q: 2 },
    { c: g.id, u: b.id, q: 99 }, // beyond the conversation's end: held at its last seq (2)
    { c: g.id, u: c.id, q: 1 },
    { c: g.id, u: stranger.id, q: 1 }, // not a member: skipped
  ].sort((x, y) => x.c - y.c || x.u - y.u);
  const out = sql(`CALL msg_delivered_batch('${JSON.stringify(pairs)}', 100)`);
  assert.equal(out.length, 1);
  assert.equal(out[0][0], 'ok');
  assert.deepEqual(out[0][1].split(',').map(Number), [a.id, b.id, c.id].sort((x, y) => x - y), 'whom to wake');
  assert.equal(mark(d, b), 2);
  assert.equal(mark(g, b), 2);
  assert.equal(mark(g, c), 1);
  assert.equal(count(`SELECT COUNT(*) FROM members WHERE user_id = ${stranger.id}`), 0);
  // a hears of all three receipts, each other member of g of the other's.
  const got = (u) => events(u.id, 'receipt').slice(before[u === a ? 'a' : u === b ? 'b' : 'c']);
  const ra = got(a);
  assert.deepEqual(ra.map((e) => [e.conversation_id, e.payload]).sort((x, y) => x[0] - y[0] || x[1].user_id - y[1].user_id), [
    [d.id, { user_id: b.id, delivered_seq: 2, read_seq: 0 }],
    [g.id, { user_id: b.id, delivered_seq: 2, read_seq: 1 }],
    [g.id, { user_id: c.id, delivered_seq: 1, read_seq: 0 }],
  ].sort((x, y) => x[0] - y[0] || x[1].user_id - y[1].user_id));
  assert.deepEqual(ra.map((e) => e.seq), ra.map((_, i) => ra[0].seq + i), "a's receipts take consecutive seqs");
  assert.deepEqual(got(b).map((e) => e.payload), [{ user_id: c.id, delivered_seq: 1, read_seq: 0 }], 'no receipt of one\'s own');
  assert.deepEqual(got(c).map((e) => e.payload), [{ user_id: b.id, delivered_seq: 2, read_seq: 1 }]);
  for (const u of [a, b, c]) headIsEnd(u);
  // Nothing moves: 'same', nothing written.
  const again = sql(`CALL msg_delivered_batch('${JSON.stringify(pairs)}', 100)`);
  assert.equal(again[0][0], 'same');
  assert.equal(again[0][1], 'NULL');
  assert.equal(got(a).length, 3);
  // A group over the fan-out limit: the mark moves, nobody is told.
  const big = sql(`CALL msg_delivered_batch('${JSON.stringify([{ c: g.id, u: c.id, q: 2 }])}', 2)`);
  assert.deepEqual(big[0], ['ok', 'NULL']);
  assert.equal(mark(g, c), 2);
  assert.equal(got(a).length, 3);
  assert.equal(got(b).length, 1);
  // Exactly at the limit (3 members, limit 3): told.
  await send(a, g, 'one more');
  const edge = sql(`CALL msg_delivered_batch('${JSON.stringify([{ c: g.id, u: c.id, q: 3 }])}', 3)`);
  assert.deepEqual(edge[0][0], 'ok');
  assert.deepEqual(edge[0][1].split(',').map(Number), [a.id, b.id].sort((x, y) => x - y));
  assert.deepEqual(got(a).slice(3).map((e) => e.payload), [{ user_id: c.id, delivered_seq: 3, read_seq: 0 }]);
  // One pair twice: it counts once, with its highest seq.
  const twice = sql(`CALL msg_delivered_batch('${JSON.stringify([{ c: d.id, u: b.id, q: 3 }, { c: d.id, u: b.id, q: 1 }])}', 100)`);
  assert.deepEqual(twice[0], ['ok', String(a.id)]);
  assert.equal(mark(d, b), 3);
  assert.deepEqual(got(a).slice(4).map((e) => [e.conversation_id, e.payload]), [[d.id, { user_id: b.id, delivered_seq: 3, read_seq: 0 }]]);
  for (const u of [a, b, c]) headIsEnd(u);
  // Only pairs that are not members: nothing moves.
  assert.equal(sql(`CALL msg_delivered_batch('${JSON.stringify([{ c: d.id, u: c.id, q: 3 }])}', 100)`)[0][0], 'same');
  assert.equal(sql(`CALL msg_delivered_batch('${JSON.stringify([{ c: 999999999, u: c.id, q: 3 }])}', 100)`)[0][0], 'same');
});

test('readers fetching at once get their receipts written together, each mark once per advance', async () => {
  const n = 6;
  const readers = [], senders = [], convs = [];
  for (let i = 0; i < n; i++) {
    readers.push(await registerUser('rbr'));
    senders.push(await registerUser('rbs'));
    convs.push(await direct(senders[i], readers[i]));
  }
  // Rounds: each sender sends, then every reader fetches at once, until
  // the database shows receipts of different readers stored by one
  // transaction (one created_at).
  let together = false, sent = 0;
  for (let round = 0; round < 8 && !together; round++) {
    for (let i = 0; i < n; i++) await send(senders[i], convs[i], `round ${round}`);
    sent++;
    const polls = await Promise.all(readers.map((r) => api('GET', '/events?since=0&timeout=0&limit=100', { token: r.token })));
    for (const p of polls) assert.equal(p.status, 200);
    for (let i = 0; i < 100 && readers.some((r, k) => mark(convs[k], r) < sent); i++) await sleep(20);
    const ids = convs.map((c) => c.id).join(',');
    together = count(`SELECT COUNT(*) FROM (SELECT created_at FROM user_events WHERE type = 'receipt' AND conversation_id IN (${ids})
      GROUP BY created_at HAVING COUNT(DISTINCT conversation_id) >= 3) t`) > 0;
  }
  assert.ok(together, 'receipts of several readers were written in one transaction');
  for (let i = 0; i < n; i++) {
    assert.equal(mark(convs[i], readers[i]), sent, `reader ${i}'s mark is at the last message`);
    const rs = events(senders[i].id, 'receipt', `AND conversation_id = ${convs[i].id}`).map((e) => e.payload);
    assert.ok(rs.length >= 1 && rs.length <= sent, 'at most one receipt per message');
    const seqs = rs.map((p) => p.delivered_seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'receipts only move forward');
    assert.equal(new Set(seqs).size, seqs.length, 'each advance once');
    assert.equal(seqs[seqs.length - 1], sent, 'the sender hears of the last one');
    for (const p of rs) assert.equal(p.user_id, readers[i].id);
    assert.equal(events(readers[i].id, 'receipt', `AND conversation_id = ${convs[i].id}`).length, 0, 'none to the reader');
    headIsEnd(senders[i]);
  }
});
