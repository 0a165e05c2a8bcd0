// Client state: the signed-in user, a user cache, conversations, loaded
// message history, receipts, typing and presence. Events from the stream and
// answers from the API both go through the same idempotent merge functions, so
// replays and races (a send's answer vs. its message.new event) never
// duplicate anything.
import * as api from './api.js';

export const state = {
  me: null,
  users: new Map(),       // id -> User
  convs: new Map(),       // id -> Conversation
  convCursor: null,
  convsComplete: false,
  msgs: new Map(),        // conversation id -> {byId: Map, hasMore, loaded}
  receipts: new Map(),    // conversation id -> Map(user id -> {delivered, read})
  typing: new Map(),      // conversation id -> Map(user id -> expires at ms)
  presence: new Map(),    // user id -> {online, last_seen}
  activeId: null,
  connection: 'connecting',
  ready: false,           // initial load done
  outbox: null,           // set by app.js
  drafts: null,           // conversation id -> text not sent yet (see draft)
};

// ---- change notifications ------------------------------------------------
const listeners = new Map();
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic).delete(fn);
}
export function emit(topic, arg) {
  for (const fn of listeners.get(topic) || []) {
    try { fn(arg); } catch (e) { console.error(topic, e); }
  }
}
export function clearListeners() { listeners.clear(); }
export function reset() {
  state.me = null;
  state.users.clear();
  state.convs.clear();
  state.convCursor = null;
  state.convsComplete = false;
  state.msgs.clear();
  state.receipts.clear();
  state.typing.clear();
  state.presence.clear();
  state.activeId = null;
  state.ready = false;
  state.drafts = null;
  pendingNew.clear();
  memberChanges.clear();
  unsentReads.clear();
  readInFlight.clear();
  if (readRetryTimer) { clearTimeout(readRetryTimer); readRetryTimer = null; }
  readRetryDelay = 0;
  userFetches.clear();
  convFetches.clear();
  epoch++;
}
// Bumped by reset (a sign-out): answers and timers of the session before
// find it changed and do nothing.
let epoch = 0;

// ---- drafts ----------------------------------------------------------------
// What was typed and not sent, per conversation: kept in localStorage (per
// account; app.js forgets it at sign-out), so a reload or another tab keeps
// it, and shown in the list.
// Other tabs write there too: a write changes this conversation's entry in
// what is stored now (not in this tab's copy, which would bring back a
// draft another tab has sent, or drop one it has typed), and another tab's
// write is read again ('storage').
export const draftsKey = (userId) => 'messenger.drafts.' + userId;
function storedDrafts() {
  const d = new Map();
  if (state.me) {
    try {
      for (const [id, text] of Object.entries(JSON.parse(localStorage.getItem(draftsKey(state.me.id)) || '{}'))) {
        if (typeof text === 'string' && text.trim()) d.set(Number(id), text);
      }
    } catch { /* unreadable: none */ }
  }
  return d;
}
function drafts() {
  if (!state.drafts) state.drafts = storedDrafts();
  return state.drafts;
}
export function draft(convId) { return drafts().get(convId) || ''; }
export function setDraft(convId, text) {
  const had = drafts().get(convId) || '';
  const now = text && text.trim() ? text : '';
  if (had === now) return;
  const d = state.me ? storedDrafts() : new Map(drafts());
  if (now) d.set(convId, now); else d.delete(convId);
  state.drafts = d;
  if (state.me) {
    try { localStorage.setItem(draftsKey(state.me.id), JSON.stringify(Object.fromEntries(d))); } catch { /* quota: kept in memory */ }
  }
  emit('list');
}
window.addEventListener('storage', (e) => {
  if (!state.me || e.key !== draftsKey(state.me.id)) return;
  state.drafts = null;
  emit('list');
});

// ---- users ---------------------------------------------------------------
const userFetches = new Map();
export function putUser(u) {
  if (!u || u.id == null) return;
  state.users.set(u.id, { ...(state.users.get(u.id) || {}), ...u });
  if (state.me && u.id === state.me.id) state.me = { ...state.me, ...u };
}
export function userName(id) {
  const u = state.users.get(id);
  if (u) return u.display_name || u.username;
  fetchUser(id);
  return 'Someone';
}
export function fetchUser(id) {
  if (state.users.has(id) || userFetches.has(id)) return userFetches.get(id);
  const p = api.get(`/users/${id}`).then((u) => { putUser(u); emit('users'); return u; })
    .catch(() => null).finally(() => { if (userFetches.get(id) === p) userFetches.delete(id); });
  userFetches.set(id, p);
  return p;
}

// ---- conversations ---------------------------------------------------------
// New messages of conversations not held yet, until their snapshot arrives.
const pendingNew = new Map();

export function convTitle(c) {
  if (!c) return '';
  if (c.type === 'group') return c.title || 'Group';
  if (c.peer) return (state.users.get(c.peer.id) || c.peer).display_name || c.peer.username;
  return 'Conversation';
}

// Our direct conversation with userId (made on first use): it joins the
// list; resolves with its id.
export async function openDirect(userId) {
  const c = await api.post('/conversations', { type: 'direct', member_ids: [userId] });
  upsertConv(c);
  emit('list');
  return c.id;
}

