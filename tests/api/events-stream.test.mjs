// The event log as Server-Sent Events: tickets (single use, expiry, bad
// ones), resuming with Last-Event-ID or since, live delivery, heartbeats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { api, registerUser, sql, sleep, until } from './lib.mjs';
import { openStream, ticket, runSweeper, fcgiRequest, EVENTS_SOCKET } from './evlib.mjs';
import { direct, send as sendMsg, events as eventsOf, count } from './chatlib.mjs';

async function profileChange(user, about) {
  const r = await api('PATCH', '/me', { token: user.token, body: { about } });
  assert.equal(r.status, 200);
}

function problem(s, status, code) {
  assert.equal(s.status, status, s.text);
  assert.match(s.headers['content-type'] || '', /^application\/problem\+json/);
  assert.equal(s.body.status, status);
  if (code) assert.equal(s.body.code, code);
}

test('a ticket opens one stream; the stream delivers live events', async () => {
  const u = await registerUser('sse');
  const t = await ticket(u);
  const s = await openStream({ query: 'ticket=' + encodeURIComponent(t) });
  try {
    assert.equal(s.status, 200);
    assert.match(s.headers['content-type'], /^text\/event-stream/);
    await s.until((x) => x.retry !== null, 5000);
    await profileChange(u, 'live');
    await s.until((x) => x.events.length === 1, 5000);
    assert.equal(s.events[0].type, 'profile.updated');
    assert.equal(s.events[0].user.about, 'live');
    assert.equal(s.ids[0], String(s.events[0].seq));
  } finally {
    s.close();
  }
  // Used once: never again.
  const again = await openStream({ query: 'ticket=' + encodeURIComponent(t) });
  problem(again, 401, 'invalid_ticket');
});

test('bad tickets are 401; no credentials at all are 401', async () => {
  for (const t of ['nope', 'x'.repeat(200), '']) {
    const s = await openStream({ query: 'ticket=' + encodeURIComponent(t) });
    problem(s, 401, 'invalid_ticket');
  }
  problem(await openStream(), 401, 'unauthenticated');
  problem(await openStream({ headers: { Authorization: 'Bearer bad' } }), 401, 'invalid_token');
  // A ticket outlives neither its session nor a second use by a racing client.
  const u = await registerUser('sseout');
  const t = await ticket(u);
  assert.equal((await api('POST', '/auth/logout', { token: u.token, body: '', contentType: 'text/plain' })).status, 204);
  problem(await openStream({ query: 'ticket=' + encodeURIComponent(t) }), 401, 'invalid_ticket');
  const v = await registerUser('sserace');
  const t2 = await ticket(v);
  const both = await Promise.all([1, 2, 3].map(() => openStream({ query: 'ticket=' + encodeURIComponent(t2) })));
  assert.deepEqual(both.map((s) => s.status).sort(), [200, 401, 401]);
  both.forEach((s) => s.close && s.close());
});

test('tickets expire after 30 seconds; the sweeper removes unused ones', async () => {
  const u = await registerUser('sseexp');
  const t = await ticket(u);
  await ticket(u); // never used
  const rows = sql(`SELECT TIMESTAMPDIFF(SECOND, NOW(3), expires_at) FROM stream_tickets WHERE user_id = ${u.id}`);
  assert.equal(rows.length, 2);
  for (const [left] of rows) assert.ok(Number(left) >= 28 && Number(left) <= 30, `expires in ${left} s`);
  // Their 30 seconds over (moved back rather than waited out).
  sql(`UPDATE stream_tickets SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE user_id = ${u.id}`);
  problem(await openStream({ query: 'ticket=' + encodeURIComponent(t) }), 401, 'invalid_ticket');
  runSweeper();
  assert.deepEqual(sql(`SELECT COUNT(*) FROM stream_tickets WHERE user_id = ${u.id}`), [['0']]);
});

