// The production TLS block of lighttpd.conf, uncommented as an operator
// would (with a throwaway certificate and high ports): pages over https
// keep their security headers and gain HSTS, plain http sends browsers to
// https, and the API answers over TLS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { ROOT, BASE } from './lib.mjs';

const DIR = path.join(process.env.MESSENGER_VAR, `tls-${process.pid}`);
const PLAIN = Number(new URL(BASE).port) + 41;
const TLS = Number(new URL(BASE).port) + 43;
const PID = path.join(DIR, 'tls.lighttpd.pid');

after(() => {
  try { process.kill(Number(fs.readFileSync(PID, 'utf8')), 'SIGTERM'); } catch { /* not started */ }
  fs.rmSync(DIR, { recursive: true, force: true });
});

// lighttpd.conf with its TLS block uncommented, pointing at our certificate.
function tlsConf() {
  const conf = fs.readFileSync(path.join(ROOT, 'lighttpd.conf'), 'utf8');
  const start = conf.indexOf('# server.modules += ( "mod_openssl", "mod_redirect" )');
  const end = conf.indexOf('#\n# Behind a load balancer', start);
  assert.ok(start > 0 && end > start, 'lighttpd.conf has its TLS block');
  const block = conf.slice(start, end).split('\n')
    .filter((l) => !l.startsWith('#   #'))
    .map((l) => l.replace(/^# ?/, ''))
    .join('\n')
    .replace('":443"', `":${TLS}"`)
    .replace('/etc/letsencrypt/live/example.org/fullchain.pem', path.join(DIR, 'cert.pem'))
    .replace('/etc/letsencrypt/live/example.org/privkey.pem', path.join(DIR, 'key.pem'));
  assert.match(block, /ssl\.engine = "enable"/);
  return conf.slice(0, start) + block + conf.slice(end);
}

function get(mod, port, p) {
  return new Promise((resolve, reject) => {
    const req = mod.get({ host: '127.0.0.1', port, path: p, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

test('the TLS block of lighttpd.conf: https pages keep their security headers and gain HSTS; http redirects; the API answers', async () => {
  fs.mkdirSync(DIR, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-keyout', path.join(DIR, 'key.pem'), '-out', path.join(DIR, 'cert.pem')], { stdio: 'ignore' });
  fs.writeFileSync(path.join(DIR, 'lighttpd.conf'), tlsConf());
  execFileSync('lighttpd', ['-f', path.join(DIR, 'lighttpd.conf')], {
    env: {
      ...process.env, MESSENGER_ROOT: ROOT, MESSENGER_BIN: process.env.MESSENGER_BIN || path.join(ROOT, 'build/release'), MESSENGER_VAR: DIR, MESSENGER_NAME: 'tls', MESSENGER_PORT: String(PLAIN),
      MESSENGER_BIND: '127.0.0.1', MESSENGER_CONF: path.join(process.env.MESSENGER_VAR, 'main.conf'),
    },
  });
  let page;
  for (let i = 0; i < 50 && !page; i++) {
    page = await get(https, TLS, '/').catch(() => null);
    if (!page) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(page, 'lighttpd answers over TLS');
  assert.equal(page.status, 200);
  assert.match(page.body, /<html/i);
  assert.match(page.headers['content-security-policy'] || '', /default-src 'self'/, 'the page keeps its CSP');
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.match(page.headers['strict-transport-security'] || '', /max-age=\d+/, 'and gains HSTS');
  const health = await get(https, TLS, '/api/v1/health');
  assert.equal(health.status, 200, health.body);
  assert.equal(JSON.parse(health.body).status, 'ok');
  assert.match(health.headers['strict-transport-security'] || '', /max-age=\d+/);
  const plain = await get(http, PLAIN, '/some/where?x=1');
  assert.equal(plain.status, 301);
  assert.equal(plain.headers.location, `https://127.0.0.1:${PLAIN}/some/where?x=1`);
});
