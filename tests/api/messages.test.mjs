// Messages: sending (idempotent by client_id), history paging, events written
// for every member, and bad input that must change nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, sql, expectProblem } from './lib.mjs';
import { cid, direct, group, send, events, count } from './chatlib.mjs';

test('send: 201, seq order, message.new for every member including the sender', async () => {
  const a = await registerUser('sa'), b = await registerUser('sb');
  const c = await direct(a, b);
  const m1 = await send(a, c, 'hello there');
  assert.equal(m1.seq, 1);
  assert.equal(m1.sender_id, a.id);
  assert.equal(m1.conversation_id, c.id);
  assert.equal(m1.kind, 'text');
  assert.equal(m1.body, 'hello there');
  assert.deepEqual(m1.reactions, []);
  const m2 = await send(b, c, 'hi!\nsecond line');
  assert.equal(m2.seq, 2);
  for (const u of [a, b]) {
    const ev = events(u.id, 'message.new', `AND conversation_id = ${c.id}`);
    assert.deepEqual(ev.map((e) => e.ref_id), [m1.id, m2.id]);
    assert.ok(ev.every((e) => e.payload === null));
  }
  const conv = await api('GET', `/conversations/${c.id}`, { token: b.token });
  assert.equal(conv.body.last_seq, 2);
  assert.equal(conv.body.last_message.id, m2.id);
});

test('send to a group of N writes N message.new events and one message row', async () => {
  const o = await registerUser('fo');
  const ms = await Promise.all([1, 2, 3, 4].map(() => registerUser('fm')));
  const g = await group(o, ms);
  const m = await send(ms[2], g, 'to everyone');
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE type = 'message.new' AND ref_id = ${m.id}`), 5);
  assert.equal(count(`SELECT COUNT(*) FROM messages WHERE conversation_id = ${g.id}`), 1);
  for (const u of [o, ...ms]) assert.equal(events(u.id, 'message.new', `AND ref_id = ${m.id}`).length, 1);
});

test('send retry with the same client_id returns the same message, no duplicate', async () => {
  const a = await registerUser('ra'), b = await registerUser('rb');
  const c = await direct(a, b);
  const id = cid();
  const first = await api('POST', `/conversations/${c.id}/messages`, { token: a.token, body: { client_id: id, body: 'once' } });
  assert.equal(first.status, 201);
  const again = await api('POST', `/conversations/${c.id}/messages`, { token: a.token, body: { client_id: id, body: 'once' } });
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, first.body);
  // The same client_id for a different message is a client's mistake, not
  // a retry: refused, rather than answered with the first (the new text
  // would be lost unseen).
  for (const body of [{ body: 'once, but different' }, { body: 'once', reply_to: first.body.id }]) {
    expectProblem(assert, await api('POST', `/conversations/${c.id}/messages`, { token: a.token, body: { client_id: id, ...body } }), 409, 'client_id_conflict');
  }
  // Once the first was edited it cannot be compared: a retry is answered with it.
  assert.equal((await api('PATCH', `/conversations/${c.id}/messages/${first.body.id}`, { token: a.token, body: { body: 'once, edited' } })).status, 200);
  const late = await api('POST', `/conversations/${c.id}/messages`, { token: a.token, body: { client_id: id, body: 'once' } });
  assert.equal(late.status, 200);
  assert.equal(late.body.id, first.body.id);
  assert.equal(count(`SELECT COUNT(*) FROM messages WHERE sender_id = ${a.id} AND client_id = '${id}'`), 1);
  assert.equal(count(`SELECT last_seq FROM conversations WHERE id = ${c.id}`), 1);
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE type = 'message.new' AND ref_id = ${first.body.id}`), 2);
  // The other user may use the same client_id: it is unique per sender.
  const theirs = await api('POST', `/conversations/${c.id}/messages`, { token: b.token, body: { client_id: id, body: 'mine' } });
  assert.equal(theirs.status, 201);
  assert.equal(theirs.body.seq, 2);
  // Reusing it in another conversation is a conflict.
  const d = await registerUser('rd');
  const c2 = await direct(a, d);
  expectProblem(assert, await api('POST', `/conversations/${c2.id}/messages`, { token: a.token, body: { client_id: id, body: 'elsewhere' } }), 409, 'client_id_conflict');
  assert.equal(count(`SELECT COUNT(*) FROM messages WHERE conversation_id = ${c2.id}`), 0);
});

