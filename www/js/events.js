// The real-time event stream: Server-Sent Events with a single-use ticket,
// falling back to long-poll when SSE does not work. Events are applied in seq
// order, at most once; the cursor is kept in memory and in sessionStorage so a
// reload or reconnect resumes exactly where it left off.
import * as api from './api.js';

const TYPES = [
  'message.new', 'message.edited', 'message.deleted', 'reaction.added', 'reaction.removed',
  'receipt', 'typing', 'presence', 'conversation.created', 'conversation.updated',
  'member.added', 'member.removed', 'member.updated', 'profile.updated',
];
const POLL_TIMEOUT = 25;
// Silence after which a connection counts as dead though it never said so
// (a laptop that slept, a network that changed): the stream's heartbeat
// comes at most 15 s apart, a long-poll answers within its timeout.
const SSE_SILENCE_MS = 40000;
const POLL_GRACE_MS = 15000;
const TICKET_TIMEOUT_MS = 15000;
const SSE_RETRY_AFTER_MS = 5 * 60 * 1000;

export class EventStream {
  constructor({ userId, onEvent, onResync, onStatus, onLoggedOut }) {
    this.key = 'messenger.cursor.' + userId;
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.onStatus = onStatus;
    this.onLoggedOut = onLoggedOut;
    this.cursor = null;
    this.lastSeq = 0;
    try {
      const saved = JSON.parse(sessionStorage.getItem(this.key) || 'null');
      if (saved && typeof saved.cursor === 'string') { this.cursor = saved.cursor; this.lastSeq = saved.seq || 0; }
    } catch { /* ignore a corrupt entry */ }
    this.mode = typeof EventSource === 'function' ? 'sse' : 'poll';
    this.sseFailures = 0;
    this.sseOpenedAt = 0;
    this.pollSince = 0;
    this.stopped = true;
    this.status = 'connecting';
    this.backoff = 0;
    this.wakeUp = null;
    this.resyncOnPrime = false;
    this.onOnline = () => this.reconnectNow();
  }

  setStatus(s) {
    if (s === this.status) return;
    this.status = s;
    this.onStatus(s, this.mode);
  }

  saveCursor(cursor) {
    if (cursor == null) return;
    this.cursor = String(cursor);
    try { sessionStorage.setItem(this.key, JSON.stringify({ cursor: this.cursor, seq: this.lastSeq })); } catch { /* quota */ }
  }

  // Makes sure there is a cursor (the head of the log when starting fresh).
  // Call before loading state, so nothing between the load and the stream is missed.
  async prime() {
    if (this.cursor) return;
    const r = await api.get('/events', { query: { timeout: 0 } });
    this.lastSeq = 0;
    this.saveCursor(r.next);
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    this.run();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    this.abortCurrent();
    if (this.wakeUp) this.wakeUp();
  }

  abortCurrent() {
    if (this.es) { this.es.close(); this.es = null; }
    if (this.finishSse) this.finishSse('closed');
    if (this.pollAbort) { this.pollAbort.abort(); this.pollAbort = null; }
  }