test('Last-Event-ID resumes after that event; it wins over since', async () => {
  const u = await registerUser('sseresume');
  for (let i = 1; i <= 4; i++) await profileChange(u, 'e' + i);
  const auth = { Authorization: 'Bearer ' + u.token };
  const a = await openStream({ headers: { ...auth, 'Last-Event-ID': '1' } });
  try {
    await a.until((x) => x.events.length === 3, 5000);
    assert.deepEqual(a.events.map((e) => e.seq), [2, 3, 4]);
    assert.deepEqual(a.events.map((e) => e.user.about), ['e2', 'e3', 'e4']);
  } finally { a.close(); }
  const b = await openStream({ query: 'since=0', headers: { ...auth, 'Last-Event-ID': '3' } });
  try {
    await b.until((x) => x.events.length === 1, 5000);
    assert.deepEqual(b.events.map((e) => e.seq), [4]);
  } finally { b.close(); }
  // since alone, through a ticket (what EventSource does on first connect).
  const c = await openStream({ query: 'since=2&ticket=' + encodeURIComponent(await ticket(u)) });
  try {
    await c.until((x) => x.events.length === 2, 5000);
    assert.deepEqual(c.events.map((e) => e.seq), [3, 4]);
    // Then live events continue on the same stream, in order.
    await profileChange(u, 'e5');
    await c.until((x) => x.events.length === 3, 5000);
    assert.equal(c.events[2].seq, 5);
  } finally { c.close(); }
  // Without a cursor the stream starts at the head: nothing old arrives.
  const d = await openStream({ headers: auth });
  try {
    await d.until((x) => x.retry !== null, 5000);
    await profileChange(u, 'e6');
    await d.until((x) => x.events.length === 1, 5000);
    assert.equal(d.events[0].seq, 6);
  } finally { d.close(); }
  // Its opening block names the head as the stream's id, so a reconnect
  // before any event arrived (EventSource sends the last id it saw)
  // resumes from there: an event written while it was away is not lost.
  const e = await openStream({ headers: auth });
  try {
    await e.until((x) => x.lastId !== null, 5000);
    assert.equal(e.lastId, '6');
    assert.equal(e.events.length, 0);
  } finally { e.close(); }
  await profileChange(u, 'e7');
  const f = await openStream({ headers: { ...auth, 'Last-Event-ID': e.lastId } });
  try {
    await f.until((x) => x.events.length === 1, 5000);
    assert.equal(f.events[0].seq, 7);
    assert.equal(f.events[0].user.about, 'e7');
  } finally { f.close(); }
});

test('stream cursors are validated like long-poll cursors', async () => {
  const u = await registerUser('ssebad');
  await profileChange(u, 'x');
  const auth = { Authorization: 'Bearer ' + u.token };
  for (const id of ['abc', '-1', '5', '99999999999999999999']) {
    problem(await openStream({ headers: { ...auth, 'Last-Event-ID': id } }), 400, 'invalid_cursor');
  }
  problem(await openStream({ query: 'since=zz', headers: auth }), 400, 'invalid_cursor');
  // Retention: an expired cursor gets 410 with the oldest one still served.
  sql(`UPDATE user_heads SET min_seq = 2 WHERE user_id = ${u.id}`);
  sql(`DELETE FROM user_events WHERE user_id = ${u.id} AND seq < 2`);
  const g = await openStream({ headers: { ...auth, 'Last-Event-ID': '0' } });
  problem(g, 410, 'cursor_expired');
  assert.equal(g.body.oldest_cursor, '1');
});

test('an idle stream sends a heartbeat event (ping) every 15 seconds', async () => {
  const u = await registerUser('sseping');
  const s = await openStream({ headers: { Authorization: 'Bearer ' + u.token } });
  try {
    const t0 = Date.now();
    await s.until((x) => x.pings.length > 0, 20000);
    const took = Date.now() - t0;
    // Streams opened together spread their heartbeats over the second half
    // of the 15 s interval.
    assert.ok(took >= 7000, `the first heartbeat comes after 7.5-15 s (${took} ms)`);
    assert.equal(s.events.length, 0);
  } finally { s.close(); }
});

