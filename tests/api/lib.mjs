// Shared helpers for the black-box API tests: an HTTP client (node:http, so
// tests control raw bodies, headers and the source address), users, and
// validation of every response against www/openapi.yaml.
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const BASE = process.env.MESSENGER_URL || 'http://127.0.0.1:8080';
export const API = '/api/v1';
// The test stack's memcached listens on a unix socket in its state directory.
export const MC_SOCKET = path.join(process.env.MESSENGER_VAR || path.join(ROOT, 'var/test'), 'memcached.sock');

// --- OpenAPI validation ---------------------------------------------------
const spec = YAML.parse(fs.readFileSync(path.join(ROOT, 'www/openapi.yaml'), 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, 'openapi');
const routes = Object.entries(spec.paths || {}).map(([tpl, ops]) => ({
  tpl,
  re: new RegExp('^' + tpl.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+') + '$'),
  ops,
}));
const validators = new Map();
function ptr(...parts) {
  return parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}
function validatorFor(ref) {
  let v = validators.get(ref);
  if (!v) {
    v = ajv.compile({ $ref: 'openapi#/' + ref });
    validators.set(ref, v);
  }
  return v;
}
export const seenOperations = new Set();
// With MESSENGER_OPS_DIR set (make test), each test file leaves the
// operations and statuses it saw there, for tests/api/coverage.mjs.
process.on('exit', () => {
  const dir = process.env.MESSENGER_OPS_DIR;
  if (dir && seenOperations.size) {
    fs.writeFileSync(path.join(dir, `seen-${process.pid}.txt`), [...seenOperations].join('\n') + '\n');
  }
});

// Checks a response against the spec: the route and method exist, the status
// is documented, the content type matches and the body fits the schema.
export function checkAgainstSpec(method, urlPath, res) {
  const p = urlPath.split('?')[0].slice(API.length) || '/';
  const route = routes.find((r) => r.re.test(p));
  if (!route) throw new Error(`OpenAPI: no path matches ${method} ${p}`);
  const m = method.toLowerCase();
  const op = route.ops[m];
  if (!op) throw new Error(`OpenAPI: ${route.tpl} has no ${method}`);
  const st = String(res.status);
  const key = op.responses[st] ? st : op.responses[st[0] + 'XX'] ? st[0] + 'XX' : op.responses.default ? 'default' : null;
  if (!key) throw new Error(`OpenAPI: ${method} ${route.tpl} does not document status ${st} (body: ${res.text.slice(0, 300)})`);
  seenOperations.add(`${method} ${route.tpl} ${st}`);
  const resp = op.responses[key].$ref ? resolve(op.responses[key].$ref) : op.responses[key];
  const ctype = (res.headers['content-type'] || '').split(';')[0].trim();
  if (!resp.content) {
    if (res.text.length && res.status !== 204) throw new Error(`OpenAPI: ${method} ${route.tpl} ${st} documents no body but got ${ctype}`);
    return;
  }
  const media = resp.content[ctype];
  if (!media) throw new Error(`OpenAPI: ${method} ${route.tpl} ${st} content type ${ctype} not documented (${Object.keys(resp.content)})`);
  if (!media.schema || ctype === 'text/event-stream') return;
  const base = op.responses[key].$ref
    ? op.responses[key].$ref.slice(2) + '/' + ptr('content', ctype, 'schema')
    : ptr('paths', route.tpl, m, 'responses', key, 'content', ctype, 'schema');
  const v = validatorFor(base);
  if (!v(res.body)) {
    throw new Error(`OpenAPI: ${method} ${route.tpl} ${st} body does not match schema: ` +
      ajv.errorsText(v.errors) + '\nbody: ' + res.text.slice(0, 500));
  }
}
function resolve(ref) {
  return ref.slice(2).split('/').reduce((o, k) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
}

// Validates one event (from long-poll or SSE) against components.schemas.Event.
export function validateEvent(ev) {
  const v = validatorFor('components/schemas/Event');
  if (!v(ev)) throw new Error('OpenAPI: event does not match Event schema: ' + ajv.errorsText(v.errors) + '\n' + JSON.stringify(ev).slice(0, 500));
}
export function validateSchema(name, value) {
  const v = validatorFor('components/schemas/' + name);
  if (!v(value)) throw new Error(`OpenAPI: value does not match ${name}: ` + ajv.errorsText(v.errors));
}

// --- HTTP ------------------------------------------------------------------
// Idle kept-alive connections are dropped after 20 s, before lighttpd drops
// them (server.max-keep-alive-idle = 30): one reused just as lighttpd closed
// it ended a request with 'socket hang up' (a test that had waited for a
// lock for about 30 s).
const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 20000 });

// api(method, path, opts) -> {status, headers, body, text}
//   opts.body: object (sent as JSON) or string/Buffer (sent raw)
//   opts.token, opts.headers, opts.localAddress, opts.contentType
//   opts.base: another server (e.g. a second web host) instead of BASE
//   opts.validate (default true): check against the OpenAPI document
// A 503 busy (the password hashing queue full: test files register and log
// in at the same moment) is asked again after its Retry-After, as a client
// should; every other answer is returned as it is.
export async function api(method, urlPath, opts = {}) {
  for (let tries = 0; ; tries++) {
    const r = await apiOnce(method, urlPath, opts);
    if (r.status !== 503 || r.body?.code !== 'busy' || tries >= 30) return r;
    await sleep(Number(r.headers['retry-after'] || 1) * 1000 * (0.5 + Math.random()));
  }
}

function apiOnce(method, urlPath, opts) {
  const full = urlPath.startsWith('/api/') || urlPath.startsWith('/') && !urlPath.startsWith(API) && opts.absolute ? urlPath : API + urlPath;
  const u = new URL((opts.base || BASE) + full);
  const headers = { ...(opts.headers || {}) };
  let data = null;
  if (opts.body !== undefined) {
    if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) data = Buffer.from(opts.body);
    else data = Buffer.from(JSON.stringify(opts.body));
    if (!('Content-Type' in headers)) headers['Content-Type'] = opts.contentType || 'application/json';
    headers['Content-Length'] = data.length;
  }
  if (opts.token) headers.Authorization = 'Bearer ' + opts.token;
  return new Promise((resolveP, reject) => {
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers,
      agent: opts.localAddress ? undefined : agent, localAddress: opts.localAddress,
      timeout: opts.timeoutMs || 60000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body = null;
        const ct = res.headers['content-type'] || '';
        if (ct.includes('json') && text.length) {
          try { body = JSON.parse(text); } catch { return reject(new Error(`bad JSON from ${method} ${full}: ${text.slice(0, 200)}`)); }
        }
        const out = { status: res.statusCode, headers: res.headers, body, text };
        if (opts.validate !== false) {
          try { checkAgainstSpec(method, full, out); } catch (e) { return reject(e); }
        }
        resolveP(out);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${full}`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

export function uniq(prefix = 'u') {
  return (prefix + randomBytes(5).toString('hex')).slice(0, 32);
}

// Registers a fresh user: {user, token, refresh, username, password, id}.
export async function registerUser(prefix = 'u', extra = {}) {
  const username = uniq(prefix);
  const password = 'pw-' + randomBytes(8).toString('hex');
  const r = await api('POST', '/auth/register', { body: { username, password, display_name: extra.display_name || username, ...extra } });
  if (r.status !== 201) throw new Error('register failed: ' + r.status + ' ' + r.text);
  return { user: r.body.user, id: r.body.user.id, token: r.body.access_token, refresh: r.body.refresh_token, username, password };
}

// Runs SQL against the test database (read-only checks that bad input changed nothing).
export function sql(query) {
  const sock = process.env.MESSENGER_DB_SOCKET;
  if (!sock) throw new Error('MESSENGER_DB_SOCKET is not set');
  const out = execFileSync('mariadb', ['--no-defaults', '-S', sock, '-uroot', '--batch', '--skip-column-names', 'messenger', '-e', query], { encoding: 'utf8' });
  return out.trim().split('\n').filter((l) => l.length).map((l) => l.split('\t'));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A refresh token's row key, as SQL (only its SHA-256 is stored).
export const tokenHashSql = (token) => `UNHEX(SHA2('${token}', 256))`;
// Moves a rotated refresh token's rotation back by `interval` (SQL, e.g.
// '1 MINUTE': past the moments in which the same client may use it again).
export function rotatedAgo(token, interval) {
  sql(`UPDATE refresh_tokens SET superseded_at = superseded_at - INTERVAL ${interval}
    WHERE token_hash = ${tokenHashSql(token)} AND superseded_at IS NOT NULL`);
}

// Waits until fn() (sync or async) is true, polling; never a fixed sleep.
export async function until(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(100);
  }
}

// One memcached text-protocol command on the test memcached; resolves its
// answer up to the line that ends it (null when memcached does not answer).
export function mcCommand(line, endsWith = /\r\n$/) {
  return new Promise((resolve) => {
    const s = net.connect(MC_SOCKET);
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      if (endsWith.test(buf)) { s.end(); resolve(buf); }
    });
    s.on('error', () => resolve(null));
    s.write(line + '\r\n');
  });
}

// memcached's stats as an object, or null when it is down.
export async function mcStats() {
  const out = await mcCommand('stats', /END\r\n$/);
  return out && Object.fromEntries(out.split('\r\n').filter((l) => l.startsWith('STAT ')).map((l) => l.split(' ').slice(1)));
}

// Runs fn while holding a lock shared by all test files (they run in
// parallel): tests that stop memcached or start a second host, and tests
// whose assertions need memcached steady, take the same lock so they never
// disturb each other. scripts/test.sh clears stale locks before a run.
export async function exclusive(name, fn) {
  const dir = path.join(process.env.MESSENGER_VAR || path.join(ROOT, 'var/test'), `lock-${name}`);
  for (;;) {
    try { fs.mkdirSync(dir); break; } catch (e) { if (e.code !== 'EEXIST') throw e; await sleep(100); }
  }
  try { return await fn(); } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}

// Asserts a problem+json error with the given status (and code, if given).
export function expectProblem(assert, res, status, code) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text.slice(0, 300)}`);
  assert.match(res.headers['content-type'] || '', /^application\/problem\+json/);
  assert.equal(res.body.status, status);
  if (code) assert.equal(res.body.code, code, `expected code ${code}, got ${res.body.code}`);
  assert.ok(res.headers['x-request-id'], 'X-Request-Id header');
}
