// The REST client. The access token lives in memory and in this tab's
// sessionStorage (so a reload does not need a refresh: a reload in the
// middle of one would present the rotated token again, which the server
// takes for a replay and ends the session). The refresh token is in an
// HttpOnly cookie that only the auth routes receive (login asks for it with
// refresh_cookie), so no script on the page can read it; localStorage keeps
// only a flag that there is a session, so a new tab stays logged in. A 401
// triggers one refresh (single-flight, and serialised across tabs with the
// Web Locks API so two tabs never present the same refresh token twice) and
// one retry. Only the server's refusal of the refresh token signs out; a
// refresh that fails for another reason (the server restarting, busy)
// counts as offline.

export const API = '/api/v1';
const SESSION_KEY = 'messenger.session';
// Where earlier versions kept the refresh token itself: moved into the
// cookie at the first refresh.
const OLD_RT_KEY = 'messenger.refresh_token';
const AT_KEY = 'messenger.access_token';
// Set from logout until the server has ended the session: the cookie,
// which script cannot delete, must not sign the next person in.
const LOGOUT_KEY = 'messenger.logout_pending';
const DEVICE_KEY = 'messenger.device_name';

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.code = problem && problem.code;
    this.problem = problem || {};
  }
}
// The request never reached the server (offline, DNS, connection reset).
export class NetworkError extends Error {}

// The account this tab shows (kept with the access token, so a reload
// knows it too). A refresh that comes back as another one (the user logged
// out and someone logged in, in another tab) reloads the tab, which then
// shows the new account.
let tabUser = null;
let accessToken = restoreAccessToken();
let refreshing = null;

function restoreAccessToken() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(AT_KEY) || 'null');
    // Kept a minute short of its expiry, and only with a session.
    if (saved && saved.t && saved.exp - 60000 > Date.now() && hasSession()) {
      tabUser = saved.u ?? null;
      return saved.t;
    }
  } catch { /* unreadable: refresh instead */ }
  return null;
}
let loggedOutHandler = () => {};

export function onLoggedOut(fn) { loggedOutHandler = fn; }
export function hasSession() {
  return !localStorage.getItem(LOGOUT_KEY) && !!(localStorage.getItem(SESSION_KEY) || localStorage.getItem(OLD_RT_KEY));
}
export function accessTokenForTests() { return accessToken; }


// Another account signed in (in another tab) while this tab showed the one
// before: until the page has started over as it, nothing more is asked as
// either (what was written for the first must not go out as the second).
let switching = false;
function storeTokens(r) {
  const changed = tabUser !== null && r.user && r.user.id !== tabUser;
  if (r.user) tabUser = r.user.id;
  if (changed) { switching = true; setTimeout(() => location.reload(), 0); }
  accessToken = r.access_token;
  localStorage.setItem(SESSION_KEY, String(r.session_id || 1));
  localStorage.removeItem(OLD_RT_KEY);
  sessionStorage.setItem(AT_KEY, JSON.stringify({ t: r.access_token, exp: Date.now() + (r.expires_in || 0) * 1000, u: tabUser }));
}
function forgetAccessToken() {
  accessToken = null;
  sessionStorage.removeItem(AT_KEY);
}
// Bumped when this tab's session ends (sign-out, or the server refused the
// refresh token): a request of the session before that is still on its way
// ends as aborted, so its answer is never taken for the next account's
// (and it is not sent again with the next account's token).
let session = 0;
function sessionEnded() {
  const e = new Error('the session this was asked for has ended');
  e.name = 'AbortError';
  return e;
}
export function clearTokens() {
  session++;
  forgetAccessToken();
  tabUser = null;
  localStorage.removeItem(SESSION_KEY);
  localStorage.removeItem(OLD_RT_KEY);
}

export function deviceName() {
  let d = localStorage.getItem(DEVICE_KEY);
  if (!d) {
    const ua = navigator.userAgent;
    const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom/.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
    const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
    d = os ? `${browser} on ${os}` : browser;
    localStorage.setItem(DEVICE_KEY, d);
  }
  return d;
}

