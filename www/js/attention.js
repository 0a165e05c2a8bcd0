// Which of this browser's tabs of the app (signed in as the same user) is
// the one to notify: none while any of them is in use (a message that
// comes while the user reads another tab is no news), else only one of
// them (the one with the smallest id among those alive), so two tabs in
// the background do not both alert. Tabs tell each other over a
// BroadcastChannel when they gain or lose the user's attention, every 10 s
// while they live, and when they go; one not heard of for 25 s is gone.
import { attentive } from './views/common.js';

const BEAT_MS = 10000;
const GONE_MS = 25000;

export function startAttention(userId) {
  if (typeof BroadcastChannel !== 'function') return { shouldNotify: () => !attentive(), stop() {} };
  const id = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const others = new Map();   // tab id -> { attentive, at }
  const ch = new BroadcastChannel('messenger-attention');
  const say = (kind) => ch.postMessage({ kind, id, user: userId, attentive: attentive() });
  ch.onmessage = (e) => {
    const m = e.data;
    if (!m || m.user !== userId || m.id === id) return;
    if (m.kind === 'gone') { others.delete(m.id); return; }
    const known = others.has(m.id);
    others.set(m.id, { attentive: !!m.attentive, at: Date.now() });
    // A tab that just started learns of this one at once.
    if (m.kind === 'hello' && !known) say('here');
  };
  const changed = () => say('here');
  const gone = () => say('gone');
  const events = [['focus', window], ['blur', window], ['visibilitychange', document], ['pagehide', window]];
  for (const [ev, target] of events) target.addEventListener(ev, ev === 'pagehide' ? gone : changed);
  const beat = setInterval(changed, BEAT_MS);
  say('hello');
  return {
    shouldNotify() {
      if (attentive()) return false;
      const now = Date.now();
      for (const [tab, o] of others) {
        if (now - o.at > GONE_MS) { others.delete(tab); continue; }
        if (o.attentive) return false;
      }
      return [...others.keys()].every((tab) => id < tab);
    },
    stop() {
      clearInterval(beat);
      for (const [ev, target] of events) target.removeEventListener(ev, ev === 'pagehide' ? gone : changed);
      gone();
      ch.close();
    },
  };
}
