// Failure and scale-out: a second web host (its own doorbell, the same
// MariaDB and memcached) and memcached going away mid-test. These run in
// one file, one after the other, because both change the shared stack.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { exclusive, api, registerUser, mcCommand, BASE, MC_SOCKET } from './lib.mjs';
import { poll, head, openStream, directConv, send, stack } from './evlib.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const PORT2 = Number(new URL(BASE).port) + 17;
const BASE2 = `http://127.0.0.1:${PORT2}`;

after(() => {
  try { stack('mc-start'); } catch { /* already running */ }
  try { stack('web-stop', 'second'); } catch { /* not running */ }
});

// memcached's values for keys (missing keys absent), or null when down.
function mcGet(keys) {
  return new Promise((resolve) => {
    const s = net.connect(MC_SOCKET);
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      if (!buf.endsWith('END\r\n')) return;
      s.end();
      const out = {};
      const re = /VALUE (\S+) \d+ (\d+)\r\n/g;
      let m;
      while ((m = re.exec(buf)) !== null) out[m[1]] = buf.substr(re.lastIndex, +m[2]);
      resolve(out);
    });
    s.on('error', () => resolve(null));
    s.write('get ' + keys.join(' ') + '\r\n');
  });
}

const SHARD_KEYS = Array.from({ length: 256 }, (_, i) => 'm:wake:' + i);
async function hintTotal() {
  const v = await mcGet(SHARD_KEYS);
  return Object.values(v).reduce((t, x) => t + Number(x), 0);
}
async function hostsListed() {
  const v = (await mcGet(['m:wake-hosts']))['m:wake-hosts'] || '';
  const now = Date.now() / 1000;
  return v.split(' ').filter((e) => e && +e.split(':')[1] > now).length;
}

// Long-polls (on `base`) until a message.new with this body arrives.
async function waitForMessage(user, since, body, base, ms) {
  let cursor = since;
  const end = Date.now() + ms;
  for (;;) {
    const left = Math.ceil((end - Date.now()) / 1000);
    if (left <= 0) throw new Error(`message "${body}" not delivered within ${ms} ms`);
    const r = await poll(user, cursor, { timeout: Math.min(left, 10), base });
    assert.equal(r.status, 200, r.text);
    cursor = r.body.next;
    const e = r.body.events.find((x) => x.type === 'message.new' && x.message.body === body);
    if (e) return { event: e, next: cursor };
  }
}

test('one host: wake-ups cost memcached nothing', async () => {
  await exclusive('memcached', async () => {
    // If another test just restarted memcached, clients skip it for 2 s more.
    await sleep(2500);
    // A second host of an earlier run drops out of the list within 15 s.
    for (let i = 0; i < 40 && (await hostsListed()) !== 1; i++) await sleep(500);
    assert.equal(await hostsListed(), 1, 'the events process announces its host');
    const a = await registerUser('solo');
    const b = await registerUser('solob');
    const cid = await directConv(a, b);
    const before = await hintTotal();
    const since = await head(b);
    const waiting = waitForMessage(b, since, 'alone', BASE, 10000);
    await sleep(300);
    const t0 = Date.now();
    await send(a, cid, 'alone');
    await waiting;
    assert.ok(Date.now() - t0 < 1000, 'delivered promptly through the local doorbell');
    assert.equal(await hintTotal(), before, 'no cross-host hint was sent');
  });
});