// The server's receipt_fanout_max, learnt from the conversations it sends:
// receipt_events says whether a conversation of member_count members gets
// receipt events. 32 (the server's default) until one tells otherwise.
// Kept as a limit, not per conversation: member events change the counts
// here without a new snapshot.
let receiptLimit = 32;
export function receiptEventsMax() { return receiptLimit; }
function learnReceiptLimit(c) {
  if (typeof c.receipt_events !== 'boolean' || typeof c.member_count !== 'number') return;
  if (c.receipt_events && c.member_count > receiptLimit) receiptLimit = c.member_count;
  else if (!c.receipt_events && c.member_count <= receiptLimit) receiptLimit = c.member_count - 1;
}

export function upsertConv(c) {
  if (!c || c.id == null) return null;
  learnReceiptLimit(c);
  const old = state.convs.get(c.id);
  const merged = { ...(old || {}), ...c };
  if (!c.members && old && old.members) merged.members = old.members;
  // An older snapshot (an event replayed after a reload, an answer that
  // crossed newer events) never moves anything backwards: not the title,
  // not the counters, and not the unread count, which is only taken from a
  // snapshot at least as new as what we hold in both of its terms.
  if (old) {
    if ((old.updated_at || '') > (c.updated_at || '')) {
      merged.title = old.title;
      merged.closed = old.closed;
      merged.blocked = old.blocked;
      merged.avatar_media_id = old.avatar_media_id;
      merged.updated_at = old.updated_at;
    }
    const behind = (c.last_seq || 0) < (old.last_seq || 0) ||
      (c.last_read_seq || 0) < (old.last_read_seq || 0);
    if (behind && typeof old.unread_count === 'number') {
      // Its newer messages, if any, come as events (the stream started
      // before it was read) and are counted then, against our last_seq.
      merged.unread_count = old.unread_count;
      merged.last_seq = old.last_seq || 0;
      // Nor does it put back in the archive a chat a later message took out.
      if (old.archived_seq == null && c.archived_seq != null && (old.last_seq || 0) > c.archived_seq) merged.archived_seq = null;
    } else {
      merged.last_seq = Math.max(old.last_seq || 0, c.last_seq || 0);
    }
    merged.last_read_seq = Math.max(old.last_read_seq || 0, c.last_read_seq || 0);
    if (old.last_message && (!c.last_message || (c.last_message.seq || 0) < (old.last_message.seq || 0))) {
      merged.last_message = old.last_message;
    }
    if ((old.last_activity_at || '') > (c.last_activity_at || '')) merged.last_activity_at = old.last_activity_at;
  }
  if (c.peer) {
    putUser(c.peer);
    // Nobody sees presence across a block: what was shown goes, and comes
    // back once the chat opens again.
    if (merged.closed && state.presence.has(c.peer.id)) { state.presence.delete(c.peer.id); emit('presence', c.peer.id); }
    if (old && old.closed && merged.closed === false) fetchPresence(c.peer.id);
  }
  if (c.members) {
    for (const m of c.members) putUser(m.user);
    const r = receiptsFor(c.id);
    for (const m of c.members) bumpReceipt(r, m.user.id, m.delivered_seq, m.last_read_seq);
  }
  state.convs.set(c.id, merged);
  // New messages that arrived before we knew the conversation count now.
  const early = pendingNew.get(c.id);
  if (early) {
    pendingNew.delete(c.id);
    for (const msg of early.sort((a, b) => a.seq - b.seq)) countNew(msg);
  }
  return state.convs.get(c.id);
}

export function isMuted(c) {
  return !!(c && c.muted_until && new Date(c.muted_until).getTime() > Date.now());
}

// In my archive (a new message brings it back: applyEvent, as the server
// has it).
export function isArchived(c) {
  return !!(c && c.archived_seq != null);
}

// My list as the server lists it: pinned first, then by last activity; the
// archived ones left out unless asked for (search, forwarding).
export function sortedConvs({ archived = false } = {}) {
  return [...state.convs.values()].filter((c) => archived || !isArchived(c)).sort((a, b) => (b.pinned ? 1 : 0) - (a.pinned ? 1 : 0) ||
    (b.last_activity_at || '').localeCompare(a.last_activity_at || '') || b.id - a.id);
}

// My own marks on a conversation (PATCH /conversations/{id}: pinned,
// marked_unread, muted_until); the answer is the conversation as it is now.
export async function setMarks(convId, marks) {
  upsertConv(await api.patch(`/conversations/${convId}`, marks));
  emit('list'); emit('conv', convId);
}

export async function loadConversations(more = false) {
  if (more && state.convsComplete) return;
  const r = await api.get('/conversations', { query: { limit: 50, cursor: more ? state.convCursor : undefined } });
  for (const c of r.conversations) upsertConv(c);
  state.convCursor = r.next_cursor;
  state.convsComplete = !r.next_cursor;
  emit('list');
}

// The first page of conversations in place of everything held: after the
// event log lost our position, what we hold may be stale in ways no event
// will tell (a conversation left, presence changed). Nothing is dropped
// until the new page is in.
export async function reloadConversations() {
  const r = await api.get('/conversations', { query: { limit: 50 } });
  state.convs.clear();
  state.msgs.clear();
  state.receipts.clear();
  state.typing.clear();
  state.presence.clear();
  pendingNew.clear();
  memberChanges.clear();
  for (const c of r.conversations) upsertConv(c);
  state.convCursor = r.next_cursor;
  state.convsComplete = !r.next_cursor;
  emit('list');
  emit('presence');
}

const convFetches = new Map();
// Member events applied per conversation: a snapshot asked for before one
// of them may list who has left since (or miss who joined).
const memberChanges = new Map();
function memberChanged(id) { memberChanges.set(id, (memberChanges.get(id) || 0) + 1); }

