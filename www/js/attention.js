// Which of this browser's tabs of the app (signed in as the same user) is
// the one to notify: none while any of them is in use (a message that
// comes while the user reads another tab is no news), else only one: the
// tab that holds a Web Lock named for the user (the others queue for it;
// it passes on when that tab goes), so two tabs in the background do not
// both alert. Tabs tell each other over a BroadcastChannel when they gain
// or lose the user's attention, and every 10 s while they have it (a tab in
// use is not throttled); a claim not renewed for 25 s has lapsed.
import { attentive } from './views/common.js';

const BEAT_MS = 10000;
const LAPSE_MS = 25000;

export function startAttention(userId) {
  if (typeof BroadcastChannel !== 'function') return { shouldNotify: () => !attentive(), stop() {} };
  const id = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const inUse = new Map();   // tab id -> when it last said it was in use
  const ch = new BroadcastChannel('messenger-attention');
  const say = (kind) => ch.postMessage({ kind, id, user: userId, attentive: attentive() });
  ch.onmessage = (e) => {
    const m = e.data;
    if (!m || m.user !== userId || m.id === id) return;
    if (m.kind !== 'gone' && m.attentive) inUse.set(m.id, Date.now()); else inUse.delete(m.id);
    // A tab that just started learns at once whether this one is in use.
    if (m.kind === 'hello') say('here');
  };
  // The notifying tab: the lock's holder (without Web Locks, every tab).
  let notifier = !navigator.locks;
  let release = null;
  let stopped = false;
  const queued = new AbortController();
  if (navigator.locks) {
    navigator.locks.request('messenger-notify-' + userId, { signal: queued.signal }, () => new Promise((resolve) => {
      if (stopped) { resolve(); return; }
      release = resolve;
      notifier = true;
    })).catch(() => { if (!stopped) notifier = true; });
  }
  const changed = () => say('here');
  const gone = () => say('gone');
  const events = [['focus', window], ['blur', window], ['visibilitychange', document], ['pagehide', window]];
  for (const [ev, target] of events) target.addEventListener(ev, ev === 'pagehide' ? gone : changed);
  const beat = setInterval(() => { if (attentive()) changed(); }, BEAT_MS);
  say('hello');
  return {
    shouldNotify() {
      if (attentive()) return false;
      const now = Date.now();
      for (const [tab, at] of inUse) {
        if (now - at > LAPSE_MS) inUse.delete(tab);
        else return false;
      }
      return notifier;
    },
    stop() {
      clearInterval(beat);
      for (const [ev, target] of events) target.removeEventListener(ev, ev === 'pagehide' ? gone : changed);
      gone();
      ch.close();
      stopped = true;
      notifier = false;
      if (release) release(); else queued.abort();
    },
  };
}
