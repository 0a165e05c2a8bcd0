// Delivery: a waiter gets a message sent by someone else at once, and under
// concurrent senders a receiver that keeps dropping and resuming its
// long-poll (or its SSE stream) ends with every message exactly once, in
// each conversation's order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerUser, sql, until } from './lib.mjs';
import { poll, head, openStream, directConv, groupConv, send, clientId } from './evlib.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Long-polls from `since` until pred(events so far) holds (or the deadline).
async function pollUntil(user, since, pred, ms = 10000) {
  const got = [];
  let cursor = since;
  const end = Date.now() + ms;
  while (!pred(got)) {
    const left = Math.ceil((end - Date.now()) / 1000);
    if (left <= 0) throw new Error(`pollUntil: condition not met (${got.length} events: ${got.map((e) => e.type).join(',')})`);
    const r = await poll(user, cursor, { timeout: Math.min(left, 10) });
    assert.equal(r.status, 200, r.text);
    got.push(...r.body.events);
    cursor = r.body.next;
  }
  return { events: got, next: cursor };
}

test('a waiting long-poll receives a message from another user well under a second', async () => {
  const a = await registerUser('dlva');
  const b = await registerUser('dlvb');
  const cid = await directConv(a, b);
  const since = await head(b);
  let received = null;
  const waiter = (async () => {
    const r = await pollUntil(b, since, (ev) => ev.some((e) => e.type === 'message.new'), 30000);
    received = Date.now();
    return r;
  })();
  await sleep(300); // let the long-poll park
  const sent = Date.now();
  const m = await send(a, cid, 'hello from a');
  const { events } = await waiter;
  const ev = events.find((e) => e.type === 'message.new');
  assert.ok(received - sent < 1000, `delivered in ${received - sent} ms`);
  assert.equal(ev.conversation_id, cid);
  assert.equal(ev.message.id, m.id);
  assert.equal(ev.message.body, 'hello from a');
  assert.equal(ev.message.sender_id, a.id);
  assert.equal(ev.message.seq, m.seq);
});

// Several senders, each in a direct conversation with the receiver and all
// in one group; returns what was sent, by client_id.
async function blast(receiver, perSender, nSenders = 3) {
  const senders = [];
  for (let i = 0; i < nSenders; i++) senders.push(await registerUser('blast'));
  const direct = [];
  for (const s of senders) direct.push(await directConv(s, receiver));
  const group = await groupConv(senders[0], [...senders.slice(1), receiver], 'blast');
  const sent = new Map();
  const work = senders.map(async (s, i) => {
    // A few requests in flight per sender.
    const jobs = [];
    for (let k = 0; k < perSender; k++) {
      const cid = k % 3 === 0 ? group : direct[i];
      jobs.push({ cid, key: clientId(), body: `m ${i}.${k}` });
    }
    let next = 0;
    const lane = async () => {
      while (next < jobs.length) {
        const j = jobs[next++];
        const m = await send(s, j.cid, j.body, j.key);
        sent.set(j.key, { cid: j.cid, seq: m.seq, id: m.id });
        // Spread the sends out so the receiver also waits in between.
        if (Math.random() < 0.3) await sleep(Math.floor(Math.random() * 40));
      }
    };
    await Promise.all([lane(), lane(), lane()]);
  });
  return { sent, done: Promise.all(work), convs: [...direct, group] };
}

// Checks the receiver's record: every sent message once, in per-conversation
// seq order, nothing extra.
function verify(received, sent) {
  const byKey = new Map();
  for (const r of received) {
    assert.ok(!byKey.has(r.key), `message ${r.key} delivered twice`);
    byKey.set(r.key, r);
  }
  assert.equal(byKey.size, sent.size, `received ${byKey.size} of ${sent.size} messages`);
  for (const [key, s] of sent) {
    const r = byKey.get(key);
    assert.ok(r, `message ${key} never delivered`);
    assert.equal(r.cid, s.cid);
    assert.equal(r.seq, s.seq);
  }
  const lastSeq = new Map();
  for (const r of received) {
    const prev = lastSeq.get(r.cid) || 0;
    assert.ok(r.seq > prev, `conversation ${r.cid}: seq ${r.seq} after ${prev}`);
    lastSeq.set(r.cid, r.seq);
  }
}