export function fetchConv(id) {
  if (convFetches.has(id)) return convFetches.get(id);
  const p = (async () => {
    for (let tries = 0; ; tries++) {
      const before = memberChanges.get(id) || 0;
      const c = await api.get(`/conversations/${id}`);
      // A member change came while it was on its way: ask again.
      if ((memberChanges.get(id) || 0) !== before && tries < 3) continue;
      upsertConv(c);
      emit('list'); emit('conv', id); emit('chat', id);
      return state.convs.get(id);
    }
  })().finally(() => { if (convFetches.get(id) === p) convFetches.delete(id); });
  convFetches.set(id, p);
  return p;
}

// The unread count of a conversation once a read mark moved to the middle
// of what came, or an unread message went: the server's, from a snapshot
// (not counted here: the messages between may not all be held).
function recount(id) { fetchConv(id).catch(() => {}); }

export function removeConv(id) {
  state.convs.delete(id);
  pendingNew.delete(id);
  state.msgs.delete(id);
  state.receipts.delete(id);
  state.typing.delete(id);
  emit('list');
  emit('removed', id);
}

// ---- messages ----------------------------------------------------------------
export function msgState(convId) {
  let m = state.msgs.get(convId);
  if (!m) {
    m = { byId: new Map(), hasMore: true, loaded: false, loadingOlder: false, touched: null, missed: false,
      gap: null, early: null, late: null, lateReactions: null, loadingGap: false, runs: 0, quoted: null };
    state.msgs.set(convId, m);
  }
  return m;
}

// While the latest page is being fetched (m.touched set) events are applied
// already, and the messages they bring win over the page's copies: the page
// may have been read before their commit (a message sent meanwhile would
// otherwise never show). A reaction to a message not held yet asks for the
// page again.
function live(m) { return m && (m.loaded || m.touched); }
function touch(m, id) { if (m.touched) m.touched.add(id); }

// A chat left with more messages held than a few pages is let go of: the
// next visit loads its newest page again. Reading far back in chat after
// chat then holds (and draws) no more than that each.
const HELD_MAX = 200;
export function releaseHistory(convId) {
  const m = state.msgs.get(convId);
  if (m && m.byId.size > HELD_MAX) state.msgs.delete(convId);
}
export function sortedMessages(convId) {
  const m = state.msgs.get(convId);
  if (!m) return [];
  return [...m.byId.values()].sort((a, b) => a.seq - b.seq);
}

export function findMessage(convId, id) {
  const m = state.msgs.get(convId);
  return m ? m.byId.get(id) : undefined;
}

// Merges a message (from an answer or an event) by id.
export function putMessage(msg) {
  const c = state.convs.get(msg.conversation_id);
  if (c) {
    c.last_seq = Math.max(c.last_seq || 0, msg.seq);
    if (!c.last_message || c.last_message.seq <= msg.seq) c.last_message = msg;
    if ((c.last_activity_at || '') < msg.created_at) c.last_activity_at = msg.created_at;
    // The server moves the sender's read mark to their message (no
    // receipt tells of it): what came before it is read here too.
    if (state.me && msg.sender_id === state.me.id && msg.seq > (c.last_read_seq || 0)) {
      c.last_read_seq = msg.seq;
      if (msg.seq >= c.last_seq) c.unread_count = 0;
      else if (c.unread_count) recount(c.id);
    }
  }
  if (state.outbox && state.me && msg.sender_id === state.me.id) state.outbox.acknowledged(msg.client_id);
  // Whoever sends a message has everything before it (the server moves the
  // sender's read position without a separate receipt).
  if (msg.seq) bumpReceipt(receiptsFor(msg.conversation_id), msg.sender_id, msg.seq, msg.seq);
  // Kept for a chat whose history is loaded or loading, and for the open
  // one whatever its state (its history may have failed to load: what is
  // sent or comes meanwhile still shows, and the page merges with it).
  const open = state.activeId === msg.conversation_id;
  const m = open ? msgState(msg.conversation_id) : state.msgs.get(msg.conversation_id);
  if (!live(m) && !open) return;
  if (!adopt(m, msg)) return;
  touch(m, msg.id);
  m.byId.set(msg.id, mergeMessage(m.byId.get(msg.id), msg));
  // A chat not open goes on growing with what comes (a busy group visited
  // once, in a tab left open for days): past a few pages it is let go of,
  // as on leaving it, unless a page of it is on its way.
  if (!open && m.loaded && !m.loading && !m.loadingOlder && !m.loadingGap) releaseHistory(msg.conversation_id);
}

// The history held is one run of messages, the newest down to the oldest
// loaded (and, after a jump far back, a second run there with m.gap
// between them). A message from an event that is not held goes in only
// where it belongs to a run: an old message edited or deleted by someone,
// put in alone, would be where paging back starts from, and everything
// between would never load. Before the latest page has come, the page
// decides (loadLatestNow drops those older than it).
function adopt(m, msg) {
  if (m.byId.has(msg.id) || msg.seq == null) return true;
  if (!m.loaded) {
    (m.early || (m.early = new Set())).add(msg.id);
    return true;
  }
  const fits = !inGap(m, msg.seq) && (!m.hasMore || heldAtOrBelow(m, msg.seq));
  if (!fits && (m.loadingOlder || m.loadingGap)) {
    if (!m.late) m.late = new Map();
    m.late.set(msg.id, { ...(m.late.get(msg.id) || {}), ...msg });
  }
  return fits;
}

// Whether a message held is at or below seq (or none is held): stops at the
// first, so a new message (above them all) costs one look.
function heldAtOrBelow(m, seq) {
  let any = false;
  for (const x of m.byId.values()) {
    if (x.seq == null) continue;
    if (x.seq <= seq) return true;
    any = true;
  }
  return !any;
}

