// Sends that wait for their commit: while the database stalls, sends queue
// up to api_send_queue_max and the ones beyond it are answered at once with
// 503 overloaded and Retry-After, storing nothing; when the database moves
// again every queued send is answered 201 and stored once, and a refused
// send's retry is stored.
//
// A second web instance of the test stack (its own api.fcgi, with a queue
// of 2) reaches MariaDB through a proxy socket that this test can stall, so
// the stall is its own: the other test files keep their database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { api, BASE, registerUser, sql, expectProblem, exclusive } from './lib.mjs';
import { stack, stackAsync } from './evlib.mjs';
import { cid } from './chatlib.mjs';

const VAR = process.env.MESSENGER_VAR;
const NAME = 'sendq';
const PORT4 = Number(new URL(BASE).port) + 29;
const BASE4 = `http://127.0.0.1:${PORT4}`;
const PROXY = path.join(VAR, 'sendq-dbproxy.sock');

// A proxy to MariaDB whose traffic can be held (both ways, on every
// connection, new ones included) and let go again.
function stallingProxy() {
  const pipes = new Set();
  let stalled = false;
  const server = net.createServer((c) => {
    const d = net.connect(process.env.MESSENGER_DB_SOCKET);
    const pair = { c, d, held: [] };
    pipes.add(pair);
    const pass = (to) => (chunk) => { if (stalled) pair.held.push([to, chunk]); else to.write(chunk); };
    c.on('data', pass(d));
    d.on('data', pass(c));
    const end = () => { c.destroy(); d.destroy(); pipes.delete(pair); };
    c.on('error', end).on('close', end);
    d.on('error', end).on('close', end);
  });
  return {
    up: () => new Promise((resolve, reject) => {
      fs.rmSync(PROXY, { force: true });
      server.once('error', reject);
      server.listen(PROXY, () => { server.off('error', reject); resolve(); });
    }),
    stall: () => { stalled = true; },
    // Down: connections cut (what they held lost), and no new one opens
    // until up() again.
    cut: () => new Promise((resolve) => {
      stalled = false;
      for (const p of pipes) { p.c.destroy(); p.d.destroy(); }
      pipes.clear();
      server.close(() => resolve());
      fs.rmSync(PROXY, { force: true });
    }),
    release: () => {
      stalled = false;
      for (const p of pipes) {
        for (const [to, chunk] of p.held) to.write(chunk);
        p.held = [];
      }
    },
    close: () => new Promise((resolve) => {
      stalled = false;
      for (const p of pipes) { p.c.destroy(); p.d.destroy(); }
      if (!server.listening) { resolve(); return; }
      server.close(() => resolve());
      fs.rmSync(PROXY, { force: true });
    }),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const stored = (clientId) => Number(sql(`SELECT COUNT(*) FROM messages WHERE client_id='${clientId}'`)[0][0]);

// Sessions are checked in memcached while the database stalls: the test
// holds the lock of the tests that stop memcached.
test('a send beyond api_send_queue_max is answered 503 overloaded at once and stores nothing; the queued ones are stored once the database moves', () => exclusive('memcached', async () => {
  const p = stallingProxy();
  await p.up();
  // A connection opened through the stalled proxy waits for it, not for
  // the default 5 s connect timeout.
  fs.writeFileSync(path.join(VAR, `${NAME}.local.conf`), `db_socket = ${PROXY}\napi_send_queue_max = 2\ndb_connect_timeout = 60\n`);
  try {
    await stackAsync('web-start', NAME, String(PORT4));
    const a = await registerUser('sqa');
    const b = await registerUser('sqb');
    const conv = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] }, base: BASE4 });
    assert.equal(conv.status, 201, conv.text);
    const url = `/conversations/${conv.body.id}/messages`;
    const send = (clientId) => api('POST', url, { token: a.token, body: { client_id: clientId, body: clientId }, base: BASE4 });
    // The instance's pool and the session's cached check are warm.
    assert.equal((await send(cid())).status, 201);

    p.stall();
    const ids = Array.from({ length: 6 }, () => cid());
    const noted = (r) => { r.catch(() => {}); return r; };
    // The first send is written by its own thread and the next by a writer
    // thread: both now wait for the database. (GET /health cannot tell when
    // they do, as it asks the stalled database too: the pauses are long
    // for a thread to pick a send up.)
    const first = noted(send(ids[0]));
    await sleep(500);
    const second = noted(send(ids[1]));
    await sleep(500);
    // Two more fill the queue; the two after them find it full and are
    // answered at once.
    const rest = ids.slice(2).map((id) => noted(send(id)));
    const answered = [];
    const now = await Promise.all(rest.map((r) => Promise.race([r, sleep(1500).then(() => null)])));
    for (const [i, r] of now.entries()) if (r) answered.push([ids[2 + i], r]);
    assert.equal(answered.length, 2, 'two sends beyond the queue of 2 are answered while the database stalls');
    for (const [, r] of answered) {
      expectProblem(assert, r, 503, 'overloaded');
      assert.equal(r.headers['retry-after'], '1');
    }

    p.release();
    const results = await Promise.all([first, second, ...rest]);
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
  } finally {
    try { stack('web-stop', NAME); } catch { /* already gone */ }
    fs.rmSync(path.join(VAR, `${NAME}.local.conf`), { force: true });
    await p.close();
  }
}));

test('sends waiting for a database that goes away are answered 503 database_unavailable and stored by their retries once it is back', () => exclusive('memcached', async () => {
  const p = stallingProxy();
  await p.up();
  fs.writeFileSync(path.join(VAR, `${NAME}.local.conf`), `db_socket = ${PROXY}\n`);
  try {
    await stackAsync('web-start', NAME, String(PORT4));
    const a = await registerUser('sqc');
    const b = await registerUser('sqd');
    const conv = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] }, base: BASE4 });
    assert.equal(conv.status, 201, conv.text);
    const url = `/conversations/${conv.body.id}/messages`;
    const send = (clientId) => api('POST', url, { token: a.token, body: { client_id: clientId, body: clientId }, base: BASE4 });
    assert.equal((await send(cid())).status, 201);

    p.stall();
    const ids = Array.from({ length: 4 }, () => cid());
    const noted = (r) => { r.catch(() => {}); return r; };
    // One send on its own thread, one with a writer, two queued behind.
    const first = noted(send(ids[0]));
    await sleep(500);
    const second = noted(send(ids[1]));
    await sleep(500);
    const rest = ids.slice(2).map((id) => noted(send(id)));
    await sleep(300);
    await p.cut();
    const answers = await Promise.all([first, second, ...rest]);
    for (const r of answers) expectProblem(assert, r, 503, 'database_unavailable');
    for (const id of ids) assert.equal(stored(id), 0, `nothing of ${id} stored`);

    await p.up();
    for (const id of ids) {
      const again = await send(id);
      assert.equal(again.status, 201, again.text);
      assert.equal(stored(id), 1);
    }
  } finally {
    try { stack('web-stop', NAME); } catch { /* already gone */ }
    fs.rmSync(path.join(VAR, `${NAME}.local.conf`), { force: true });
    await p.close();
  }
}));
