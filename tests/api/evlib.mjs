// Helpers for the event tests: long-poll, an SSE client that validates every
// event, conversations and messages per the contract, and the stack scripts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { api, API, BASE, ROOT, checkAgainstSpec, validateEvent, exclusive } from './lib.mjs';

// GET /events; every event is validated against the Event schema.
export async function poll(user, since, opts = {}) {
  const q = new URLSearchParams();
  if (since !== undefined && since !== null) q.set('since', since);
  if (opts.timeout !== undefined) q.set('timeout', String(opts.timeout));
  if (opts.limit !== undefined) q.set('limit', String(opts.limit));
  const r = await api('GET', '/events?' + q, { token: user.token, timeoutMs: opts.timeoutMs || 75000, base: opts.base });
  if (r.status === 200) for (const e of r.body.events) validateEvent(e);
  return r;
}

// The head of a user's log (a client's starting cursor).
export async function head(user) {
  const r = await poll(user);
  if (r.status !== 200) throw new Error('head: ' + r.status + ' ' + r.text);
  return r.body.next;
}

// An SSE connection: events (validated), comments, and helpers to wait.
//   openStream({query, headers, base}) -> Promise<stream> once headers arrive
//   stream.status, stream.headers, stream.events, stream.comments, stream.ids,
//   stream.pings (when each heartbeat came), stream.pingIds (the ids some carry)
//   stream.until(pred, ms) resolves when pred(stream) holds, rejects on timeout
//   stream.close()
export function openStream({ query = '', headers = {}, base = BASE } = {}) {
  const u = new URL(base + API + '/events/stream' + (query ? '?' + query : ''));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'GET',
      headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const s = {
        status: res.statusCode, headers: res.headers, events: [], comments: [], ids: [], pings: [], pingIds: [], retry: null, lastId: null,
        ended: false, error: null, text: '', waiters: [],
        close() { req.destroy(); },
        until(pred, ms = 10000) {
          if (pred(s)) return Promise.resolve(s);
          if (s.ended || s.error) return Promise.reject(s.error || new Error('stream ended'));
          return new Promise((res2, rej2) => {
            const w = { pred, res: res2, rej: rej2 };
            w.timer = setTimeout(() => {
              s.waiters = s.waiters.filter((x) => x !== w);
              rej2(new Error(`stream: condition not met within ${ms} ms (${s.events.length} events)`));
            }, ms);
            s.waiters.push(w);
          });
        },
      };
      const check = () => {
        for (const w of [...s.waiters]) {
          if (w.pred(s)) { clearTimeout(w.timer); s.waiters = s.waiters.filter((x) => x !== w); w.res(s); }
        }
      };
      const fail = (e) => {
        s.error = s.error || e;
        for (const w of s.waiters) { clearTimeout(w.timer); w.rej(e); }
        s.waiters = [];
      };
      if (res.statusCode !== 200) {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          s.text = Buffer.concat(chunks).toString('utf8');
          try { s.body = JSON.parse(s.text); } catch { s.body = null; }
          try { checkAgainstSpec('GET', u.pathname + u.search, s); } catch (e) { return reject(e); }
          resolve(s);
        });
        return;
      }
      try { checkAgainstSpec('GET', u.pathname + u.search, { status: 200, headers: res.headers, text: '', body: null }); } catch (e) { return reject(e); }
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        // Blocks end with a blank line (RFC: "\n\n"; we only send \n).
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = { id: null, event: null, data: [] };
          let isEvent = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) { s.comments.push(line); continue; }
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (field === 'retry') s.retry = Number(value);
            else if (field === 'id') { ev.id = value; s.lastId = value; } else if (field === 'event') { ev.event = value; isEvent = true; } else if (field === 'data') { ev.data.push(value); isEvent = true; }
          }
          // A block with an id and no data moves EventSource's last event
          // id without an event (the stream's opening block does that).
          if (!isEvent) { check(); continue; }
          // The heartbeat: an event EventSource shows, outside the log. With
          // an id it carries the position past events this reader is not
          // shown, always after the last one it was.
          if (ev.event === 'ping') {
            try {
              const shown = s.events.length ? s.events[s.events.length - 1].seq : -1;
              if (ev.id !== null && !(Number(ev.id) > shown)) throw new Error(`a heartbeat's id ${ev.id} is not past the last event's ${shown}`);
              assert.deepEqual(JSON.parse(ev.data.join('\n')), {});
              s.pings.push(Date.now());
              if (ev.id !== null) s.pingIds.push(ev.id);
            } catch (e) { fail(e); }
            continue;
          }
          try {
            const obj = JSON.parse(ev.data.join('\n'));
            validateEvent(obj);
            if (ev.event !== obj.type) throw new Error(`SSE event field ${ev.event} != type ${obj.type}`);
            if (ev.id !== String(obj.seq)) throw new Error(`SSE id ${ev.id} != seq ${obj.seq}`);
            s.events.push(obj);
            s.ids.push(ev.id);
          } catch (e) { fail(e); }
        }
        check();
      });
      res.on('end', () => { s.ended = true; fail(new Error('stream ended')); });
      res.on('error', (e) => fail(e));
      resolve(s);
    });
    req.on('error', (e) => reject(e));
    req.end();
  });
}