function oldestSeq(m) {
  let lo = null;
  for (const x of m.byId.values()) if (x.seq != null && (lo == null || x.seq < lo)) lo = x.seq;
  return lo;
}

// One load per conversation's message state at a time: a chat left and
// opened again while its page is on its way waits for that one (two would
// share m.touched). Kept on the state itself, so a resync, which replaces
// the state, starts a load of its own.
export function loadLatest(convId) {
  const m = msgState(convId);
  if (!m.loading) m.loading = loadLatestNow(convId, m).finally(() => { m.loading = null; });
  return m.loading;
}

async function loadLatestNow(convId, m) {
  for (let tries = 0; tries < 3; tries++) {
    m.touched = new Set();
    m.missed = false;
    let r;
    try {
      r = await api.get(`/conversations/${convId}/messages`, { query: { limit: 50 } });
    } catch (e) {
      m.touched = null;
      throw e;
    }
    for (const msg of r.messages) {
      if (!m.touched.has(msg.id)) m.byId.set(msg.id, { ...(m.byId.get(msg.id) || {}), ...msg });
    }
    for (const msg of r.messages) bumpReceipt(receiptsFor(convId), msg.sender_id, msg.seq, msg.seq);
    m.hasMore = r.has_more;
    // What events brought meanwhile and is older than the page stands
    // alone (see adopt).
    if (m.early && r.has_more && r.messages.length) {
      const lo = r.messages[0].seq;
      for (const id of m.early) {
        const x = m.byId.get(id);
        if (x && x.seq < lo) m.byId.delete(id);
      }
    }
    m.early = null;
    const c = state.convs.get(convId);
    const last = r.messages[r.messages.length - 1];
    if (c && last) {
      c.last_seq = Math.max(c.last_seq || 0, last.seq);
      if (!c.last_message || c.last_message.seq <= last.seq) c.last_message = last;
    }
    const again = m.missed;
    m.touched = null;
    m.loaded = true;
    if (!again) break;
  }
  emit('chat', convId);
}

// limit: 50 as the list scrolls back; 100 (the API's most) when jumping
// to an old message.
export async function loadOlder(convId, limit = 50) {
  const m = msgState(convId);
  if (!m.hasMore || m.loadingOlder) return false;
  const first = sortedMessages(convId)[0];
  if (!first) return false;
  const done = olderStart(m);
  const runs = m.runs;
  try {
    const r = await api.get(`/conversations/${convId}/messages`, { query: { before: first.seq, limit } });
    // A jump meanwhile (loadAround) has let go of the run this page is for.
    if (m.runs !== runs) return false;
    for (const msg of r.messages) if (!m.byId.has(msg.id) && !inGap(m, msg.seq)) m.byId.set(msg.id, msg);
    m.hasMore = r.has_more && r.messages.length > 0;
  } finally {
    done();
  }
  emit('chat', convId);
  return true;
}

// One older page (loadOlder, loadAround) at a time: marked in the same
// turn as the check, so two that waited together do not both start.
function olderStart(m) {
  m.loadingOlder = true;
  let done;
  m.olderDone = new Promise((r) => { done = r; });
  return () => { m.loadingOlder = false; done(); settleLate(m); };
}

// Resolves once no older page is on its way (loadOlder, loadAround).
export async function olderSettled(convId) {
  const m = msgState(convId);
  while (m.loadingOlder) await m.olderDone;
}

// Whether seq lies in the gap after a jump (loadAround): not loaded.
export function inGap(m, seq) { return !!(m.gap && seq > m.gap.lo && seq < m.gap.hi); }

// Loads what it takes for seq to be held: one page around it when it is far
// older than those held or in the gap (loadAround), else older pages down
// to it (a few at most). Throws what a load throws.
export async function reach(convId, seq, farBack) {
  const m = msgState(convId);
  const first = sortedMessages(convId)[0];
  if (inGap(m, seq) || (first && first.seq - seq > farBack)) {
    await loadAround(convId, seq);
    return;
  }
  while (m.hasMore) {
    await olderSettled(convId);
    const top = sortedMessages(convId)[0];
    if (!top || top.seq <= seq) break;
    if (!await loadOlder(convId, 100) && !m.loadingOlder) break;
  }
}

// Edits and deletions (and reactions) that came for messages not held while
// a page was on its way (adopt keeps them in m.late, applyReaction in
// m.lateReactions): the page may have been read before
// them, so they go over its copies, as the events of loadLatest do.
function settleLate(m) {
  for (const [id, x] of m.late || []) {
    const held = m.byId.get(id);
    if (held) m.byId.set(id, { ...held, ...x });
  }
  // Reactions come as changes: each is applied again, in order (adding or
  // removing one person's reaction twice is the same as once).
  for (const [ev, added] of m.lateReactions || []) if (m.byId.has(ev.message_id)) applyReaction(ev, added);
  if (!m.loadingOlder && !m.loadingGap) { m.late = null; m.lateReactions = null; }
}