test('client_ids differing only in case are different messages, alone and in one batch', async () => {
  const a = await registerUser('ca'), b = await registerUser('cb');
  const c = await direct(a, b);
  const base = cid();
  const lower = `${base}-zq9`, upper = `${base}-ZQ9`;
  const first = await api('POST', `/conversations/${c.id}/messages`, { token: a.token, body: { client_id: lower, body: 'first' } });
  assert.equal(first.status, 201);
  const second = await api('POST', `/conversations/${c.id}/messages`, { token: a.token, body: { client_id: upper, body: 'second' } });
  assert.equal(second.status, 201);
  assert.notEqual(second.body.id, first.body.id);
  assert.equal(second.body.body, 'second');
  // Sent together (one batch when they meet in the queue), still two.
  const pair = await Promise.all([`${base}-aB`, `${base}-Ab`].map((id, i) =>
    api('POST', `/conversations/${c.id}/messages`, { token: a.token, body: { client_id: id, body: 'pair ' + i } })));
  assert.deepEqual(pair.map((r) => r.status), [201, 201]);
  const rows = sql(`SELECT client_id, body FROM messages WHERE conversation_id = ${c.id} ORDER BY seq`);
  assert.deepEqual(rows.map((r) => r[0]).sort(), [lower, upper, `${base}-aB`, `${base}-Ab`].sort());
  // A true retry still finds its own message, by exact id.
  const retry = await api('POST', `/conversations/${c.id}/messages`, { token: a.token, body: { client_id: upper, body: 'second' } });
  assert.equal(retry.status, 200);
  assert.equal(retry.body.id, second.body.id);
});

test('concurrent identical retries produce one message', async () => {
  const a = await registerUser('pa'), b = await registerUser('pb');
  const c = await direct(a, b);
  const id = cid();
  const rs = await Promise.all(Array.from({ length: 8 }, () =>
    api('POST', `/conversations/${c.id}/messages`, { token: a.token, body: { client_id: id, body: 'race' } })));
  assert.deepEqual(rs.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 200, 200, 201]);
  assert.equal(new Set(rs.map((r) => r.body.id)).size, 1);
  assert.equal(count(`SELECT COUNT(*) FROM messages WHERE conversation_id = ${c.id}`), 1);
  assert.equal(count(`SELECT COUNT(*) FROM user_events WHERE type = 'message.new' AND conversation_id = ${c.id}`), 2);
  // Concurrent different sends get distinct, gap-free seqs.
  const many = await Promise.all(Array.from({ length: 10 }, (_, i) => send(i % 2 ? a : b, c, 'n' + i)));
  assert.deepEqual(many.map((m) => m.seq).sort((x, y) => x - y), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
});