// A ticket for EventSource-style authentication.
export async function ticket(user) {
  const r = await api('POST', '/events/ticket', { token: user.token, body: '', contentType: 'text/plain' });
  if (r.status !== 201) throw new Error('ticket: ' + r.status + ' ' + r.text);
  return r.body.ticket;
}

// --- conversations and messages (the contract's chat routes) ------------
export async function directConv(a, b) {
  const r = await api('POST', '/conversations', { token: a.token, body: { type: 'direct', member_ids: [b.id] } });
  if (r.status !== 201 && r.status !== 200) throw new Error('conversation: ' + r.status + ' ' + r.text);
  return r.body.id;
}

export async function groupConv(owner, others, title = 'group') {
  const r = await api('POST', '/conversations', { token: owner.token, body: { type: 'group', title, member_ids: others.map((u) => u.id) } });
  if (r.status !== 201) throw new Error('group: ' + r.status + ' ' + r.text);
  return r.body.id;
}

export function clientId() {
  return 'c' + randomBytes(8).toString('hex');
}

// Sends a text message, retrying (same client_id) on transport errors and
// 5xx, as a real client does: the send is idempotent.
export async function send(user, cid, body, cidKey = clientId(), opts = {}) {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await api('POST', `/conversations/${cid}/messages`, { token: user.token, body: { client_id: cidKey, body }, base: opts.base });
      if (r.status === 201 || r.status === 200) return r.body;
      if (r.status < 500 || attempt >= 5) throw new Error('send: ' + r.status + ' ' + r.text);
    } catch (e) {
      if (attempt >= 5 || String(e.message).startsWith('send:') || String(e.message).startsWith('OpenAPI')) throw e;
    }
    await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
  }
}