test('two hosts: a waiter on one host gets what is sent through the other, promptly', async () => {
  await exclusive('memcached', async () => {
    // If another test just restarted memcached, clients skip it for 2 s more.
    await sleep(2500);
    const hintsBefore = await hintTotal();
    stack('web-start', 'second', String(PORT2));
    const health = await api('GET', '/health', { base: BASE2 });
    assert.equal(health.status, 200);
    const a = await registerUser('hosta');
    const b = await registerUser('hostb');
    const cid = await directConv(a, b);
    // b waits on host 2; a sends on host 1.
    for (let i = 0; i < 3; i++) {
      const since = await head(b);
      const waiting = waitForMessage(b, since, 'cross ' + i, BASE2, 30000);
      await sleep(300);
      const t0 = Date.now();
      await send(a, cid, 'cross ' + i);
      await waiting;
      const took = Date.now() - t0;
      assert.ok(took < 1000, `cross-host delivery took ${took} ms`);
    }
    assert.equal(await hostsListed(), 2, 'both hosts are announced');
    assert.ok(await hintTotal() > hintsBefore, 'with a second host, sends leave hints');
    // A hint counter that memcached lost and made again (evicted, or moved
    // to another server of a pool) is lower than host 2 last saw it, with
    // a's next hint in it: that still rings b. Host 2 is paused while b's
    // shard's counter (3 or more after the sends above) goes back to 0 and
    // the send makes it 1, so that its watcher sees both at once.
    {
      const lighttpd = fs.readFileSync(path.join(process.env.MESSENGER_VAR, 'second.lighttpd.pid'), 'utf8').trim();
      const pid = Number(execFileSync('pgrep', ['-P', lighttpd, 'events.fcgi'], { encoding: 'utf8' }).trim());
      assert.ok(pid > 0, 'host 2 has its events process');
      const since = await head(b);
      const waiting = waitForMessage(b, since, 'after a reset', BASE2, 20000);
      await sleep(300);
      process.kill(pid, 'SIGSTOP');
      let t0;
      try {
        const key = SHARD_KEYS[b.id % 256];
        assert.ok(Number((await mcGet([key]))[key]) >= 3, 'b\'s shard has counted the sends above');
        assert.match(await mcCommand(`set ${key} 0 0 1\r\n0`), /STORED/);
        await send(a, cid, 'after a reset');
      } finally {
        process.kill(pid, 'SIGCONT');
        t0 = Date.now();
      }
      await waiting;
      const took = Date.now() - t0;
      assert.ok(took < 3000, `delivered ${took} ms after host 2 went on (its long-poll ends at 10 s)`);
    }
    // And the other way round, by SSE: stream on host 1, send on host 2.
    const s = await openStream({ headers: { Authorization: 'Bearer ' + a.token } });
    try {
      assert.equal(s.status, 200);
      await s.until((x) => x.retry !== null, 5000);
      const t0 = Date.now();
      await send(b, cid, 'back', undefined, { base: BASE2 });
      await s.until((x) => x.events.some((e) => e.type === 'message.new' && e.message.body === 'back'), 5000);
      assert.ok(Date.now() - t0 < 1000, 'SSE cross-host delivery under a second');
    } finally {
      s.close();
    }
    // Signing out through host 1 answers a long-poll waiting on host 2 at
    // once (not at its next session check there, 10-20 s after it began).
    const c = await registerUser('hostc');
    const first = await api('GET', '/events?timeout=0', { token: c.token, base: BASE2 });
    assert.equal(first.status, 200, first.text);
    const t1 = Date.now();
    const polling = api('GET', `/events?since=${encodeURIComponent(first.body.next)}&timeout=25`, { token: c.token, base: BASE2 });
    await sleep(500);
    assert.equal((await api('POST', '/auth/logout', { token: c.token, body: '', contentType: 'text/plain' })).status, 204);
    const ended = await polling;
    assert.equal(ended.status, 200, ended.text);
    assert.deepEqual(ended.body.events, []);
    assert.ok(Date.now() - t1 < 4000, `answered ${Date.now() - t1} ms after it began`);
  });
});

test('memcached stopped: sends and delivery keep working, nothing is lost', async () => {
  await exclusive('memcached', async () => {
    const a = await registerUser('mca');
    const b = await registerUser('mcb');
    const cid = await directConv(a, b);
    let cursor = await head(b);
    const got = [];
    const sentKeys = [];
    stack('mc-stop');
    try {
      // Same host: the doorbell needs no memcached.
      const waiting = waitForMessage(b, cursor, 'while down 0', BASE, 10000);
      await sleep(300);
      const m0 = await send(a, cid, 'while down 0');
      sentKeys.push(m0.client_id);
      const w = await waiting;
      got.push(w.event);
      cursor = w.next;
      for (let i = 1; i < 20; i++) sentKeys.push((await send(a, cid, 'while down ' + i)).client_id);
      // Presence degrades to MySQL: b is polling, so online.
      const p = await api('GET', `/users/${b.id}/presence`, { token: a.token });
      assert.equal(p.status, 200);
      assert.equal(p.body.online, true);
      // Across hosts there are no wake hints now: delivery waits for the
      // long-poll timeout, but still comes.
      const waiting2 = waitForMessage(b, cursor, 'via host 2', BASE2, 20000);
      await sleep(300);
      const via = await send(a, cid, 'via host 2');
      sentKeys.push(via.client_id);
      const w2 = await waiting2;
      // The message just sent (not an earlier one), after the first in b's log.
      assert.equal(w2.event.message.client_id, via.client_id);
      assert.equal(w2.event.message.id, via.id);
      assert.equal(w2.event.message.seq, via.seq);
      assert.ok(w2.event.seq > w.event.seq, `event seq ${w2.event.seq} after ${w.event.seq}`);
    } finally {
      stack('mc-start');
    }
    // Everything sent while memcached was down is in the log, once, in order.
    const r = await poll(b, cursor, { timeout: 0 });
    for (const e of r.body.events) if (e.type === 'message.new') got.push(e);
    const keys = got.map((e) => e.message.client_id);
    assert.deepEqual(keys, sentKeys);
    const seqs = got.map((e) => e.message.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
    // And once memcached is back, cross-host wake-ups are prompt again.
    await sleep(3000);
    const since = await head(b);
    const waiting = waitForMessage(b, since, 'after', BASE2, 30000);
    await sleep(300);
    const t0 = Date.now();
    await send(a, cid, 'after');
    await waiting;
    assert.ok(Date.now() - t0 < 1000, 'prompt again after memcached is back');
    stack('web-stop', 'second');
  });
});