// A jump to a message far older than those held: a page from a little
// before it, as a run of its own (an earlier such run is let go). The
// messages between it and the newest run stay unloaded (m.gap) until the
// reader scrolls to them (loadGap), so the jump costs one page however far
// back it goes.
export async function loadAround(convId, seq) {
  const m = msgState(convId);
  while (m.loadingOlder) await m.olderDone;
  const done = olderStart(m);
  m.runs++;
  try {
    const from = Math.max(0, seq - 20);
    const r = await api.get(`/conversations/${convId}/messages`, { query: { after: from, limit: 100 } });
    if (m.gap) {
      for (const [id, x] of m.byId) if (x.seq != null && x.seq <= m.gap.lo) m.byId.delete(id);
      m.gap = null;
    }
    const tail = oldestSeq(m);
    let top = from, reached = tail == null;
    for (const msg of r.messages) {
      if (!reached && msg.seq >= tail) reached = true;
      if (!m.byId.has(msg.id)) m.byId.set(msg.id, msg);
      if (!reached) top = msg.seq;
    }
    if (!reached && r.has_more && top + 1 < tail) m.gap = { lo: top, hi: tail };
    m.hasMore = from > 0;
  } finally {
    done();
  }
  emit('chat', convId);
  return true;
}

// One message by id (a quoted one, to learn where it sits).
export function fetchMessage(convId, id) {
  return api.get(`/conversations/${convId}/messages/${id}`);
}

// The message a reply quotes, when it is not among those loaded (a reply to
// an old one): asked for once and kept beside the history (m.quoted), where
// edits and deletions reach it. null until it has come. A few are asked for
// at a time (a screen of replies to old messages is not a burst).
const QUOTED_AT_ONCE = 4;
const quotedWaiting = [];
let quotedRunning = 0;
export function quotedMessage(convId, id) {
  const m = msgState(convId);
  const held = m.byId.get(id);
  if (held) return held;
  if (!m.quoted) m.quoted = new Map();
  if (m.quoted.has(id)) return m.quoted.get(id);
  m.quoted.set(id, null);
  quotedWaiting.push({ convId, id, m, e: epoch });
  quotedNext();
  return null;
}

function quotedNext() {
  while (quotedRunning < QUOTED_AT_ONCE && quotedWaiting.length) {
    const { convId, id, m, e } = quotedWaiting.shift();
    if (e !== epoch || state.msgs.get(convId) !== m) continue;
    quotedRunning++;
    fetchMessage(convId, id).then((msg) => {
      if (e !== epoch || state.msgs.get(convId) !== m) return;
      m.quoted.set(id, msg);
      emit('chat', convId);
    }, (err) => {
      // Gone stays gone; otherwise it is asked for again a while later.
      if (err.status !== 404) setTimeout(() => { if (m.quoted.get(id) === null) m.quoted.delete(id); }, 30000);
    }).finally(() => { quotedRunning--; quotedNext(); });
  }
}

// The next page of the gap between a jump's run and the newest (loadAround):
// from the jump's side, or, for a reader coming up from the newest
// messages (fromBelow), from theirs, so that what loads goes in on the far
// side of the gap's row and the row moves away from the reader.
export async function loadGap(convId, fromBelow = false) {
  const m = msgState(convId);
  const g = m.gap;
  if (!g || m.loadingGap) return false;
  m.loadingGap = true;
  try {
    const query = fromBelow ? { before: g.hi, limit: 100 } : { after: g.lo, limit: 100 };
    const r = await api.get(`/conversations/${convId}/messages`, { query });
    if (m.gap !== g) return false;
    let lo = g.lo, hi = g.hi, reached = false;
    for (const msg of r.messages) {
      if (fromBelow ? msg.seq <= g.lo : msg.seq >= g.hi) reached = true;
      if (!m.byId.has(msg.id)) m.byId.set(msg.id, msg);
      if (fromBelow && msg.seq > g.lo) hi = Math.min(hi, msg.seq);
      if (!fromBelow && msg.seq < g.hi) lo = Math.max(lo, msg.seq);
    }
    m.gap = !reached && r.has_more && lo + 1 < hi ? { lo, hi } : null;
  } finally {
    m.loadingGap = false;
    settleLate(m);
  }
  emit('chat', convId);
  return true;
}

// A copy of a message held already, from an answer or an event: its
// reactions stay as the reaction events made them (an answer to a send,
// an edit or a reaction of ours was read before, or after, reactions whose
// events we apply in their order), unless it was deleted (which takes
// them away).
function mergeMessage(old, msg) {
  if (!old) return msg;
  const merged = { ...old, ...msg };
  if (!msg.deleted_at && old.reactions) merged.reactions = old.reactions;
  return merged;
}

function replaceMessage(msg) {
  const m = state.msgs.get(msg.conversation_id);
  if (live(m) && adopt(m, msg)) {
    touch(m, msg.id);
    m.byId.set(msg.id, mergeMessage(m.byId.get(msg.id), msg));
  }
  if (m && m.quoted && m.quoted.get(msg.id)) m.quoted.set(msg.id, { ...m.quoted.get(msg.id), ...msg });
  const c = state.convs.get(msg.conversation_id);
  if (c && c.last_message && c.last_message.id === msg.id) c.last_message = { ...c.last_message, ...msg };
  emit('chat', msg.conversation_id);
  emit('list');
}

export async function editMessage(convId, id, body) {
  replaceMessage(await api.patch(`/conversations/${convId}/messages/${id}`, { body }));
}
export async function deleteMessage(convId, id) {
  replaceMessage(await api.del(`/conversations/${convId}/messages/${id}`));
}
export async function toggleReaction(convId, id, emoji) {
  const msg = findMessage(convId, id);
  const mine = msg && (msg.reactions || []).some((r) => r.emoji === emoji && r.user_ids.includes(state.me.id));
  const path = `/conversations/${convId}/messages/${id}/reactions/${encodeURIComponent(emoji)}`;
  await (mine ? api.del(path) : api.put(path));
  // Our own change only: the answer's list may be older than others'
  // reactions whose events came meanwhile (or newer than ones still to
  // come, which then apply once more, harmlessly).
  applyReaction({ conversation_id: convId, message_id: id, emoji, user_id: state.me.id }, !mine);
}

