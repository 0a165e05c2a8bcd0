// Group commit: sends that arrive together are stored in one transaction
// (lib/chat/sendq.c, sql/0009 and 0010). Every send keeps its own outcome, and the
// result is what one-by-one sends would have written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, sql } from './lib.mjs';
import { cid, direct, group, send, events, count } from './chatlib.mjs';

// A JSON text as an SQL string literal for the command-line client, whose
// character set is not utf8mb4: non-ASCII characters travel as JSON escapes.
function sqlJson(value) {
  const text = JSON.stringify(value).replace(/[\u0080-\uffff]/g, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));
  return "'" + text.replace(/\\/g, '\\\\').replace(/'/g, "''") + "'";
}

async function sendStats() {
  const h = await api('GET', '/health');
  assert.equal(h.status, 200);
  assert.ok(h.body.sends, 'the test configuration turns the send counts on');
  return h.body.sends;
}

// What every member's log and the conversation must look like after any
// mix of sends: seqs 1..n without gaps, one message.new per message and
// member in seq order, heads at the end of the logs, read marks of senders
// at least at their last message.
function checkConversation(conv, members, expected) {
  const rows = sql(`SELECT id, seq, sender_id FROM messages WHERE conversation_id = ${conv.id} ORDER BY seq`)
    .map(([id, seq, sender]) => ({ id: +id, seq: +seq, sender: +sender }));
  assert.equal(rows.length, expected, `conversation ${conv.id} holds every stored message`);
  assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1), 'seqs have no gaps');
  assert.equal(count(`SELECT last_seq FROM conversations WHERE id = ${conv.id}`), expected);
  for (const u of members) {
    const ev = events(u.id, 'message.new', `AND conversation_id = ${conv.id}`);
    assert.deepEqual(ev.map((e) => e.ref_id), rows.map((r) => r.id), `member ${u.id}: each message once, in seq order`);
    const [[head, max]] = sql(`SELECT h.last_seq, (SELECT MAX(seq) FROM user_events e WHERE e.user_id = h.user_id) FROM user_heads h WHERE h.user_id = ${u.id}`);
    assert.equal(+head, +max, 'the head is the end of the log');
    const mine = rows.filter((r) => r.sender === u.id);
    if (mine.length > 0) {
      const read = count(`SELECT last_read_seq FROM members WHERE conversation_id = ${conv.id} AND user_id = ${u.id}`);
      assert.equal(read, mine[mine.length - 1].seq, 'a sender has read up to their own last message, not beyond');
    }
  }
  return rows;
}

