// Helpers for the browser tests: Debian's Chromium driven by playwright-core,
// fresh users through the API, screenshots under tests/output/screenshots/.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const BASE = process.env.MESSENGER_URL || 'http://127.0.0.1:8080';
export const SHOTS = path.join(ROOT, 'tests/output/screenshots');
fs.mkdirSync(SHOTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

// A browser context with its own storage (one "device"); collects console
// errors and CSP violations so tests can assert there were none.
export async function newPage(browser, { width = 1280, height = 800, touch = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, baseURL: BASE, hasTouch: touch, isMobile: touch });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|ERR_INTERNET_DISCONNECTED|net::ERR_/.test(m.text())) page.errors.push('console: ' + m.text());
    if (/Content Security Policy/i.test(m.text())) page.errors.push('csp: ' + m.text());
  });
  // The last API answers and console lines, for the message of a failure.
  page.recent = [];
  const note = (line) => { page.recent.push(line); if (page.recent.length > 40) page.recent.shift(); };
  page.on('response', (r) => { if (r.url().includes('/api/')) note(`${r.status()} ${r.request().method()} ${r.url().replace(BASE, '')}`); });
  page.on('requestfailed', (r) => note(`failed ${r.method()} ${r.url().replace(BASE, '')}: ${r.failure()?.errorText}`));
  page.on('console', (m) => note(`console ${m.type()}: ${m.text()}`));
  page.setDefaultTimeout(15000);
  return { context, page };
}

// Waits for locator; on a timeout keeps a screenshot (failure-NAME.png) and
// fails with what the page last asked the API and logged.
export async function waitOrExplain(page, locator, name) {
  try {
    await locator.waitFor();
  } catch (e) {
    await page.screenshot({ path: path.join(SHOTS, `failure-${name}.png`) }).catch(() => {});
    throw new Error(`${e.message}\nlast API answers and console lines:\n  ${(page.recent || []).join('\n  ')}`);
  }
}