test('no loss, no duplicates: long-poll dropped and resumed under concurrent senders', async () => {
  const rcv = await registerUser('dlvlp');
  let cursor = await head(rcv);
  const { sent, done, convs } = await blast(rcv, 100);
  let finished = false;
  done.then(() => { finished = true; });
  const received = [];
  let lastSeq = Number(cursor), drops = 0, batches = 0;
  const deadline = Date.now() + 180000;
  for (;;) {
    assert.ok(Date.now() < deadline, `timed out with ${received.length} of ${sent.size}`);
    const dice = Math.random();
    const drop = dice < 0.2;
    const lose = dice >= 0.2 && dice < 0.35;
    const limit = 1 + Math.floor(Math.random() * 100);
    try {
      // A dropped request: the client gives up on it mid-flight and resumes
      // from the cursor it had.
      const r = await poll(rcv, cursor, { timeout: 2, limit, timeoutMs: drop ? 20 + Math.floor(Math.random() * 200) : 75000 });
      assert.equal(r.status, 200, r.text);
      if (lose) {
        // A lost answer: the batch never reached the client, which asks
        // again from the same cursor.
        drops++;
        continue;
      }
      batches++;
      for (const e of r.body.events) {
        assert.ok(e.seq > lastSeq, `event seq ${e.seq} after ${lastSeq}`);
        lastSeq = e.seq;
        if (e.type === 'message.new' && convs.includes(e.conversation_id)) {
          received.push({ key: e.message.client_id, cid: e.conversation_id, seq: e.message.seq });
        }
      }
      cursor = r.body.next;
      if (finished && r.body.caught_up && received.length >= sent.size) break;
    } catch (e) {
      if (!/timeout/.test(e.message)) throw e;
      drops++;
    }
  }
  await done;
  assert.ok(drops > 0 && batches > 0);
  verify(received, sent);
});

test('no loss, no duplicates: SSE stream dropped and resumed with Last-Event-ID', async () => {
  const rcv = await registerUser('dlvsse');
  let lastId = await head(rcv);
  const { sent, done, convs } = await blast(rcv, 100);
  let finished = false;
  done.then(() => { finished = true; });
  const received = [];
  let lastSeq = Number(lastId), reconnects = 0;
  const deadline = Date.now() + 180000;
  while (!(finished && received.length >= sent.size)) {
    assert.ok(Date.now() < deadline, `timed out with ${received.length} of ${sent.size}`);
    const s = await openStream({ headers: { Authorization: 'Bearer ' + rcv.token, 'Last-Event-ID': lastId } });
    assert.equal(s.status, 200, s.text);
    reconnects++;
    // Take a few events, then drop the connection (anything after them that
    // already arrived is discarded, as a crashed client would lose it).
    const take = 1 + Math.floor(Math.random() * 40);
    try {
      await s.until((x) => x.events.length >= take, finished ? 1500 : 800);
    } catch { /* fewer arrived: fine */ }
    s.close();
    for (const e of s.events.slice(0, take)) {
      assert.ok(e.seq > lastSeq, `event seq ${e.seq} after ${lastSeq}`);
      lastSeq = e.seq;
      lastId = String(e.seq);
      if (e.type === 'message.new' && convs.includes(e.conversation_id)) {
        received.push({ key: e.message.client_id, cid: e.conversation_id, seq: e.message.seq });
      }
    }
  }
  await done;
  assert.ok(reconnects > 1);
  verify(received, sent);
});

test('message events show the message as it is now: edits, reactions, deletion', async () => {
  const a = await registerUser('rnda');
  const b = await registerUser('rndb');
  const cid = await directConv(a, b);
  const since = await head(b);
  const m = await send(a, cid, 'first draft');
  const base = `/conversations/${cid}/messages/${m.id}`;
  assert.equal((await api('PATCH', base, { token: a.token, body: { body: 'final text' } })).status, 200);
  assert.equal((await api('PUT', base + '/reactions/' + encodeURIComponent('👍'), { token: b.token })).status, 200);
  let r = await poll(b, since, { timeout: 0 });
  const news = r.body.events.filter((e) => e.type === 'message.new');
  assert.equal(news.length, 1);
  assert.equal(news[0].message.body, 'final text');
  assert.ok(news[0].message.edited_at);
  assert.deepEqual(news[0].message.reactions, [{ emoji: '👍', count: 1, user_ids: [b.id] }]);
  const edited = r.body.events.find((e) => e.type === 'message.edited');
  assert.equal(edited.message.id, m.id);
  // Deleted: every message event of it now renders the tombstone.
  assert.equal((await api('DELETE', base, { token: a.token })).status, 200);
  r = await poll(b, since, { timeout: 0 });
  const msgEvents = r.body.events.filter((e) => e.type.startsWith('message.'));
  assert.deepEqual(msgEvents.map((e) => e.type), ['message.new', 'message.edited', 'message.deleted']);
  for (const e of msgEvents) {
    assert.equal(e.message.body, null);
    assert.ok(e.message.deleted_at);
  }
});