test('history: latest page, before and after paging, has_more', async () => {
  const a = await registerUser('ha'), b = await registerUser('hb');
  const c = await direct(a, b);
  for (let i = 1; i <= 12; i++) await send(i % 2 ? a : b, c, 'msg ' + i);
  const latest = await api('GET', `/conversations/${c.id}/messages?limit=5`, { token: b.token });
  assert.equal(latest.status, 200);
  assert.deepEqual(latest.body.messages.map((m) => m.seq), [8, 9, 10, 11, 12]);
  assert.equal(latest.body.has_more, true);
  const older = await api('GET', `/conversations/${c.id}/messages?before=8&limit=5`, { token: b.token });
  assert.deepEqual(older.body.messages.map((m) => m.seq), [3, 4, 5, 6, 7]);
  assert.equal(older.body.has_more, true);
  const oldest = await api('GET', `/conversations/${c.id}/messages?before=3&limit=5`, { token: b.token });
  assert.deepEqual(oldest.body.messages.map((m) => m.seq), [1, 2]);
  assert.equal(oldest.body.has_more, false);
  const after = await api('GET', `/conversations/${c.id}/messages?after=2&limit=4`, { token: a.token });
  assert.deepEqual(after.body.messages.map((m) => m.seq), [3, 4, 5, 6]);
  assert.equal(after.body.has_more, true);
  const tail = await api('GET', `/conversations/${c.id}/messages?after=10`, { token: a.token });
  assert.deepEqual(tail.body.messages.map((m) => m.seq), [11, 12]);
  assert.equal(tail.body.has_more, false);
  const none = await api('GET', `/conversations/${c.id}/messages?before=0`, { token: a.token });
  assert.deepEqual(none.body.messages, []);
  const all = await api('GET', `/conversations/${c.id}/messages`, { token: a.token });
  assert.equal(all.body.messages.length, 12);
  assert.equal(all.body.messages[0].body, 'msg 1');
  for (const q of ['before=1&after=2', 'before=-1', 'after=x', 'limit=0', 'limit=101', 'before=1e3', 'limit=%2B5', 'before=%205', 'after=5%20', 'limit=']) {
    expectProblem(assert, await api('GET', `/conversations/${c.id}/messages?${q}`, { token: a.token }), 400, 'invalid_query');
  }
});

test('non-members cannot read or send: 404, nothing written', async () => {
  const a = await registerUser('xa'), b = await registerUser('xb'), x = await registerUser('xx');
  const c = await direct(a, b);
  await send(a, c, 'private');
  expectProblem(assert, await api('GET', `/conversations/${c.id}/messages`, { token: x.token }), 404, 'not_found');
  expectProblem(assert, await api('POST', `/conversations/${c.id}/messages`, { token: x.token, body: { client_id: cid(), body: 'intrude' } }), 404, 'not_found');
  expectProblem(assert, await api('POST', '/conversations/999999999/messages', { token: x.token, body: { client_id: cid(), body: 'void' } }), 404);
  assert.equal(count(`SELECT COUNT(*) FROM messages WHERE conversation_id = ${c.id}`), 1);
  assert.equal(count(`SELECT COUNT(*) FROM messages WHERE sender_id = ${x.id}`), 0);
});