test('signing out, or the session deleted from another device, ends an open stream at once', async () => {
  const u = await registerUser('sseend');
  const s = await openStream({ query: 'ticket=' + encodeURIComponent(await ticket(u)) });
  try {
    assert.equal(s.status, 200);
    await s.until((x) => x.retry !== null, 5000);
    assert.equal((await api('POST', '/auth/logout', { token: u.token, body: '', contentType: 'text/plain' })).status, 204);
    const t0 = Date.now();
    while (!s.ended && Date.now() - t0 < 30000) await sleep(100);
    assert.ok(s.ended, 'the server closed the stream');
    // Not at its next session check (10-20 s after it opened).
    assert.ok(Date.now() - t0 < 3000, `ended ${Date.now() - t0} ms after the sign-out`);
  } finally { s.close(); }
  // A stolen device's session, deleted from another: its stream ends and
  // hears none of the messages that follow.
  const v = await registerUser('ssestolen'), w = await registerUser('ssestolenw');
  const conv = await direct(w, v);
  // (From an address of its own: 127.0.0.1's login limit is other files'.)
  const from = '127.0.2.' + (1 + Math.floor(Math.random() * 250));
  const other = await api('POST', '/auth/login', { body: { username: v.username, password: v.password, device_name: 'stolen' }, localAddress: from });
  assert.equal(other.status, 200, other.text);
  const t = await openStream({ headers: { Authorization: 'Bearer ' + other.body.access_token } });
  try {
    await t.until((x) => x.retry !== null, 5000);
    const sessions = (await api('GET', '/sessions', { token: v.token })).body.sessions;
    const stolen = sessions.find((x) => x.device_name === 'stolen');
    assert.equal((await api('DELETE', `/sessions/${stolen.id}`, { token: v.token })).status, 204);
    const t0 = Date.now();
    while (!t.ended && Date.now() - t0 < 30000) await sleep(100);
    assert.ok(t.ended && Date.now() - t0 < 3000, 'the stolen session\'s stream ended at once');
    // Nor can it come back: its token opens no stream or long-poll, and
    // what is sent now reaches only the session still signed in.
    const again = await openStream({ headers: { Authorization: 'Bearer ' + other.body.access_token } });
    again.close();
    assert.equal(again.status, 401);
    const poll = await api('GET', '/events?timeout=0', { token: other.body.access_token });
    assert.equal(poll.status, 401);
    assert.equal(poll.body.code, 'invalid_token');
    const head = (await api('GET', '/events?timeout=0', { token: v.token })).body.next;
    const m = await sendMsg(w, conv, 'not for the stolen device');
    assert.ok(!t.events.some((e) => e.type === 'message.new'), 'no message reached it');
    const mine = await api('GET', `/events?since=${head}&timeout=0`, { token: v.token });
    assert.ok(mine.body.events.some((e) => e.type === 'message.new' && e.message.id === m.id), 'the signed-in session has it');
  } finally { t.close(); }
});

test('a burst shown on a stream is acknowledged to the sender in one delivered receipt', async () => {
  const a = await registerUser('sserca'), b = await registerUser('ssercb');
  const c = await direct(a, b);
  const s = await openStream({ query: 'ticket=' + encodeURIComponent(await ticket(b)) });
  try {
    await s.until((x) => x.retry !== null, 5000);
    const sent = await Promise.all(Array.from({ length: 8 }, (_, i) => sendMsg(a, c, 'burst ' + i)));
    const last = Math.max(...sent.map((m) => m.seq));
    await s.until((x) => x.events.filter((e) => e.type === 'message.new').length === 8, 5000);
    // The sender learns that everything arrived, soon after it did.
    const delivered = () => count(`SELECT delivered_seq FROM members WHERE conversation_id = ${c.id} AND user_id = ${b.id}`);
    await until(() => delivered() >= last, 'delivered_seq to reach the burst\'s last message', 3000);
    assert.equal(delivered(), last);
    // A barrier instead of a pause: one more message, shown on the same
    // stream, is acknowledged after whatever the burst still had waiting
    // (the stream holds receipts at most 300 ms and one writer writes them
    // in order). Once its mark is there, the receipts are complete.
    const after = await sendMsg(a, c, 'after the burst');
    await s.until((x) => x.events.some((e) => e.type === 'message.new' && e.message.id === after.id), 5000);
    await until(() => delivered() === after.seq, 'delivered_seq to reach the message after the burst');
    const receipts = eventsOf(a.id, 'receipt', `AND conversation_id = ${c.id}`).map((e) => e.payload);
    const rc = (seq) => ({ user_id: b.id, delivered_seq: seq, read_seq: 0 });
    // The burst told the sender at once for what the stream showed first,
    // then (when the rest came in later batches, at most every 300 ms)
    // for everything since: rising marks of the burst's messages ending at
    // its last, fewer than one per message (two when the burst arrives
    // within 300 ms; a slow machine may spread it further); then one for
    // the barrier.
    assert.deepEqual(receipts.at(-1), rc(after.seq), `receipts: ${JSON.stringify(receipts)}`);
    const burst = receipts.slice(0, -1);
    assert.deepEqual(burst.at(-1), rc(last), `receipts: ${JSON.stringify(receipts)}`);
    assert.ok(burst.length >= 1 && burst.length < 8, `${burst.length} receipts for 8 messages`);
    for (const [i, r] of burst.entries()) {
      assert.deepEqual(r, rc(r.delivered_seq));
      assert.ok(sent.some((m) => m.seq === r.delivered_seq), `receipt ${r.delivered_seq} names a message of the burst`);
      if (i > 0) assert.ok(r.delivered_seq > burst[i - 1].delivered_seq, `receipts rise: ${JSON.stringify(receipts)}`);
    }
    // The reader's own stream carries no receipt about itself.
    assert.equal(s.events.filter((e) => e.type === 'receipt').length, 0);
  } finally {
    s.close();
  }
});