test('handing a message to the recipient records delivery and tells the sender', async () => {
  const a = await registerUser('rcpa');
  const b = await registerUser('rcpb');
  const cid = await directConv(a, b);
  // b wrote first, so b has read up to seq 1: the receipt carries that too.
  const first = await send(b, cid, 'hello a');
  const aSince = await head(a);
  const m = await send(a, cid, 'did you get this?');
  // Not yet delivered: b has not asked.
  let conv = await api('GET', `/conversations/${cid}`, { token: a.token });
  assert.equal(conv.body.members.find((x) => x.user.id === b.id).delivered_seq, first.seq);
  // b's stream hands it over.
  const s = await openStream({ headers: { Authorization: 'Bearer ' + b.token, 'Last-Event-ID': '0' } });
  try {
    await s.until((x) => x.events.some((e) => e.type === 'message.new' && e.message.id === m.id), 5000);
  } finally { s.close(); }
  // a hears about it.
  let cursor = aSince, receipt = null;
  const end = Date.now() + 10000;
  while (!receipt && Date.now() < end) {
    const r = await poll(a, cursor, { timeout: 5 });
    cursor = r.body.next;
    receipt = r.body.events.find((e) => e.type === 'receipt' && e.user_id === b.id && e.delivered_seq >= m.seq);
  }
  assert.ok(receipt, 'sender got a delivered receipt');
  assert.equal(receipt.conversation_id, cid);
  assert.equal(receipt.read_seq, first.seq, 'with the read mark of the one who got it');
  conv = await api('GET', `/conversations/${cid}`, { token: a.token });
  assert.equal(conv.body.members.find((x) => x.user.id === b.id).delivered_seq, m.seq);
  // One receipt, to the other member only.
  assert.deepEqual(receiptRows(cid, b.id), [{ user_id: a.id, payload: { user_id: b.id, delivered_seq: m.seq, read_seq: first.seq } }]);
});

// Members seeded with SQL (no password hashing): ids of n new users.
function seedUsers(tag, n) {
  sql(`INSERT INTO users (username, display_name, password_hash) SELECT CONCAT('${tag}-', seq), CONCAT('Seed ', seq), '!' FROM seq_1_to_${n}`);
  sql(`INSERT INTO user_heads (user_id) SELECT id FROM users WHERE username LIKE '${tag}-%'`);
  return sql(`SELECT id FROM users WHERE username LIKE '${tag}-%' ORDER BY id`).map(([id]) => +id);
}
const receiptRows = (cid, uid) => sql(`SELECT user_id, payload FROM user_events WHERE type = 'receipt' AND conversation_id = ${cid} ORDER BY user_id, seq`)
  .map(([u, p]) => ({ user_id: +u, payload: JSON.parse(p) }))
  .filter((r) => r.payload.user_id === uid);

test('delivered receipts: to every other member of a group, once per advance; none in groups over the fan-out limit', async () => {
  for (const [size, expectReceipts] of [[12, true], [40, false]]) {
    const reader = await registerUser('dlv'), sender = await registerUser('dlvs');
    const others = seedUsers('dl' + reader.id, size - 2);
    const g = await api('POST', '/conversations', { token: sender.token, body: { type: 'group', title: 'Receipts ' + size, member_ids: [reader.id, ...others] } });
    assert.equal(g.status, 201, g.text);
    const cid = g.body.id;
    const since = await head(reader);
    const m = await send(sender, cid, 'delivered to ' + size);
    const r = await poll(reader, since, { timeout: 5 });
    assert.ok(r.body.events.some((e) => e.type === 'message.new' && e.message.id === m.id));
    // The receipt transaction follows the answer.
    let rows = [];
    for (let i = 0; i < 50; i++) {
      rows = receiptRows(cid, reader.id);
      const conv = await api('GET', `/conversations/${cid}`, { token: sender.token });
      if (conv.body.members.find((x) => x.user.id === reader.id).delivered_seq === m.seq && (!expectReceipts || rows.length === size - 1)) break;
      await sleep(100);
    }
    const conv = await api('GET', `/conversations/${cid}`, { token: sender.token });
    assert.equal(conv.body.members.find((x) => x.user.id === reader.id).delivered_seq, m.seq, 'the mark moved');
    if (expectReceipts) {
      assert.deepEqual(rows.map((x) => x.user_id), [sender.id, ...others].sort((x, y) => x - y), 'every other member, once');
      for (const x of rows) assert.deepEqual(x.payload, { user_id: reader.id, delivered_seq: m.seq, read_seq: 0 });
    } else {
      assert.equal(rows.length, 0, 'no receipt rows in a group over the limit');
    }
    // Fetching the same message again moves nothing and writes nothing.
    const again = await poll(reader, since, { timeout: 0 });
    assert.equal(again.status, 200);
    assert.ok(again.body.events.some((e) => e.type === 'message.new' && e.message.id === m.id));
    // A barrier instead of a pause: receipts are written after the answer,
    // in order, by one writer. A second message fetched by the same reader is
    // written after anything the repeated fetch could have queued; once its
    // mark is there, the receipts are exactly one per advance.
    const m2 = await send(sender, cid, 'and again to ' + size);
    const r2 = await poll(reader, r.body.next, { timeout: 5 });
    assert.deepEqual(r2.body.events.filter((e) => e.type === 'message.new').map((e) => e.message.id), [m2.id]);
    await until(() => +sql(`SELECT delivered_seq FROM members WHERE conversation_id = ${cid} AND user_id = ${reader.id}`)[0][0] === m2.seq,
      'delivered_seq to reach the second message');
    const want = expectReceipts
      ? [sender.id, ...others].sort((x, y) => x - y).flatMap((u) => [
        { user_id: u, payload: { user_id: reader.id, delivered_seq: m.seq, read_seq: 0 } },
        { user_id: u, payload: { user_id: reader.id, delivered_seq: m2.seq, read_seq: 0 } }])
      : [];
    assert.deepEqual(receiptRows(cid, reader.id), want);
  }
});