  // After going back online, do not wait for the backoff or a dead socket.
  reconnectNow() {
    if (this.stopped) return;
    this.backoff = 0;
    this.abortCurrent();
    if (this.wakeUp) this.wakeUp();
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() { clearTimeout(t); resolve(); }
      this.wakeUp = () => { this.wakeUp = null; done(); };
    });
  }

  deliver(events, next) {
    const list = [...(events || [])].sort((a, b) => a.seq - b.seq);
    for (const ev of list) {
      if (typeof ev.seq === 'number' && ev.seq <= this.lastSeq) continue;
      if (typeof ev.seq === 'number') this.lastSeq = ev.seq;
      try { this.onEvent(ev); } catch (e) { console.error('event handler failed', ev.type, e); }
    }
    this.saveCursor(next);
  }

  async run() {
    while (!this.stopped) {
      try {
        if (!this.cursor) await this.prime();
        // Cleared only once the reload worked: a failure leaves it set,
        // so the next round reloads again instead of going on with the
        // events of the expired gap unseen.
        if (this.resyncOnPrime) { await this.onResync(); this.resyncOnPrime = false; }
        if (this.mode === 'poll' && typeof EventSource === 'function' && Date.now() - this.pollSince > SSE_RETRY_AFTER_MS) {
          this.mode = 'sse';
          this.sseFailures = 0;
        }
        if (this.mode === 'sse') {
          const outcome = await this.runSse();
          if (this.stopped) break;
          // Until a stream opens again, not live (the banner waits 2 s, so
          // a quick reconnect shows nothing).
          this.setStatus('connecting');
          if (outcome === 'failed') {
            // The stream never opened: find out why with one plain request
            // (it reports an expired cursor as 410), and after two such
            // failures in a row use long-poll for a while.
            this.sseFailures++;
            if (this.sseFailures >= 2) { this.mode = 'poll'; this.pollSince = Date.now(); }
            await this.pollOnce(0);
          } else if (Date.now() - this.sseOpenedAt < 3000) {
            // A stream that ends right after opening: do not spin.
            await this.sleep(2000);
          }
        } else {
          await this.pollOnce(POLL_TIMEOUT);
        }
        this.backoff = 0;
      } catch (e) {
        if (this.stopped) break;
        if (e.name === 'AbortError') continue;
        if (e instanceof api.ApiError && (e.status === 410 || (e.status === 400 && e.code === 'invalid_cursor'))) {
          // The log no longer holds our position: take a new one, then
          // reload state from scratch (both retried until they work).
          this.cursor = null;
          this.lastSeq = 0;
          this.resyncOnPrime = true;
          continue;
        }
        if (e instanceof api.ApiError && e.status === 401) { this.stop(); this.onLoggedOut(e); break; }
        this.setStatus(navigator.onLine === false || e instanceof api.NetworkError ? 'offline' : 'connecting');
        this.backoff = Math.min(this.backoff ? this.backoff * 2 : 1000, 15000);
        await this.sleep(this.backoff * (0.75 + Math.random() * 0.5));
      }
    }
  }

  async pollOnce(timeout) {
    const query = { since: this.cursor, timeout };
    const asked = Date.now();
    // A poll silent past its timeout failed as the network does (offline
    // status, backoff), not as a deliberate reconnect.
    const r = await this.withDeadline(timeout * 1000 + POLL_GRACE_MS,
      (signal) => api.get('/events', { query, signal }));
    this.setStatus('live');
    this.deliver(r.events, r.next);
    // A server that waits less than asked (events_max_wait = 0) answers
    // an empty poll at once: not asked again in a tight loop. An empty
    // page with more to come (past events this reader is not shown) is
    // followed at once.
    if (timeout > 0 && !(r.events && r.events.length) && !r.has_more && Date.now() - asked < 1000) await this.sleep(1000);
  }

  // A request that fails as the network does (NetworkError) once ms have
  // passed without its answer, and that reconnectNow cuts short.
  async withDeadline(ms, ask) {
    const ac = new AbortController();
    this.pollAbort = ac;
    const dead = setTimeout(() => ac.abort(new api.NetworkError('no answer')), ms);
    try {
      return await ask(ac.signal);
    } finally {
      clearTimeout(dead);
      if (this.pollAbort === ac) this.pollAbort = null;
    }
  }

  // Resolves 'closed' when an open stream ends, 'failed' when it never opened.
  async runSse() {
    // The ticket's request has a deadline and is cut by reconnectNow, as a
    // poll is: one that hangs (a network gone quiet) held the stream back
    // with nothing shown.
    const t = await this.withDeadline(TICKET_TIMEOUT_MS, (signal) => api.post('/events/ticket', {}, { signal }));
    if (this.stopped) return 'closed';
    const qs = new URLSearchParams({ ticket: t.ticket });
    if (this.cursor) qs.set('since', this.cursor);
    return new Promise((resolve) => {
      const es = new EventSource(`${api.API}/events/stream?${qs}`);
      this.es = es;
      let opened = false;
      let heard = Date.now();
      const watch = setInterval(() => { if (Date.now() - heard > SSE_SILENCE_MS) finish(opened ? 'closed' : 'failed'); }, 5000);
      const finish = (how) => {
        if (this.finishSse !== finish) return;
        this.finishSse = null;
        clearInterval(watch);
        es.close();
        if (this.es === es) this.es = null;
        resolve(how);
      };
      this.finishSse = finish;
      es.onopen = () => { heard = Date.now(); opened = true; this.sseOpenedAt = Date.now(); this.sseFailures = 0; this.setStatus('live'); };
      // A position the server sent without an event (past events this
      // reader is not shown) comes with the next ping: kept, so a
      // reconnect does not read them again (or, after the log's retention,
      // start over).
      es.addEventListener('ping', (e) => { heard = Date.now(); if (e.lastEventId) this.saveCursor(e.lastEventId); });
      const handler = (e) => {
        heard = Date.now();
        let ev;
        try { ev = JSON.parse(e.data); } catch { return; }
        this.deliver([ev], e.lastEventId || null);
      };
      for (const type of TYPES) es.addEventListener(type, handler);
      es.onmessage = handler;
      // EventSource would retry by itself, but the ticket was single-use:
      // close it and start over with a fresh ticket and our own cursor.
      es.onerror = () => finish(opened ? 'closed' : 'failed');
    });
  }
}