async function rawFetch(method, path, { body, signal, token, keepalive } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch(API + path, {
      method, headers, signal, keepalive, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new NetworkError(e.message || 'network error');
  }
  let data = null;
  const ct = res.headers.get('content-type') || '';
  if (res.status !== 204 && ct.includes('json')) {
    try { data = await res.json(); } catch (e) {
      if (e.name === 'AbortError') throw e;
      if (res.ok) throw new NetworkError('truncated response');
    }
  }
  return { status: res.status, ok: res.ok, data, headers: res.headers };
}

async function refreshNow() {
  const run = async () => {
    for (let tries = 0; ; tries++) {
      if (!hasSession()) throw new ApiError(401, { code: 'no_session', detail: 'Not logged in.' });
      const mark = localStorage.getItem(SESSION_KEY);
      // The cookie goes along by itself; an old stored token moves into it.
      const old = localStorage.getItem(OLD_RT_KEY);
      const body = old ? { refresh_token: old, refresh_cookie: true } : {};
      const r = await rawFetch('POST', '/auth/refresh', { body });
      if (r.ok) { storeTokens(r.data); return; }
      if (r.status === 401 || r.status === 400) {
        // Another tab logged in meanwhile: its cookie is ours now. (With
        // Web Locks a login cannot come between; without them it can.)
        if (localStorage.getItem(SESSION_KEY) !== mark && tries === 0) continue;
        clearTokens();
        throw new ApiError(r.status, r.data);
      }
      // 5xx, 429 or a proxy's error page: the token may still be good;
      // keep it and try again later, as when offline.
      throw new NetworkError(`refresh failed (${r.status})`);
    }
  };
  return withAuthLock(run);
}

// Refreshes, logins and logouts take turns across this browser's tabs:
// a refresh token is presented once, and a cookie set by one is never
// cleared by another's late answer.
function withAuthLock(fn) {
  if (navigator.locks && navigator.locks.request) return navigator.locks.request('messenger-refresh', fn);
  return fn();
}

// Single-flight: every caller that hit a 401 waits for the same refresh.
export function refresh() {
  if (!refreshing) refreshing = refreshNow().finally(() => { refreshing = null; });
  return refreshing;
}

export async function request(method, path, { body, query, signal, auth = true, keepalive } = {}) {
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') qs.set(k, v);
    const s = qs.toString();
    if (s) path += (path.includes('?') ? '&' : '?') + s;
  }
  const mine = session;
  if (auth && !accessToken) await ensureAuth();
  if (auth && switching) throw new NetworkError('another account signed in');
  if (auth && session !== mine) throw sessionEnded();
  const sent = accessToken;
  let r = await rawFetch(method, path, { body, signal, keepalive, token: auth ? sent : null });
  if (auth && session !== mine) throw sessionEnded();
  if (r.status === 401 && auth) {
    try {
      // Another request may have refreshed while this one was in flight.
      if (accessToken === sent) await refresh();
    } catch (e) {
      if (e instanceof ApiError) loggedOutHandler(e);
      throw e;
    }
    // The refresh came back as another account (signed in in another
    // tab): what this tab asked as the first is not asked as the second.
    // The page starts over as that account (storeTokens).
    if (switching) throw new NetworkError('another account signed in');
    if (session !== mine) throw sessionEnded();
    r = await rawFetch(method, path, { body, signal, keepalive, token: accessToken });
    if (session !== mine) throw sessionEnded();
    if (r.status === 401) { forgetAccessToken(); loggedOutHandler(); }
  }
  if (!r.ok) throw new ApiError(r.status, r.data);
  return r.data;
}

async function ensureAuth() {
  try { await refresh(); } catch (e) {
    if (e instanceof ApiError) loggedOutHandler(e);
    throw e;
  }
}

export const get = (p, o) => request('GET', p, o);
export const post = (p, body, o = {}) => request('POST', p, { ...o, body: body === undefined ? {} : body });
export const patch = (p, body, o = {}) => request('PATCH', p, { ...o, body });
export const put = (p, o = {}) => request('PUT', p, o);
export const del = (p, body, o = {}) => request('DELETE', p, { ...o, body });

// Login and registration: a new session, its refresh token in the cookie.
function signIn(path, body) {
  return withAuthLock(async () => {
    await endPendingLogout();
    const r = await rawFetch('POST', path, { body: { ...body, device_name: deviceName(), refresh_cookie: true } });
    if (!r.ok) throw new ApiError(r.status, r.data);
    localStorage.removeItem(LOGOUT_KEY);
    storeTokens(r.data);
    return r.data.user;
  });
}

export function login(username, password) {
  return signIn('/auth/login', { username, password });
}

export function register(username, password, displayName) {
  return signIn('/auth/register', displayName ? { username, password, display_name: displayName } : { username, password });
}

// Logs out here at once; the server ends the session with the cookie
// (no access token needed), now or, when that fails (offline), at the next
// start or login.
export function logout() {
  return withAuthLock(async () => {
    if (hasSession()) localStorage.setItem(LOGOUT_KEY, '1');
    const token = accessToken;
    clearTokens();
    await endPendingLogout(token);
  });
}

// For callers that do not hold the lock (start, back online): a late
// cookie-only logout must not end a session another tab just logged in.
export function finishPendingLogout() {
  if (!localStorage.getItem(LOGOUT_KEY)) return Promise.resolve();
  return withAuthLock(() => endPendingLogout());
}

async function endPendingLogout(token) {
  if (!localStorage.getItem(LOGOUT_KEY)) return;
  try {
    let r = token ? await rawFetch('POST', '/auth/logout', { body: {}, token }) : null;
    if (!r || r.status === 401) r = await rawFetch('POST', '/auth/logout', { body: {} });
    // 204: ended (or nothing left to end); 401: no cookie left to end.
    if (r.status === 204 || r.status === 401) localStorage.removeItem(LOGOUT_KEY);
  } catch { /* offline: tried again later */ }
}

export function friendlyError(e) {
  if (e instanceof NetworkError) return 'You appear to be offline. Check your connection and try again.';
  if (e instanceof ApiError) {
    if (e.status === 429) return 'Too many attempts. Please wait a moment and try again.';
    return e.problem.detail || e.problem.title || `Something went wrong (${e.status}).`;
  }
  return 'Something went wrong.';
}

// A client_id for idempotent sends: 32 chars of [0-9a-f].
export function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID().replace(/-/g, '');
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}