function applyReaction(ev, added) {
  const m = state.msgs.get(ev.conversation_id);
  const msg = m && m.byId.get(ev.message_id);
  if (!msg) {
    if (m && m.touched) m.missed = true;
    // A page on its way may hold it as it was before (settleLate).
    if (m && (m.loadingOlder || m.loadingGap)) (m.lateReactions || (m.lateReactions = [])).push([ev, added]);
    return;
  }
  touch(m, msg.id);
  const reactions = (msg.reactions || []).map((r) => ({ ...r, user_ids: [...r.user_ids] }));
  let r = reactions.find((x) => x.emoji === ev.emoji);
  if (added) {
    if (!r) { r = { emoji: ev.emoji, count: 0, user_ids: [] }; reactions.push(r); }
    if (!r.user_ids.includes(ev.user_id)) r.user_ids.push(ev.user_id);
  } else if (r) {
    r.user_ids = r.user_ids.filter((u) => u !== ev.user_id);
  }
  for (const x of reactions) x.count = x.user_ids.length;
  m.byId.set(msg.id, { ...msg, reactions: reactions.filter((x) => x.count > 0) });
  emit('chat', ev.conversation_id);
}

// ---- receipts, reading --------------------------------------------------------
export function receiptsFor(convId) {
  let r = state.receipts.get(convId);
  if (!r) { r = new Map(); state.receipts.set(convId, r); }
  return r;
}
function bumpReceipt(r, userId, delivered, read) {
  const cur = r.get(userId) || { delivered: 0, read: 0 };
  cur.delivered = Math.max(cur.delivered, delivered || 0, read || 0);
  cur.read = Math.max(cur.read, read || 0);
  r.set(userId, cur);
}

// 'read' | 'delivered' | 'sent' for one of my messages, from the other members' receipts.
export function tickState(convId, seq) {
  const c = state.convs.get(convId);
  const r = state.receipts.get(convId);
  if (!c || !r || !state.me) return 'sent';
  let others = [...r.entries()].filter(([uid]) => uid !== state.me.id);
  if (c.members) {
    const ids = new Set(c.members.map((m) => m.user.id));
    others = others.filter(([uid]) => ids.has(uid));
  }
  if (!others.length) return 'sent';
  if (others.every(([, x]) => x.read >= seq)) return 'read';
  if (others.every(([, x]) => x.delivered >= seq)) return 'delivered';
  return 'sent';
}

// Each other member by how far one of my messages (seq) has reached them:
// read, delivered (not read yet), or not yet. The members as the details
// list them (fetched), else those receipts know of.
// Members who joined after the message was sent (at) are left out: their
// marks start at the conversation's end when they join.
export function reachOf(convId, seq, at = null) {
  const c = state.convs.get(convId);
  const r = state.receipts.get(convId) || new Map();
  const out = { read: [], delivered: [], waiting: [] };
  if (!c || !state.me) return out;
  const ids = c.members ? c.members.filter((m) => !at || !m.joined_at || m.joined_at <= at).map((m) => m.user.id) : [...r.keys()];
  for (const uid of ids) {
    if (uid === state.me.id) continue;
    const x = r.get(uid) || { delivered: 0, read: 0 };
    (x.read >= seq ? out.read : x.delivered >= seq ? out.delivered : out.waiting).push(uid);
  }
  return out;
}

// Who has read up to seq (for the "seen by" line in groups).
export function readers(convId, seq) {
  const r = state.receipts.get(convId);
  if (!r || !state.me) return [];
  return [...r.entries()].filter(([uid, x]) => uid !== state.me.id && x.read >= seq).map(([uid]) => uid);
}

const readInFlight = new Map();
// Read marks the server has not confirmed (conversation id -> seq): sent
// again after a backoff and whenever the connection comes back, so the
// others see "Read" and other devices drop the badge even after a blip.
const unsentReads = new Map();
let readRetryTimer = null;
let readRetryDelay = 0;
export function markRead(convId) {
  const c = state.convs.get(convId);
  if (!c) return;
  const seq = c.last_seq || 0;
  // A mark "unread" made by hand ends with a read, new messages or not.
  const marked = !!c.marked_unread;
  if (seq <= (c.last_read_seq || 0) && !c.unread_count && !marked) return;
  if ((readInFlight.get(convId) || 0) >= seq && !marked) return;
  c.last_read_seq = Math.max(c.last_read_seq || 0, seq);
  c.unread_count = 0;
  c.marked_unread = false;
  emit('list');
  sendRead(convId, seq);
}
function sendRead(convId, seq) {
  const mine = epoch;
  readInFlight.set(convId, seq);
  api.post(`/conversations/${convId}/read`, { seq }).then((r) => {
    if (mine !== epoch) return;
    if ((unsentReads.get(convId) || 0) <= seq) unsentReads.delete(convId);
    readRetryDelay = 0;
    const cc = state.convs.get(convId);
    // Taken unless this tab holds messages after the mark (counted as
    // they came, which the answer may have been read before).
    if (cc && r && typeof r.unread_count === 'number' && (r.last_read_seq || 0) >= (cc.last_read_seq || 0) &&
        (r.last_read_seq || 0) >= (cc.last_seq || 0)) {
      cc.unread_count = r.unread_count;
      emit('list');
    }
  }).catch((e) => {
    if (mine !== epoch) return;
    // A refusal (not a member any more, a mark past the end) stays one;
    // the network, a busy or unavailable server and a lapsed token do not.
    const lasting = e instanceof api.ApiError && e.status >= 400 && e.status < 500 &&
      e.status !== 401 && e.status !== 408 && e.status !== 429;
    if (lasting) { if ((unsentReads.get(convId) || 0) <= seq) unsentReads.delete(convId); return; }
    if ((unsentReads.get(convId) || 0) < seq) unsentReads.set(convId, seq);
    if (!readRetryTimer) {
      readRetryDelay = Math.min(readRetryDelay ? readRetryDelay * 2 : 2000, 60000);
      readRetryTimer = setTimeout(() => { readRetryTimer = null; flushReads(); }, readRetryDelay);
    }
  }).finally(() => { if (mine === epoch && readInFlight.get(convId) === seq) readInFlight.delete(convId); });
}
// Sends the read marks still unconfirmed.
export function flushReads() {
  for (const [convId, seq] of unsentReads) {
    if ((readInFlight.get(convId) || 0) < seq) sendRead(convId, seq);
  }
}