test('sending: bad input answers 400 and writes nothing', async () => {
  const a = await registerUser('ba'), b = await registerUser('bb');
  const c = await direct(a, b);
  const other = await direct(a, await registerUser('bo'));
  const foreign = await send(a, other, 'elsewhere');
  const url = `/conversations/${c.id}/messages`;
  const cases = [
    [{ body: 'no client id' }, 'invalid_field'],
    [{ client_id: '', body: 'x' }, 'invalid_field'],
    [{ client_id: 'has space', body: 'x' }, 'invalid_field'],
    [{ client_id: 'x'.repeat(65), body: 'x' }, 'invalid_field'],
    [{ client_id: "a';--", body: 'x' }, 'invalid_field'],
    [{ client_id: 'é', body: 'x' }, 'invalid_field'],
    [{ client_id: 42, body: 'x' }, 'invalid_field'],
    [{ client_id: cid() }, 'invalid_field'],
    [{ client_id: cid(), body: '' }, 'invalid_field'],
    [{ client_id: cid(), body: ' \n\t ' }, 'invalid_field'],
    [{ client_id: cid(), body: 'x'.repeat(4001) }, 'invalid_field'],
    [{ client_id: cid(), body: '😀'.repeat(4001) }, 'invalid_field'],
    [{ client_id: cid(), body: 'nul\u0000byte' }, 'invalid_field'],
    [{ client_id: cid(), body: 'bell\u0007' }, 'invalid_field'],
    [{ client_id: cid(), body: '\u00a0' }, 'invalid_field'],
    [{ client_id: cid(), body: '\u3000\n\u2003' }, 'invalid_field'],
    [{ client_id: cid(), body: '\u200b\n\ufeff' }, 'invalid_field'],
    [{ client_id: cid(), body: 'x\u009b2J' }, 'invalid_field'],
    [{ client_id: cid(), body: 123 }, 'invalid_field'],
    [{ client_id: cid(), body: null }, 'invalid_field'],
    [{ client_id: cid(), body: ['x'] }, 'invalid_field'],
    [{ client_id: cid(), body: 'x', kind: 'system' }, 'invalid_field'],
    [{ client_id: cid(), body: 'x', kind: 'sticker' }, 'invalid_field'],
    [{ client_id: cid(), body: 'x', kind: 'image' }, 'invalid_field'],
    [{ client_id: cid(), body: 'x', media_ids: [1] }, 'unknown_media'],
    [{ client_id: cid(), body: 'x', media_ids: 'abc' }, 'invalid_field'],
    [{ client_id: cid(), body: 'x', reply_to: 'abc' }, 'invalid_field'],
    [{ client_id: cid(), body: 'x', reply_to: 0 }, 'invalid_field'],
    [{ client_id: cid(), body: 'x', reply_to: 999999999 }, 'invalid_field'],
    [{ client_id: cid(), body: 'x', reply_to: foreign.id }, 'invalid_field'],
    [{ client_id: cid(), body: 'x', sender_id: b.id }, 'invalid_field'],
  ];
  for (const [body, code] of cases) {
    expectProblem(assert, await api('POST', url, { token: a.token, body }), 400, code);
  }
  expectProblem(assert, await api('POST', url, { token: a.token, body: '{"client_id": "x", "body": "unterminated' }), 400, 'invalid_json');
  expectProblem(assert, await api('POST', url, { token: a.token, body: '{"client_id":"ab","body":"x"} trailing' }), 400, 'invalid_json');
  expectProblem(assert, await api('POST', url, { token: a.token, body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) }), 400, 'invalid_json');
  expectProblem(assert, await api('POST', url, { token: a.token, body: 'x'.repeat(70000) }), 413);
  assert.equal(count(`SELECT COUNT(*) FROM messages WHERE conversation_id = ${c.id}`), 0);
  assert.equal(count(`SELECT last_seq FROM conversations WHERE id = ${c.id}`), 0);
  // The limits themselves are fine: 4000 characters (even 4-byte ones), a
  // reply, SQL-looking text stored verbatim.
  const big = await send(a, c, '😀'.repeat(4000));
  assert.equal([...big.body].length, 4000);
  const sqlish = await send(b, c, "Robert'); DROP TABLE messages;--", cid(), { reply_to: big.id });
  assert.equal(sqlish.body, "Robert'); DROP TABLE messages;--");
  assert.equal(sqlish.reply_to, big.id);
  assert.equal(sql(`SELECT body FROM messages WHERE id = ${sqlish.id}`)[0][0], "Robert'); DROP TABLE messages;--");
});

test('fan-out: every member of a small and a large group gets each message once, in log order', async () => {
  for (const size of [3, 12]) {
    const owner = await registerUser('fan');
    const others = await Promise.all(Array.from({ length: size - 1 }, () => registerUser('fanm')));
    const g = await group(owner, others, 'Fan ' + size);
    const all = [owner, ...others];
    // Concurrent senders: heads are taken in one order, so no deadlock
    // leaves a message out.
    const sent = await Promise.all(all.slice(0, 4).map((u, i) => send(u, g, `to ${size} #${i}`)));
    for (const u of all) {
      const rows = events(u.id, 'message.new', `AND conversation_id = ${g.id}`);
      assert.deepEqual(rows.map((r) => r.ref_id).sort((x, y) => x - y), sent.map((m) => m.id).sort((x, y) => x - y),
        `member ${u.id} of ${size} has each message once`);
      // Each member's log holds the messages in the conversation's order.
      const seqOf = new Map(sent.map((m) => [m.id, m.seq]));
      const inLog = rows.map((r) => seqOf.get(r.ref_id));
      assert.deepEqual(inLog, [...inLog].sort((x, y) => x - y), `member ${u.id}: log order is message order`);
      const [[last, max]] = sql(`SELECT h.last_seq, (SELECT MAX(seq) FROM user_events e WHERE e.user_id = h.user_id) FROM user_heads h WHERE h.user_id = ${u.id}`);
      assert.equal(+last, +max, 'the head is the end of the log');
    }
  }
});
