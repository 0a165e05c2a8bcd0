// Messages waiting to be sent. Each has a client_id chosen here, so sending
// the same item twice (a retry after a lost answer, a reload while offline)
// gives the same one message. Kept in localStorage until acknowledged.
import * as api from './api.js';

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
    this.onOnline = () => this.kick();
    window.addEventListener('online', this.onOnline);
  }

  dispose() {
    window.removeEventListener('online', this.onOnline);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.disposed = true;
  }

  save() {
    try { localStorage.setItem(this.key, JSON.stringify(this.items)); } catch { /* quota: keep in memory */ }
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
    const it = this.items.find((i) => i.client_id === clientId);
    if (!it) return;
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
            const msg = await api.post(`/conversations/${it.conversation_id}/messages`, body);
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