// ---- typing ------------------------------------------------------------------
let typingTimer = null;
export function typingUsers(convId) {
  const t = state.typing.get(convId);
  if (!t) return [];
  const now = Date.now();
  return [...t.entries()].filter(([, exp]) => exp > now).map(([uid]) => uid);
}
function sweepTyping() {
  typingTimer = null;
  const now = Date.now();
  let next = Infinity;
  for (const [cid, t] of state.typing) {
    let changed = false;
    for (const [uid, exp] of t) {
      if (exp <= now) { t.delete(uid); changed = true; } else next = Math.min(next, exp);
    }
    if (changed) emit('typing', cid);
  }
  if (next !== Infinity) typingTimer = setTimeout(sweepTyping, next - now + 20);
}
function setTyping(convId, userId, ms) {
  let t = state.typing.get(convId);
  if (!t) { t = new Map(); state.typing.set(convId, t); }
  if (ms > 0) t.set(userId, Date.now() + ms); else t.delete(userId);
  emit('typing', convId);
  if (typingTimer) clearTimeout(typingTimer);
  typingTimer = setTimeout(sweepTyping, 50);
}

const lastTypingSent = new Map();
export function sendTyping(convId) {
  const now = Date.now();
  if (now - (lastTypingSent.get(convId) || 0) < 3000) return;
  lastTypingSent.set(convId, now);
  const p = api.post(`/conversations/${convId}/typing`, {}).catch(() => {});
  typingInFlight = p;
  p.finally(() => { if (typingInFlight === p) typingInFlight = null; });
}
// A send waits (briefly) for a typing notice still on its way, so the others
// never see "typing…" arrive after the message itself.
let typingInFlight = null;
export function typingSettled() {
  if (!typingInFlight) return Promise.resolve();
  return Promise.race([typingInFlight, new Promise((r) => setTimeout(r, 1500))]);
}
export function typingSent(convId) { lastTypingSent.delete(convId); }

// ---- blocks ------------------------------------------------------------------
// Blocks (on) or unblocks a person; their direct chat, if there is one, is
// read again (it closes or opens; its event comes too, a moment later).
// Their presence is not shown while blocked (the server hides it).
export async function setBlocked(userId, on) {
  if (on) await api.put(`/me/blocks/${userId}`); else await api.del(`/me/blocks/${userId}`);
  if (on) { state.presence.delete(userId); emit('presence', userId); }
  const c = [...state.convs.values()].find((x) => x.type === 'direct' && x.peer && x.peer.id === userId);
  if (!c) return;
  // Asked afresh (not a read already on its way, which may predate the
  // change).
  try {
    upsertConv(await api.get(`/conversations/${c.id}`));
    emit('list'); emit('conv', c.id); emit('chat', c.id);
  } catch { /* its conversation.updated event comes all the same */ }
}

// ---- presence ----------------------------------------------------------------
export async function fetchPresence(userId) {
  try {
    const p = await api.get(`/users/${userId}/presence`);
    state.presence.set(userId, { online: p.online, last_seen: p.last_seen });
    emit('presence', userId);
  } catch { /* not visible to me */ }
}

// ---- search --------------------------------------------------------------------
// q as the API takes it (at most 256 characters); cursor: the next page's;
// convId: in that conversation only.
export function searchMessages(q, cursor = null, convId = null) {
  const query = { q: [...q].slice(0, 256).join(''), limit: 30 };
  if (cursor) query.cursor = cursor;
  if (convId != null) query.conversation_id = convId;
  return api.get('/search', { query });
}
export function searchUsers(q) {
  return api.get('/users', { query: { q, limit: 20 } }).then((r) => {
    for (const u of r.users) putUser(u);
    return r.users.filter((u) => !state.me || u.id !== state.me.id);
  });
}

// ---- events ----------------------------------------------------------------------
// Asks for the snapshot of a conversation that has messages waiting: again
// after a failure that may pass (offline, the server restarting); a
// refusal (no longer a member) drops them.
function fetchPending(id, attempt) {
  const mine = epoch;
  fetchConv(id).catch((e) => {
    if (mine !== epoch || !pendingNew.has(id)) return;
    if (e instanceof api.ApiError && e.status < 500 && e.status !== 429) { pendingNew.delete(id); return; }
    setTimeout(() => { if (mine === epoch && pendingNew.has(id)) fetchPending(id, attempt + 1); }, Math.min(1000 * 2 ** attempt, 30000));
  });
}