// --- the stack -------------------------------------------------------------
export function stack(...args) {
  return execFileSync(path.join(ROOT, 'scripts/stack.sh'), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
// The same without blocking this process: for a stack that reaches the
// database through a proxy this process serves.
function stackAsync(...args) {
  return new Promise((resolve, reject) => {
    execFile(path.join(ROOT, 'scripts/stack.sh'), args, { encoding: 'utf8' },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

// A proxy to the test stack's MariaDB on a socket of its own, whose traffic
// can be held (both ways, on every connection, new ones included) and let
// go again, or cut (connections closed, what they held lost, no new one
// until up() again).
export function dbProxy(socketPath) {
  const pipes = new Set();
  let stalled = false;
  let held = 0;	// chunks held so far, either way
  const server = net.createServer((c) => {
    const d = net.connect(process.env.MESSENGER_DB_SOCKET);
    const pair = { c, d, held: [] };
    pipes.add(pair);
    const pass = (to) => (chunk) => {
      if (!stalled) { to.write(chunk); return; }
      pair.held.push([to, chunk]);
      held++;
    };
    c.on('data', pass(d));
    d.on('data', pass(c));
    const end = () => { c.destroy(); d.destroy(); pipes.delete(pair); };
    c.on('error', end).on('close', end);
    d.on('error', end).on('close', end);
  });
  const down = () => new Promise((resolve) => {
    stalled = false;
    for (const p of pipes) { p.c.destroy(); p.d.destroy(); }
    pipes.clear();
    fs.rmSync(socketPath, { force: true });
    if (!server.listening) { resolve(); return; }
    server.close(() => resolve());
  });
  return {
    path: socketPath,
    up: () => new Promise((resolve, reject) => {
      fs.rmSync(socketPath, { force: true });
      server.once('error', reject);
      server.listen(socketPath, () => { server.off('error', reject); resolve(); });
    }),
    stall: () => { stalled = true; },
    held: () => held,
    release: () => {
      stalled = false;
      for (const p of pipes) {
        for (const [to, chunk] of p.held) to.write(chunk);
        p.held = [];
      }
    },
    down,
  };
}

// Runs fn(proxy) with a second web instance of the test stack, NAME on
// port, that reaches MariaDB through a dbProxy (up at the start), with
// conf's lines added to its configuration; stops and removes it after.
// Under the lock of the tests that start a second host: its appearing rings
// every waiter of the others.
export function withProxiedInstance(name, port, conf, fn) {
  return exclusive('memcached', async () => {
    const VAR = process.env.MESSENGER_VAR;
    const proxy = dbProxy(path.join(VAR, `${name}-dbproxy.sock`));
    const local = path.join(VAR, `${name}.local.conf`);
    try {
      await proxy.up();
      fs.writeFileSync(local, `db_socket = ${proxy.path}\n${conf}`);
      // Not blocking: this process serves the proxy the instance's start
      // already uses.
      await stackAsync('web-start', name, String(port));
      return await fn(proxy);
    } finally {
      // The proxy first: an instance stuck on held traffic stops at once.
      await proxy.down();
      await stackAsync('web-stop', name).catch(() => { /* already gone */ });
      fs.rmSync(local, { force: true });
    }
  });
}

// Runs the sweeper once with the test stack's configuration (env overrides
// any key as MESSENGER_<KEY>).
const sweeperBin = () => path.join(process.env.MESSENGER_BIN || path.join(ROOT, 'build/release'), 'cron/sweeper');
const sweeperEnv = (env) => ({ ...process.env, MESSENGER_CONF: path.join(process.env.MESSENGER_VAR, 'main.conf'), ...env });
export function runSweeper(env = {}) {
  return execFileSync(sweeperBin(), [], { encoding: 'utf8', env: sweeperEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
}
// The sweeper in the background: resolves with its exit status.
export function spawnSweeper(env = {}) {
  const run = spawn(sweeperBin(), [], { env: sweeperEnv(env), stdio: 'ignore' });
  return { run, exited: new Promise((resolve) => run.on('exit', resolve)) };
}

// Straight to events.fcgi over its FastCGI socket, as lighttpd talks to it:
// for what lighttpd would hide (a client that resets, one that stops
// reading: lighttpd buffers megabytes for it first).
export const EVENTS_SOCKET = path.join(process.env.MESSENGER_VAR || path.join(ROOT, 'var/test'), 'main.events.sock-0');

function fcgiRecord(type, content) {
  const pad = (8 - (content.length % 8)) % 8;
  const h = Buffer.alloc(8);
  h[0] = 1; // version
  h[1] = type;
  h.writeUInt16BE(1, 2); // request id
  h.writeUInt16BE(content.length, 4);
  h[6] = pad;
  return Buffer.concat([h, content, Buffer.alloc(pad)]);
}

function fcgiLength(n) {
  if (n < 128) return Buffer.from([n]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

// A whole FastCGI GET request for API + route (params: more CGI variables).
export function fcgiRequest(route, query, params = {}) {
  const all = {
    REQUEST_METHOD: 'GET', REQUEST_URI: `${API}${route}${query ? '?' + query : ''}`, QUERY_STRING: query || '',
    SERVER_PROTOCOL: 'HTTP/1.1', REMOTE_ADDR: '127.0.0.1', ...params,
  };
  const pairs = Buffer.concat(Object.entries(all).map(([k, v]) => Buffer.concat([
    fcgiLength(Buffer.byteLength(k)), fcgiLength(Buffer.byteLength(v)), Buffer.from(k), Buffer.from(v)])));
  return Buffer.concat([
    fcgiRecord(1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])), // BEGIN_REQUEST: responder, no keep-alive
    fcgiRecord(4, pairs), fcgiRecord(4, Buffer.alloc(0)), // PARAMS
    fcgiRecord(5, Buffer.alloc(0)), // STDIN: empty
  ]);
}