test('events a stream does not show still move its last id (a resumption does not read them again)', async () => {
  const u = await registerUser('ssehidden');
  await profileChange(u, 'shown');
  // Then two message events whose message is gone for good (what a
  // deleted conversation leaves): nothing to show.
  sql(`INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id) VALUES
    (${u.id}, 2, 'message.new', 999999999, 999999999), (${u.id}, 3, 'message.new', 999999999, 999999998)`);
  sql(`UPDATE user_heads SET last_seq = 3 WHERE user_id = ${u.id}`);
  const s = await openStream({ headers: { Authorization: 'Bearer ' + u.token, 'Last-Event-ID': '0' } });
  try {
    // Announced at once (heartbeats come 7.5-15 s apart), as an event an
    // EventSource client sees: a bare id line moves only the browser's
    // own last event id.
    await s.until((x) => x.events.length === 1 && x.pingIds.includes('3'), 5000);
    assert.deepEqual(s.events.map((e) => e.seq), [1]);
    assert.equal(s.lastId, '3');
  } finally { s.close(); }
});

test('a stream finds an event whose wake-up was lost, within events_safety_read_seconds', async () => {
  const u = await registerUser('ssesafety');
  const t0 = Date.now();
  const s = await openStream({ headers: { Authorization: 'Bearer ' + u.token } });
  try {
    await profileChange(u, 'rung');
    await s.until((x) => x.events.length === 1, 5000);
    // Past the wake-ups of coming online (the stream reads the log then).
    await sleep(1500);
    // The same event once more, written into the log with no ring (as when
    // the writer was killed between its commit and its ring); the test
    // stack reads every 5 s.
    sql(`UPDATE user_heads SET last_seq = last_seq + 1 WHERE user_id = ${u.id}`);
    sql(`INSERT INTO user_events (user_id, seq, type, payload)
      SELECT e.user_id, h.last_seq, e.type, e.payload FROM user_events e JOIN user_heads h ON h.user_id = e.user_id
      WHERE e.user_id = ${u.id} AND e.seq = h.last_seq - 1`);
    // Before the stream's first presence refresh (10-20 s after it opened),
    // which reads the log too.
    await s.until((x) => x.events.length === 2, Math.max(1000, 9500 - (Date.now() - t0)));
    assert.deepEqual(s.events.map((e) => e.type), ['profile.updated', 'profile.updated']);
  } finally { s.close(); }
});

// A stream whose reader stops reading once it has opened (straight to
// events.fcgi: lighttpd would buffer megabytes for it first).
function stalledStream(user) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(EVENTS_SOCKET);
    sock.on('error', reject);
    sock.once('data', () => { sock.pause(); resolve(sock); });
    sock.write(fcgiRequest('/events/stream', '', { HTTP_AUTHORIZATION: 'Bearer ' + user.token, HTTP_ACCEPT: 'text/event-stream' }));
  });
}

test('a client that stops reading its stream is disconnected instead of holding a writer', async () => {
  const rx = await registerUser('ssestall');
  const tx = await registerUser('ssestalltx');
  const conv = await direct(tx, rx);
  const socks = [await stalledStream(rx), await stalledStream(rx)];
  try {
    // Far more than the socket buffers between the server and a reader
    // that does not read (about 3.6 MB per stream).
    const body = '字'.repeat(4000);
    for (let i = 0; i < 300; i++) await sendMsg(tx, conv, body);
    // The reader stays away longer than the server waits for it
    // (events_write_timeout_ms, 250 ms) ...
    await sleep(6000);
    // ... and finds its stream ended: the rest of what was written, then
    // the end. A writer still waiting for it would go on once it reads.
    await Promise.all(socks.map((sock) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the stalled stream was still open 30 s after its reader came back')), 30000);
      sock.on('close', () => { clearTimeout(t); resolve(); });
      sock.on('data', () => {});
      sock.resume();
    })));
  } finally {
    for (const s of socks) s.destroy();
  }
});