// A new message in a conversation we hold: the preview, the order and the
// unread count. Counted once: a replayed event is not newer than the
// snapshot we hold.
function countNew(msg) {
  const c0 = state.convs.get(msg.conversation_id);
  const before = c0 ? c0.last_seq || 0 : 0;
  putMessage(msg);
  const c = state.convs.get(msg.conversation_id);
  // (Lines of group activity are not counted, as the server does not.)
  if (c && state.me && msg.sender_id !== state.me.id && msg.kind !== 'system' && msg.seq > before && msg.seq > (c.last_read_seq || 0)) {
    if (!isBeingRead(msg.conversation_id)) c.unread_count = (c.unread_count || 0) + 1;
  }
}

export function applyEvent(ev) {
  const cid = ev.conversation_id;
  switch (ev.type) {
  case 'message.new': {
    const msg = ev.message;
    if (!msg) break;
    const id = msg.conversation_id;
    if (state.convs.has(id)) {
      countNew(msg);
    } else {
      // Not loaded yet (beyond the first page of the list): the snapshot
      // asked for now may have been read before this message, or a later
      // one, committed; they are counted against it when it arrives.
      putMessage(msg);
      // One request (and one retry chain) per conversation.
      if (!pendingNew.has(id)) {
        pendingNew.set(id, []);
        fetchPending(id, 0);
      }
      pendingNew.get(id).push(msg);
    }
    if (state.me && msg.sender_id !== state.me.id) setTyping(id, msg.sender_id, 0);
    // A message (not a line of group activity) takes the chat out of my archive.
    const held = state.convs.get(id);
    if (held && held.archived_seq != null && msg.kind !== 'system' && msg.seq > held.archived_seq) held.archived_seq = null;
    emit('list');
    emit('chat', msg.conversation_id);
    emit('incoming', msg);
    break;
  }
  case 'message.edited':
  case 'message.deleted': {
    const msg = ev.message;
    if (!msg) break;
    replaceMessage(msg);
    // An unread message deleted is no longer counted by the server.
    const c = state.convs.get(msg.conversation_id);
    if (ev.type === 'message.deleted' && c && c.unread_count && state.me && msg.sender_id !== state.me.id &&
        msg.kind !== 'system' && msg.seq > (c.last_read_seq || 0)) recount(c.id);
    break;
  }
  case 'reaction.added':
  case 'reaction.removed':
    applyReaction(ev, ev.type === 'reaction.added');
    if (ev.type === 'reaction.added' && state.me && ev.user_id !== state.me.id) emit('reacted', ev);
    break;
  case 'receipt': {
    bumpReceipt(receiptsFor(cid), ev.user_id, ev.delivered_seq, ev.read_seq);
    const c = state.convs.get(cid);
    if (c && state.me && ev.user_id === state.me.id && (ev.read_seq || 0) > (c.last_read_seq || 0)) {
      // Read on another device.
      c.last_read_seq = ev.read_seq;
      if (ev.read_seq >= (c.last_seq || 0)) c.unread_count = 0;
      else if (c.unread_count) recount(cid);
      emit('list');
    }
    emit('chat', cid);
    break;
  }
  case 'typing':
    if (state.me && ev.user_id !== state.me.id) setTyping(cid, ev.user_id, (ev.expires_in || 5) * 1000);
    break;
  case 'presence':
    state.presence.set(ev.user_id, { online: !!ev.online, last_seen: ev.last_seen || null });
    emit('presence', ev.user_id);
    break;
  case 'conversation.created':
  case 'conversation.updated':
    if (ev.conversation) {
      upsertConv(ev.conversation);
      emit('list'); emit('conv', ev.conversation.id); emit('chat', ev.conversation.id);
    } else if (cid) {
      fetchConv(cid).catch(() => {});
    }
    break;
  case 'member.added':
  case 'member.updated': {
    memberChanged(cid);
    const c = state.convs.get(cid);
    if (!c) { fetchConv(cid).catch(() => {}); break; }
    if (state.me && ev.user_id === state.me.id && ev.role) c.my_role = ev.role;
    if (c.members) {
      const m = c.members.find((x) => x.user.id === ev.user_id);
      if (m) { if (ev.role) m.role = ev.role; } else if (ev.type === 'member.added') {
        fetchConv(cid).catch(() => {});
      }
    } else if (ev.type === 'member.added') {
      // Only the list's snapshot is held, which may already count this
      // member (an event older than the snapshot): the server's count.
      fetchConv(cid).catch(() => {});
    }
    emit('conv', cid); emit('chat', cid); emit('list');
    break;
  }
  case 'member.removed': {
    memberChanged(cid);
    if (state.me && ev.user_id === state.me.id) { removeConv(cid); break; }
    const c = state.convs.get(cid);
    if (!c) break;
    if (c.members) {
      const before = c.members.length;
      c.members = c.members.filter((x) => x.user.id !== ev.user_id);
      if (c.members.length < before) c.member_count = c.members.length;
    } else {
      fetchConv(cid).catch(() => {});
    }
    const r = state.receipts.get(cid);
    if (r) r.delete(ev.user_id);
    emit('conv', cid); emit('chat', cid); emit('list');
    break;
  }
  case 'profile.updated':
    if (ev.user) {
      putUser(ev.user);
      emit('users');
      if (state.me && ev.user.id === state.me.id) emit('me');
    }
    break;
  default:
    break;
  }
}

// Set by the chat view: is this conversation on screen and being read right now?
let beingRead = () => false;
export function setReadingProbe(fn) { beingRead = fn; }
function isBeingRead(convId) { return beingRead(convId); }