export async function api(method, p, { token, body } = {}) {
  const res = await fetch(BASE + '/api/v1' + p, {
    method,
    headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...(token ? { Authorization: 'Bearer ' + token } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 200)}`);
  return data;
}

// Makes a rotated refresh token look rotated a minute ago, past the moments
// in which the same client may use it again (refresh_reuse_grace_seconds).
export function rotatedLongAgo(token) {
  const sock = process.env.MESSENGER_DB_SOCKET;
  if (!sock) throw new Error('MESSENGER_DB_SOCKET is not set');
  execFileSync('mariadb', ['--no-defaults', '-S', sock, '-uroot', 'messenger', '-e',
    `UPDATE refresh_tokens SET superseded_at = superseded_at - INTERVAL 1 MINUTE
     WHERE token_hash = UNHEX(SHA2('${token}', 256)) AND superseded_at IS NOT NULL`]);
}

export function uniqName(prefix) {
  return (prefix + randomBytes(4).toString('hex')).slice(0, 32);
}

// Registers through the API: {id, username, password, display_name, token}.
export async function makeUser(prefix, displayName) {
  const username = uniqName(prefix);
  const password = 'pw-' + randomBytes(8).toString('hex');
  let r;
  for (let tries = 0; ; tries++) {
    try {
      r = await api('POST', '/auth/register', { body: { username, password, display_name: displayName || username } });
      break;
    } catch (e) {
      // 503 busy (the password hashing queue is full): retry, as a client should.
      if (!/: 503 .*"busy"/.test(e.message) || tries >= 30) throw e;
      await new Promise((res) => setTimeout(res, 500 + Math.random() * 1000));
    }
  }
  return { id: r.user.id, username, password, display_name: r.user.display_name, token: r.access_token, refresh: r.refresh_token };
}

// Opens the app already signed in as `user`, the way a returning visitor
// arrives: with the refresh cookie (HttpOnly, set at an earlier login) and
// the app's note that there is a session, so no login form (and no login
// rate limit spent). Each refresh token works once: a second device for the
// same user gets its own via the API. opts: width/height, beforeLoad(page)
// (runs before the app loads: routes that fail its first requests).
export async function signedIn(browser, user, opts = {}) {
  const { context, page } = await newPage(browser, opts);
  let refresh = user.refresh;
  if (user.refreshUsed) {
    const r = await api('POST', '/auth/login', { body: { username: user.username, password: user.password, device_name: 'second device' } });
    refresh = r.refresh_token;
  }
  user.refreshUsed = true;
  // Moved into the cookie, as a browser's login would have it.
  const res = await fetch(BASE + '/api/v1/auth/refresh', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: refresh, refresh_cookie: true }),
  });
  const cookie = (res.headers.getSetCookie() || []).find((c) => c.startsWith('messenger_refresh='));
  if (!res.ok || !cookie) throw new Error(`refresh into a cookie: ${res.status} ${await res.text()}`);
  const value = cookie.split(';')[0].slice('messenger_refresh='.length);
  await context.addCookies([{ name: 'messenger_refresh', value, domain: new URL(BASE).hostname, path: '/api/v1/auth', httpOnly: true, sameSite: 'Strict' }]);
  await page.goto('/favicon.svg');
  await page.evaluate(() => localStorage.setItem('messenger.session', '1'));
  if (opts.beforeLoad) await opts.beforeLoad(page);
  await page.goto('/');
  await page.getByRole('heading', { name: 'Chats' }).waitFor();
  return { context, page };
}

// Clicks a conversation in the list by its title.
export async function openConversation(page, title) {
  await page.locator('.conv-item', { has: page.locator('.conv-title', { hasText: title }) }).click();
  await waitOrExplain(page, page.getByLabel('Message', { exact: true }), 'open-conversation');
}
export function conversationItem(page, title) {
  return page.locator('.conv-item', { has: page.locator('.conv-title', { hasText: title }) });
}

// Logs in through the form.
export async function loginUI(page, user) {
  await page.goto('/');
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByRole('heading', { name: 'Chats' }).waitFor();
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

// Opens a direct chat with `other` via the "New message" dialog.
export async function startDirect(page, other) {
  await page.getByRole('button', { name: 'New message' }).click();
  await page.getByLabel('Search people').fill(other.username);
  await page.getByRole('button', { name: new RegExp(`@${other.username}`) }).click();
  await page.getByLabel('Message', { exact: true }).waitFor();
}

export async function send(page, text) {
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
}

// The message rows currently shown in the open chat.
export function messages(page) {
  return page.locator('.msg-list .msg');
}
export function messageByText(page, text) {
  return page.locator('.msg-list .msg', { has: page.locator('.text', { hasText: text }) });
}

// Waits until fn() (sync or async) is true, polling the page's state;
// never a fixed sleep.
export async function until(fn, what, timeout = 15000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The first request of method to a URL matching re fails as if the network
// dropped; later ones go through. Returns a function: how many failed.
export async function failFirst(page, re, method = 'GET') {
  let failed = 0;
  await page.route(re, (route) => {
    if (route.request().method() === method && failed === 0) { failed++; return route.abort('internetdisconnected'); }
    return route.continue();
  });
  return () => failed;
}

// Fails every request of method to re as if offline until the returned
// stop() (the app's own retries fail too, so what it shows meanwhile stays);
// count() says how many failed.
export async function failUntil(page, re, method = 'GET') {
  let failed = 0, failing = true;
  await page.route(re, (route) => {
    if (failing && route.request().method() === method) { failed++; return route.abort('internetdisconnected'); }
    return route.continue();
  });
  return { count: () => failed, stop: () => { failing = false; } };
}

// Holds the first answer to a GET of urlRe: the server reads it at once,
// the page gets it only after release(). failFirst: the very first request
// fails as if offline (the app must ask again). reads() counts answers read.
export async function holdFirstAnswer(page, urlRe, { failFirst = false } = {}) {
  let release, reads = 0, failed = 0;
  const held = new Promise((r) => { release = r; });
  await page.route(urlRe, async (route) => {
    if (route.request().method() !== 'GET') return route.continue();
    if (failFirst && failed++ === 0) return route.abort('internetdisconnected');
    const resp = await route.fetch();
    if (reads++ === 0) await held;
    return route.fulfill({ response: resp });
  });
  return { release, reads: () => reads };
}

// The first event of user's log after cursor that pred accepts (through the API).
export async function eventAfter(user, cursor, pred) {
  const r = await api('GET', `/events?since=${cursor}&timeout=0`, { token: user.token });
  return r.events.find(pred);
}

// Waits until the app signed in as user has applied its events up to seq
// (the stream position it saves in sessionStorage).
export function appReached(page, user, seq, what) {
  return until(() => page.evaluate(([uid, s]) => {
    const saved = JSON.parse(sessionStorage.getItem('messenger.cursor.' + uid) || 'null');
    return !!saved && saved.seq >= s;
  }, [user.id, seq]), what);
}