test('the batch procedure numbers messages to one conversation in order, and writes nothing but names the message when one would fail', async () => {
  const a = await registerUser('bpa'), b = await registerUser('bpb'), c = await registerUser('bpc');
  const d = await direct(a, b);
  const g = await group(a, [b, c], 'Batch');
  await send(b, d, 'before');
  const k1 = cid(), k2 = cid(), k3 = cid();
  // Two messages to d (from a, then b) and one to g, as api.fcgi passes them.
  const batch = sqlJson([
    { c: d.id, s: a.id, i: k1, t: 'text', b: "it's 😀 é", r: 1, k: 2, l: 1 },
    { c: d.id, s: b.id, i: k2, t: 'text', b: 'second', r: 2, k: 2, l: 2 },
    { c: g.id, s: c.id, i: k3, t: 'text', b: 'group', r: 1, k: 1, l: 1 },
  ]);
  const out = sql(`CALL msg_send_batch(${batch}, 2, 3)`);
  assert.equal(out.length, 1);
  assert.equal(out[0][0], 'ok');
  const rows = checkConversation(d, [a, b], 3);
  const [gm] = checkConversation(g, [a, b, c], 1);
  // "position:id:seq:member" per message and member of its conversation.
  const pair = [a.id, b.id].sort((x, y) => x - y), trio = [a.id, b.id, c.id].sort((x, y) => x - y);
  assert.equal(out[0][2], [
    ...pair.map((u) => `1:${rows[1].id}:2:${u}`),
    ...pair.map((u) => `2:${rows[2].id}:3:${u}`),
    ...trio.map((u) => `3:${gm.id}:1:${u}`),
  ].join(','));
  assert.equal(out[0][1], sql(`SELECT DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f') FROM messages WHERE id = ${gm.id}`)[0][0]);
  assert.deepEqual(rows.map((r) => r.sender), [b.id, a.id, b.id]);
  assert.equal(count(`SELECT last_read_seq FROM members WHERE conversation_id = ${d.id} AND user_id = ${a.id}`), 2,
    "a sender's read mark stops at their own message, not at a later one of the batch");
  const h = await api('GET', `/conversations/${d.id}/messages`, { token: b.token });
  assert.deepEqual(h.body.messages.map((m) => m.body), ['before', "it's 😀 é", 'second']);

  // One message of a non-member, one reusing a client_id, one to an unknown
  // conversation, one to a closed one: each batch answers 'alone' and
  // changes nothing.
  const stranger = await registerUser('bps');
  // A direct conversation closed by the other person's deleted account.
  const gone = await registerUser('bpg');
  const closed = await direct(b, gone);
  assert.equal((await api('DELETE', '/me', { token: gone.token, body: { password: gone.password } })).status, 204);
  const state = () => sql(`SELECT (SELECT COUNT(*) FROM messages WHERE conversation_id = ${d.id} OR sender_id IN (${a.id}, ${b.id}, ${stranger.id})),
    (SELECT SUM(last_seq) FROM user_heads WHERE user_id IN (${a.id}, ${b.id}, ${stranger.id})),
    (SELECT SUM(last_read_seq) FROM members WHERE conversation_id = ${d.id}),
    (SELECT last_seq FROM conversations WHERE id = ${d.id})`)[0].join();
  const before = state();
  for (const bad of [
    { c: d.id, s: stranger.id, i: cid(), t: 'text', b: 'not a member', r: 2, k: 2, l: 2 },
    { c: d.id, s: b.id, i: k2, t: 'text', b: 'client_id taken', r: 2, k: 2, l: 2 },
    { c: 999999999, s: b.id, i: cid(), t: 'text', b: 'no such conversation', r: 1, k: 1, l: 1 },
    { c: closed.id, s: b.id, i: cid(), t: 'text', b: 'closed conversation', r: 1, k: 1, l: 1 },
  ]) {
    const good = { c: d.id, s: a.id, i: cid(), t: 'text', b: 'fine', r: 1, k: 2, l: 1 };
    const convs = bad.c === d.id ? 1 : 2, pairs = bad.c === d.id && bad.s === a.id ? 1 : 2;
    if (bad.c !== d.id) good.k = 1;
    const r = sql(`CALL msg_send_batch(${sqlJson([good, bad])}, ${convs}, ${pairs})`);
    assert.deepEqual(r.map((x) => x[0]), ['alone'], bad.b);
    const [[named]] = sql(`SELECT msg_batch_misfits(${sqlJson([good, bad])})`);
    assert.equal(named, '2', `${bad.b}: the failing message is named`);
    assert.equal(state(), before, `${bad.b}: nothing written`);
  }
  checkConversation(d, [a, b], 3);
});

