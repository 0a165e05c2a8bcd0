// Messages waiting to be sent. Each has a client_id chosen here, so sending
// the same item twice (a retry after a lost answer, a reload while offline,
// two tabs sending one item) gives the same one message. Kept in
// localStorage until acknowledged; the tabs of one user share the list:
// each writes its own items merged with the others' (none overwrites
// another's), and takes up items another tab stored.
import * as api from './api.js';
// Longest wait for a send's answer (the server answers after its commit,
// within milliseconds when it is well).
const SEND_TIMEOUT_MS = 20000;
// AbortSignal.timeout where there is one (not in Safari before 16).
function timeoutSignal(ms) {
  if (AbortSignal.timeout) return AbortSignal.timeout(ms);
  const c = new AbortController();
  setTimeout(() => c.abort(new DOMException('The send took too long.', 'TimeoutError')), ms);
  return c.signal;
}
// Acknowledged client_ids remembered (a resend of an older one the server
// answers with the message it has: never a second message).
const REMOVED_MAX = 5000;

export class Outbox {
  constructor(userId, { onChange, onSent, beforeSend }) {
    this.beforeSend = beforeSend || (() => Promise.resolve());
    this.key = 'messenger.outbox.' + userId;
    this.onChange = onChange;
    this.onSent = onSent;
    this.items = [];
    try { this.items = JSON.parse(localStorage.getItem(this.key) || '[]'); } catch { this.items = []; }
    // Anything that was in flight when the page went away is pending again.
    for (const it of this.items) if (it.state === 'sending') it.state = 'pending';
    this.running = false;
    this.again = false;
    this.retryTimer = null;
    this.failures = 0;
    this.removed = new Set();   // client_ids this tab saw acknowledged or discarded
    // client_ids in the stored list as this tab last read or wrote it: one
    // that was there and is gone was sent or deleted by another tab.
    this.seen = new Set(this.items.map((i) => i.client_id));
    this.onOnline = () => this.kick();
    window.addEventListener('online', this.onOnline);
    this.onStorage = (e) => { if (e.key === this.key) this.adopt(); };
    window.addEventListener('storage', this.onStorage);
  }

  dispose() {
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('storage', this.onStorage);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.disposed = true;
  }

  stored() {
    try { return JSON.parse(localStorage.getItem(this.key) || '[]'); } catch { return []; }
  }

  save() {
    // Nothing of a signed-out (or deleted) account is written back.
    if (this.disposed) return;
    const mine = new Set(this.items.map((i) => i.client_id));
    const others = this.stored().filter((s) => !mine.has(s.client_id) && !this.removed.has(s.client_id));
    const all = [...this.items, ...others];
    try {
      localStorage.setItem(this.key, JSON.stringify(all));
      this.seen = new Set(all.map((i) => i.client_id));
    } catch { /* quota: keep in memory */ }
  }

  // Items another tab stored (it may close before sending them), and items
  // another tab sent or deleted: gone here too (not one being sent here
  // now, whose answer settles it; not one this tab could not store).
  adopt() {
    const convs = new Set();
    const stored = this.stored();
    const now = new Set(stored.map((s) => s.client_id));
    for (const it of this.items) {
      if (now.has(it.client_id) || !this.seen.has(it.client_id) || it.state === 'sending') continue;
      this.removed.add(it.client_id);
      convs.add(it.conversation_id);
    }
    if (convs.size) this.items = this.items.filter((i) => !this.removed.has(i.client_id));
    this.seen = now;
    let added = false;
    for (const s of stored) {
      if (this.has(s.client_id) || this.removed.has(s.client_id)) continue;
      this.items.push({ ...s, state: s.state === 'failed' ? 'failed' : 'pending' });
      convs.add(s.conversation_id);
      added = true;
    }
    if (convs.size === 0) return;
    for (const c of convs) this.onChange(c);
    if (added) this.kick();
  }

  changed(convId) {
    this.save();
    this.onChange(convId);
  }

  forConv(convId) { return this.items.filter((i) => i.conversation_id === convId); }
  has(clientId) { return this.items.some((i) => i.client_id === clientId); }

  add(convId, body, replyTo) {
    const item = {
      client_id: api.newClientId(), conversation_id: convId, body,
      reply_to: replyTo || null, created_at: new Date().toISOString(), state: 'pending',
    };
    this.items.push(item);
    this.changed(convId);
    this.kick();
    return item;
  }

  // The server has the message (its answer or its message.new event arrived).
  acknowledged(clientId) {
    this.removed.add(clientId);
    // The newest few thousand are enough to tell a stored copy (another
    // tab's) from a new message; older ones go.
    if (this.removed.size > REMOVED_MAX) this.removed.delete(this.removed.values().next().value);
    const it = this.items.find((i) => i.client_id === clientId);
    if (!it) {
      if (this.stored().some((s) => s.client_id === clientId)) this.save();
      return;
    }
    this.items = this.items.filter((i) => i !== it);
    this.changed(it.conversation_id);
  }

  discard(clientId) { this.acknowledged(clientId); }

  retry(clientId) {
    const it = this.items.find((i) => i.client_id === clientId);
    if (!it) return;
    it.state = 'pending';
    delete it.error;
    this.changed(it.conversation_id);
    this.kick();
  }

  kick() {
    if (this.disposed) return;
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
    if (this.running) { this.again = true; return; }
    this.drain();
  }

  async drain() {
    this.running = true;
    try {
      do {
        this.again = false;
        for (;;) {
          const it = this.items.find((i) => i.state === 'pending');
          if (!it || this.disposed) break;
          it.state = 'sending';
          const body = { client_id: it.client_id, kind: 'text', body: it.body };
          if (it.reply_to) body.reply_to = it.reply_to;
          try {
            await this.beforeSend();
            // A send that hangs (a connection that died without a word)
            // is given up and tried again: its client_id makes the
            // retry find the first if that one was stored.
            const msg = await api.post(`/conversations/${it.conversation_id}/messages`, body,
              { signal: timeoutSignal(SEND_TIMEOUT_MS) });
            this.failures = 0;
            this.onSent(msg);
            this.acknowledged(it.client_id);
          } catch (e) {
            const transient = e instanceof api.NetworkError || !(e instanceof api.ApiError) ||
              e.status >= 500 || e.status === 429 || e.status === 401;
            if (transient) {
              it.state = 'pending';
              this.save();
              this.failures++;
              if (!(e instanceof api.ApiError && e.status === 401)) {
                const wait = Math.min(30000, 1000 * 2 ** Math.min(this.failures - 1, 5));
                this.retryTimer = setTimeout(() => this.kick(), wait);
              }
              return;
            }
            it.state = 'failed';
            it.error = api.friendlyError(e);
            this.changed(it.conversation_id);
          }
        }
      } while (this.again);
    } finally {
      this.running = false;
    }
  }
}