test('concurrent sends from many senders: each answer is its own, nothing lost or doubled', async () => {
  const users = await Promise.all(Array.from({ length: 12 }, () => registerUser('bc')));
  const pairs = [];
  for (let i = 0; i < 12; i += 2) pairs.push(await direct(users[i], users[i + 1]));
  const g = await group(users[0], users.slice(1, 5), 'Busy');
  const outsider = await registerUser('bco');
  const first = await send(users[0], pairs[0], 'first');
  const start = await sendStats();
  const sent = new Map(pairs.map((p) => [p.id, p.id === pairs[0].id ? 1 : 0]));
  sent.set(g.id, 0);
  let stats = start;
  // The counters are the process's (other test files send meanwhile), so
  // the database must show it too: a batch's messages share one created_at,
  // to the millisecond, across conversations (at most two writes run at
  // once, each of one message at a time when not batched).
  const ids = [...pairs.map((p) => p.id), g.id].join(',');
  const together = () => count(`SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(DISTINCT conversation_id) AS n FROM messages WHERE conversation_id IN (${ids}) GROUP BY created_at) t`);
  // History pages are cached; every page read after a round must show
  // every message answered in it (the writer drops the conversations'
  // cached pages, all in one memcached round trip, before answering).
  const page = async (conv, u) => {
    const r = await api('GET', `/conversations/${conv.id}/messages?limit=100`, { token: u.token });
    assert.equal(r.status, 200);
    return r.body.messages.map((m) => m.id);
  };
  const convs = [...pairs.map((p, k) => [p, users[2 * k]]), [g, users[0]]];
  for (let round = 0; round < 8; round++) {
    for (const [c, u] of convs) await page(c, u);
    const jobs = [];
    const expect = [];
    for (let i = 0; i < 12; i += 2) {
      const p = pairs[i / 2];
      for (const [j, u] of [users[i], users[i + 1], users[i], users[i + 1]].entries()) {
        jobs.push(api('POST', `/conversations/${p.id}/messages`, { token: u.token, body: { client_id: cid(), body: `r${round}.${j} ${u.id} é 😀 "quoted" \\ back` } }));
        expect.push(201);
      }
    }
    for (const u of users.slice(0, 5)) {
      jobs.push(api('POST', `/conversations/${g.id}/messages`, { token: u.token, body: { client_id: cid(), body: `group r${round}` } }));
      expect.push(201);
    }
    // Sends that fail, mixed in: a stranger's, a retry of a stored message,
    // a client_id reused elsewhere, a bad reply_to, and a good reply_to.
    jobs.push(api('POST', `/conversations/${pairs[1].id}/messages`, { token: outsider.token, body: { client_id: cid(), body: 'let me in' } }));
    expect.push(404);
    jobs.push(api('POST', `/conversations/${pairs[0].id}/messages`, { token: users[0].token, body: { client_id: first.client_id, body: 'first' } }));
    expect.push(200);
    jobs.push(api('POST', `/conversations/${g.id}/messages`, { token: users[0].token, body: { client_id: first.client_id, body: 'elsewhere' } }));
    expect.push(409);
    jobs.push(api('POST', `/conversations/${pairs[2].id}/messages`, { token: users[4].token, body: { client_id: cid(), body: 'reply', reply_to: first.id } }));
    expect.push(400);
    jobs.push(api('POST', `/conversations/${pairs[0].id}/messages`, { token: users[1].token, body: { client_id: cid(), body: 'reply', reply_to: first.id } }));
    expect.push(201);
    // The same new send twice at once: one stores, the other gets it back.
    const twin = cid();
    for (let t = 0; t < 2; t++)
      jobs.push(api('POST', `/conversations/${pairs[3].id}/messages`, { token: users[6].token, body: { client_id: twin, body: 'twin' } }));
    const res = await Promise.all(jobs);
    const twins = res.slice(-2);
    assert.deepEqual(twins.map((r) => r.status).sort(), [200, 201]);
    assert.equal(twins[0].body.id, twins[1].body.id);
    assert.deepEqual(res.slice(0, -2).map((r) => r.status), expect, `round ${round}: every send gets its own answer`);
    assert.equal(res[expect.length - 4].body.id, first.id, 'the retry is answered with the stored message');
    for (const r of res.filter((x) => x.status === 201)) {
      sent.set(r.body.conversation_id, sent.get(r.body.conversation_id) + 1);
      const stored = sql(`SELECT conversation_id, seq, HEX(body) FROM messages WHERE id = ${r.body.id}`)[0];
      assert.deepEqual([+stored[0], +stored[1], Buffer.from(stored[2], 'hex').toString('utf8')],
        [r.body.conversation_id, r.body.seq, r.body.body], 'the answer is the stored message');
    }
    for (const [c, u] of convs) {
      const shown = await page(c, u);
      for (const r of res.filter((x) => x.status === 201 && x.body.conversation_id === c.id))
        assert.ok(shown.includes(r.body.id), `round ${round}: the history of ${c.id} shows message ${r.body.id}`);
    }
    stats = await sendStats();
    if (round >= 1 && together() >= 3 && stats.fallbacks > start.fallbacks) break;
  }
  const shared = together();
  assert.ok(shared >= 3, `messages to ${shared} conversations at most were stored in one transaction`);
  assert.ok(stats.batches > start.batches, 'some sends were stored together');
  assert.ok(stats.batched - start.batched >= 2 * (stats.batches - start.batches));
  assert.ok(stats.fallbacks > start.fallbacks, 'a batch with a failing send was sent one by one');
  for (let i = 0; i < 12; i += 2) checkConversation(pairs[i / 2], [users[i], users[i + 1]], sent.get(pairs[i / 2].id));
  checkConversation(g, users.slice(0, 5), sent.get(g.id));
  assert.equal(count(`SELECT COUNT(*) FROM messages WHERE sender_id = ${outsider.id}`), 0);
});
