// The conversation pane: header with presence, history with infinite scroll
// backwards, day separators, bubbles grouped by sender, replies, reactions,
// edits, tombstones, ticks, typing, and the composer (Enter sends, Shift+Enter
// adds a line; messages typed offline wait in the outbox).
import { h, icon, iconButton, clear, reconcile } from '../dom.js';
import { timeOfDay, fullTime, dayKey, dayLabel, lastSeen, plural } from '../format.js';
import * as store from '../store.js';
import { state, convTitle, userName } from '../store.js';
import * as api from '../api.js';
import { userAvatar, convAvatar, showMenu, menuItem, closeMenu, toast, confirmDialog, onLongPress, attentive, openDialog } from './common.js';

const QUICK = ['👍', '❤️', '😂', '😮', '😢', '🙏'];
// The reaction picker's choice (any other emoji can be typed there).
const MORE_EMOJI = ['😀', '😃', '😄', '😁', '😆', '😅', '🤣', '🙂', '😉', '😊', '😇', '🥰', '😍', '🤩', '😘', '😋',
  '😜', '🤪', '🤔', '🤨', '😐', '😏', '😒', '🙄', '😬', '😌', '😴', '😷', '🤯', '🥳', '😎', '🤓',
  '😕', '😟', '🙁', '😲', '😳', '🥺', '😭', '😱', '😤', '😡', '👏', '🙌', '👋', '🤝', '👌', '✌️',
  '🤞', '💪', '👀', '🔥', '✨', '🎉', '💯', '✅', '❌', '⭐', '💔', '💖', '🌹', '☕', '🍕', '🎂'];
// A finger, not a mouse: no hover, an on-screen keyboard.
const touchScreen = () => matchMedia('(pointer: coarse)').matches;
const MAX_BODY = 4000;
// Messages longer than this (UTF-16 units) show their first lines, with Read more.
const LONG_TEXT = 700;
const GROUP_GAP_MS = 5 * 60 * 1000;
// A jump to a message more than this many older than those loaded loads a
// page around it rather than every page between.
const JUMP_PAGE_BACK = 200;

// Message text with web links made clickable (text nodes only; http/https
// only, and "www." addresses, which open over https).
// A link ends at white space, quotes and angle brackets, CJK and full-width
// punctuation and an ellipsis; punctuation that ends a sentence after it is
// not part of it, nor a closing bracket it did not open (a link in
// parentheses), but a wiki's "Mercury_(planet)" keeps its own.
const URL_RE = /(?:\bhttps?:\/\/|(?<![\w.@/-])www\.)[^\s<>"'\u2026\u3000-\u303f\uff00-\uffef]+/g;
const count = (s, c) => s.split(c).length - 1;
function trimUrl(u) {
  for (;;) {
    const c = u[u.length - 1];
    if ('.,;:!?'.includes(c) || (c === ')' && count(u, '(') < count(u, ')')) ||
        (c === ']' && count(u, '[') < count(u, ']'))) u = u.slice(0, -1);
    else return u;
  }
}
function linkify(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    const url = trimUrl(m[0]);
    const www = url.startsWith('www.');
    // A host with a dot after "www." (www.example.org), not "www.x".
    if (www ? !/^www\.[^./:?#]+\.[^./:?#]/.test(url) : !/^https?:\/\/[^/]/.test(url)) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('a', { href: www ? 'https://' + url : url, target: '_blank', rel: 'noopener noreferrer nofollow' }, url));
    last = m.index + url.length;
  }
  out.push(text.slice(last));
  return out;
}

// One to three emoji and nothing else are shown large, without a bubble.
function isEmojiOnly(text) {
  if (!text || text.length > 40) return false;
  const t = text.trim();
  if (!/\p{Extended_Pictographic}/u.test(t)) return false;
  if (!/^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\uFE0F|\u200D|\u20E3|\s)+$/u.test(t)) return false;
  const seg = typeof Intl.Segmenter === 'function' ? [...new Intl.Segmenter().segment(t.replace(/\s+/g, ''))].length : 1;
  return seg <= 3;
}

export function createChat({ onBack, onInfo, onSearchIn }) {
  const root = h('main.main', { 'aria-label': 'Conversation' });
  let convId = null;
  let view = null;     // DOM of the open conversation
  let replyTo = null;  // message being replied to
  let editing = null;  // message being edited
  let rowCache = new Map();
  let forceBottom = false;
  let presenceTimer = null;
  let observer = null;
  let resizer = null;     // keeps a view at the newest there (build)
  let gapObserver = null;  // the row standing for messages not loaded after a jump
  let watchedGap = null;   // the row it watches
  let gapFromBelow = false; // the last page of the gap was loaded from below
  let unreadFrom = null;  // "New messages" goes above the first message after this seq
  // Set while open() finds the first unread message (its page may be slow
  // to come): until then the view is not "at the newest", and nothing is
  // marked read by what is drawn meanwhile.
  let positioning = null;
  let draftBeforeEdit = '';  // what the composer held when an edit began
  let loadFailed = null;     // {id, text}: the open chat's history could not be loaded
  let olderFailed = null;    // {id, text}: an earlier page could not be loaded
  let draftTimer = null;     // the draft is kept (store.setDraft) a moment after typing
  // Messages sent from this view and not back from the server yet: their
  // coming back keeps the view at the newest (those from my other devices
  // leave it where the reader has it).
  const mine = new Set();
  const sentHere = (item) => {
    mine.add(item.client_id);
    if (mine.size > 200) mine.delete(mine.values().next().value);
  };
  // The composer's draft: while a message is edited, what was typed before.
  const draft = () => (editing ? draftBeforeEdit : view.input.value);
  // Leaving the open chat (for another, or none): its draft is kept, and a
  // long history read far back let go of (store.releaseHistory).
  const repliesAside = new Map();   // conversation id -> the message its draft replies to
  const expanded = new Set();   // row keys of long messages shown whole
  function setAside() {
    if (convId == null) return;
    if (view) store.setDraft(convId, draft());
    // The message being replied to waits with the draft (for this page's
    // life), not dropped when another chat is looked at.
    if (replyTo && !editing) repliesAside.set(convId, replyTo); else repliesAside.delete(convId);
    store.releaseHistory(convId);
  }

  function placeholder() {
    clear(root).append(h('div.placeholder', h('div',
      h('div.brand-mark', icon('chat')),
      h('h2', 'Your messages'),
      h('p', 'Pick a conversation or start a new one.'))));
  }
  placeholder();

  function isNearBottom() {
    if (!view) return false;
    const sc = view.scroller;
    return sc.scrollHeight - sc.scrollTop - sc.clientHeight < 120;
  }
  // Read only what was shown: not while open() places the view, and not a
  // chat whose history is not loaded (an empty view is "at the bottom").
  const shown = () => convId != null && !positioning && store.msgState(convId).loaded;
  store.setReadingProbe((id) => id === convId && shown() && attentive() && isNearBottom());

  async function open(id, focusMessage) {
    const mine = {};
    try {
      await opening(id, focusMessage, mine);
    } finally {
      if (positioning === mine) positioning = null;
    }
  }
  async function opening(id, focusMessage, mine) {
    if (convId !== id) {
      setAside();
      convId = id;
      const cc = state.convs.get(id);
      unreadFrom = cc && cc.unread_count ? cc.last_read_seq || 0 : null;
      replyTo = repliesAside.get(id) || null; editing = null; draftBeforeEdit = '';
      repliesAside.delete(id);
      // The chat before may still be placing itself (its page on its
      // way): that is not this one's business.
      positioning = null;
      rowCache = new Map();
      build();
      forceBottom = true;
    }
    if (unreadFrom != null && !focusMessage) positioning = mine;
    let c = state.convs.get(id);
    if (!c) {
      // Not in the loaded part of the list (e.g. an old chat found by search).
      try { c = await store.fetchConv(id); } catch {
        if (convId === id && view) view.histState.textContent = 'This conversation is not available.';
        return;
      }
      if (convId !== id) return;
      renderHeader();
    } else if (!c.members || quietReceipts(c)) store.fetchConv(id).catch(() => {});
    if (c && c.type === 'direct' && c.peer) store.fetchPresence(c.peer.id);
    const ms = store.msgState(id);
    if (!ms.loaded) {
      if (loadFailed && loadFailed.id === id) loadFailed = null;
      renderMessages();
      try { await store.loadLatest(id); } catch (e) {
        // Said until it works: a retry (the button, or the connection
        // coming back) loads it again.
        if (convId === id && view) { loadFailed = { id, text: 'Could not load messages. ' + api.friendlyError(e) }; renderMessages(); }
        return;
      }
    }
    if (convId !== id) return;
    forceBottom = !focusMessage;
    renderAll();
    if (focusMessage) await jumpTo(focusMessage.id, focusMessage.seq);
    else {
      const placed = await toFirstUnread(id);
      if (positioning === mine) positioning = null;
      if (!placed) maybeMarkRead();
    }
  }

  // More unread than the screen shows: the chat opens at the first of them,
  // under "New messages" (with a little of what was read above it), and is
  // read as the reader scrolls down to the newest; what lies between loads
  // on the way (store.loadAround, loadGap) when there are more than the
  // latest page holds. Returns false when the newest are what to show.
  async function toFirstUnread(id) {
    if (unreadFrom == null) return false;
    const want = unreadFrom + 1;
    const first = store.sortedMessages(id)[0];
    const ms = store.msgState(id);
    if (!first || first.seq <= want || !ms.hasMore) return atNewMessages();
    forceBottom = false;
    try { await store.reach(id, want, JUMP_PAGE_BACK); } catch (e) {
      if (convId === id) toast('Could not load earlier messages. ' + api.friendlyError(e));
      return true;
    }
    if (convId !== id || !view) return true;
    renderMessages();
    const sep = view.list.querySelector('.new-sep');
    if (sep) sep.scrollIntoView({ block: 'start' });
    return true;
  }
  // The first unread is loaded: drawn now (at the bottom), the view moves
  // up to "New messages" if the newest would push it off the top.
  function atNewMessages() {
    if (!view) return false;
    renderMessages();
    const sep = view.list.querySelector('.new-sep');
    const sc = view.scroller;
    if (!sep || sep.getBoundingClientRect().top >= sc.getBoundingClientRect().top) return false;
    sep.scrollIntoView({ block: 'start' });
    return true;
  }

  function close() {
    setAside();
    convId = null;
    view = null;
    clearInterval(presenceTimer);
    if (observer) { observer.disconnect(); observer = null; }
    if (resizer) { resizer.disconnect(); resizer = null; }
    if (gapObserver) { gapObserver.disconnect(); gapObserver = null; watchedGap = null; }
    placeholder();
  }

  function build() {
    clearInterval(presenceTimer);
    const back = iconButton('back', 'Back to conversations', onBack, 'plain back');
    const avatarSlot = h('span.head-av');
    const title = h('h2.chat-title');
    const sub = h('p.chat-sub');
    const idBtn = h('button.chat-id', { type: 'button', 'aria-label': 'Conversation details', on: { click: () => onInfo(convId) } },
      avatarSlot, h('span.chat-id-text', title, sub));
    const head = h('header.chat-head', back, idBtn,
      iconButton('search', 'Search in this conversation', () => onSearchIn(convId), 'plain'),
      iconButton('info', 'Conversation details', () => onInfo(convId), 'plain'));
    const histState = h('div.history-state', { 'aria-live': 'polite' });
    const intro = h('div.chat-intro', { hidden: true });
    const list = h('div.msg-list');
    // Not a live region itself: a row drawn anew (a tick, a reaction, a
    // regrouping) would be read out again. New messages are read from
    // announcer instead, once each.
    const scroller = h('div.msg-scroll', { role: 'log', 'aria-live': 'off', 'aria-label': 'Messages', tabindex: '0' }, histState, intro, list);
    const announcer = h('div.sr-only', { 'aria-live': 'polite', 'aria-label': 'New messages read out' });
    const jumpCount = h('span.jump-count', { 'aria-hidden': 'true', hidden: true });
    const jump = h('button.jump', { type: 'button', 'aria-label': 'Jump to the latest message', title: 'Latest', hidden: true,
      on: { click: () => { scroller.scrollTop = scroller.scrollHeight; (canWrite() ? view.input : scroller).focus(); } } }, icon('down'), jumpCount);
    const typing = h('div.typing-row', { 'aria-live': 'polite' });
    const ctx = h('div.composer-ctx', { hidden: true });
    const input = h('textarea', { rows: 1, dir: 'auto', placeholder: 'Aa', 'aria-label': 'Message', maxLength: 4 * MAX_BODY, enterkeyhint: touchScreen() ? 'enter' : 'send' });
    const count = h('span.char-count', { hidden: true, 'aria-live': 'polite' });
    const send = h('button.icon-btn.send', { type: 'submit', 'aria-label': 'Send', title: 'Send (Enter)', disabled: true }, icon('send'));
    // With nothing typed, one click sends a thumbs-up.
    const like = h('button.icon-btn.like', { type: 'button', 'aria-label': 'Send a like', title: 'Send 👍',
      on: { click: () => { sentHere(state.outbox.add(convId, '👍', replyTo ? replyTo.id : null)); replyTo = null; renderCtx(); forceBottom = true; renderMessages(); } } }, '👍');
    // Emoji into the text where the caret is (a phone's keyboard has its
    // own; a desktop's is hard to find).
    const emojiBtn = iconButton('smile', 'Insert an emoji', () => emojiPicker(), 'plain emoji-btn');
    const form = h('form.composer', { 'aria-label': 'Write a message' }, emojiBtn, input, count, send, like);
    // Send and the like take no focus from the box: the next words go where
    // the last went, and a phone's keyboard stays up.
    for (const b of [send, like]) b.addEventListener('mousedown', (e) => e.preventDefault());
    // In place of the composer in a closed chat: the other person deleted
    // their account, or one of the two blocks the other (closedNote).
    const gone = h('div.composer-gone', { role: 'note', hidden: true });
    clear(root).append(h('section.chat-view', head, h('div.msg-wrap', scroller, jump), typing, ctx, form, gone, announcer));
    view = { head, avatarSlot, title, sub, histState, intro, list, scroller, jump, jumpCount, typing, ctx, input, send, like, count, form, gone, announcer, unseen: 0 };

    input.value = store.draft(convId);
    if (replyTo) renderCtx();
    form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
    input.addEventListener('keydown', onKey);
    // Typing is told from what the user types, not from a draft or an
    // edit's text put back in the box.
    input.addEventListener('input', () => {
      onInput();
      if (editing) return;
      if (view.input.value.trim()) store.sendTyping(convId);
      // Kept as it is typed (a reload keeps it), not on every key.
      clearTimeout(draftTimer);
      const id = convId;
      draftTimer = setTimeout(() => { draftTimer = null; if (convId === id && view && !editing) store.setDraft(id, view.input.value); }, 400);
    });
    scroller.addEventListener('scroll', onScroll, { passive: true });
    if (observer) observer.disconnect();
    observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadOlder();
    }, { root: scroller, rootMargin: '200px 0px 0px 0px' });
    observer.observe(histState);
    // A view at the newest stays there as anything in it or around it
    // changes size: the reply bar, a growing text box, a phone's keyboard,
    // a picture loading.
    if (resizer) resizer.disconnect();
    resizer = new ResizeObserver(() => {
      showReadMore();
      if (!view || !view.pinned) return;
      scroller.scrollTop = scroller.scrollHeight;
      view.keptTop = scroller.scrollTop;
    });
    for (const el of [scroller, list, intro, histState]) resizer.observe(el);
    if (gapObserver) gapObserver.disconnect();
    watchedGap = null;
    // A reader above the row (scrolling down) fills the gap from the top;
    // one below it (coming up from the newest messages), from the bottom.
    gapObserver = new IntersectionObserver((entries) => {
      const e = entries.find((x) => x.isIntersecting);
      if (!e) return;
      const r = e.rootBounds;
      loadGap(!!r && e.boundingClientRect.top + e.boundingClientRect.height / 2 < (r.top + r.bottom) / 2);
    }, { root: scroller, rootMargin: '200px 0px' });
    let today = new Date().toDateString();
    presenceTimer = setInterval(() => {
      renderHeader();
      // Past midnight: "Today" and "Yesterday" move on.
      const now = new Date().toDateString();
      if (now !== today) { today = now; rowCache = new Map(); renderAll(); }
      // Marks of a big group come with its details only (see quietReceipts).
      const c = state.convs.get(convId);
      if (c && quietReceipts(c)) store.fetchConv(convId).catch(() => {});
    }, 30000);
    onInput();
    // Now, not after the history: whether there is a composer at all (a
    // deleted contact) is known before anyone focuses or types in it.
    renderHeader();
  }

  // ---- header ----
  function renderHeader() {
    const c = state.convs.get(convId);
    if (!view || !c) return;
    clear(view.avatarSlot).append(convAvatar(c, 'm'));
    view.title.textContent = convTitle(c);
    let text = '', cls = '';
    const typing = store.typingUsers(convId);
    const peer = c.type === 'direct' && c.peer ? state.users.get(c.peer.id) || c.peer : null;
    const gone = !!(peer && peer.deleted);
    const closed = gone || !!c.closed;
    closedNote(c, peer, gone);
    if (view.form.hidden !== closed) {
      const had = view.form.contains(document.activeElement);
      view.form.hidden = closed;
      view.gone.hidden = !closed;
      // A reply or edit begun before it closed goes with the form.
      if (closed) cancelCtx();
      // The focus was in the box: it goes to the note's button, if any,
      // else to the messages.
      if (had && closed) (view.gone.querySelector('button') || view.scroller).focus();
      // The rows' Reply buttons and reactions come and go with the box.
      if (view.list.childElementCount) renderMessages();
    }
    if (gone) text = '';
    else if (c.closed) text = peer ? '@' + peer.username : '';
    else if (typing.length && c.type === 'direct') { text = 'typing…'; cls = 'typing'; }
    else if (c.type === 'direct' && c.peer) {
      const p = state.presence.get(c.peer.id);
      if (p && p.online) { text = 'Active now'; cls = 'online'; } else if (p) text = lastSeen(p.last_seen);
      else text = '@' + (state.users.get(c.peer.id) || c.peer).username;
    } else if (c.members && c.members.length <= 4) {
      const names = c.members.filter((m) => m.user.id !== state.me.id)
        .map((m) => (state.users.get(m.user.id) || m.user).display_name.split(' ')[0]);
      const all = ['You', ...names];
      text = all.length > 1 ? `${all.slice(0, -1).join(', ')} and ${all[all.length - 1]}` : 'Only you';
    } else {
      text = plural(c.members ? c.members.length : c.member_count || 0, 'member', 'members');
    }
    if (view.sub.textContent !== text) view.sub.textContent = text;
    view.sub.className = 'chat-sub' + (cls ? ' ' + cls : '');
  }

  // What stands in place of the composer in a closed chat, drawn when what
  // it says changes (the header is drawn often).
  function closedNote(c, peer, gone) {
    const kind = gone ? 'gone' : !c.closed ? '' : c.blocked ? 'blocked:' + (peer ? peer.display_name : '') : 'closed';
    if (view.gone.dataset.kind === kind) return;
    const focused = view.gone.contains(document.activeElement);
    view.gone.dataset.kind = kind;
    clear(view.gone);
    if (gone) view.gone.append(h('p', 'This account was deleted. You can no longer message it.'));
    else if (c.blocked && peer) {
      const id = c.id;
      const unblock = h('button.btn.small', { type: 'button', on: { click: async () => {
        unblock.disabled = true;
        try {
          await store.setBlocked(peer.id, false);
          toast(`${peer.display_name} is unblocked`);
          if (convId === id && view && canWrite() && !touchScreen()) view.input.focus();
        } catch (e) { unblock.disabled = false; toast(api.friendlyError(e)); }
      } } }, 'Unblock');
      view.gone.append(h('p', `You blocked ${peer.display_name}. You can't message each other in this chat.`), unblock);
      if (focused) unblock.focus();
    } else if (c.closed) view.gone.append(h('p', 'You can\'t reply to this conversation.'));
    // The note's button went (unblocked, and still closed by the other's
    // block): the focus goes to the messages.
    if (focused && !view.gone.contains(document.activeElement)) view.scroller.focus();
  }

  function renderTyping() {
    if (!view) return;
    const ids = store.typingUsers(convId);
    clear(view.typing);
    if (!ids.length) return;
    const names = ids.map((id) => userName(id).split(' ')[0]);
    const text = names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : 'Several people are typing…';
    view.typing.append(h('span.dots', { 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), h('span.typing-text', text));
  }

  // ---- messages ----
  function allRows() {
    const me = state.me.id;
    // Before its history has loaded, a chat still shows what arrived or was
    // sent meanwhile, and the messages waiting to be sent.
    const msgs = store.sortedMessages(convId);
    const known = new Set(msgs.map((m) => m.client_id));
    const pending = state.outbox.forConv(convId).filter((p) => !known.has(p.client_id)).map((p) => ({
      ...p, id: 'c:' + p.client_id, local: true, sender_id: me, kind: 'text', seq: null,
      reactions: [], edited_at: null, deleted_at: null,
    }));
    return msgs.concat(pending);
  }

  function renderMessages() {
    if (!view) return;
    const c = state.convs.get(convId);
    const ms = store.msgState(convId);
    const all = allRows();
    const rows = [];
    const used = new Map();
    const seen = seenMap(all);
    let newMarked = false;
    let prev = null;
    const gap = ms.gap;
    const across = (x, y) => !!(gap && x && y && x.seq != null && y.seq != null && x.seq <= gap.lo && y.seq >= gap.hi);
    for (let i = 0; i < all.length; i++) {
      const m = all[i];
      const next = all[i + 1];
      const dk = dayKey(m.created_at);
      // After a jump far back: what lies between its page and the newest
      // ones loads as the reader scrolls down to it.
      if (across(prev, m)) {
        // Seqs have no holes (a deleted message stays as a tombstone): the
        // gap holds this many.
        const more = plural(gap.hi - gap.lo - 1, 'more message', 'more messages');
        rows.push(cached(used, 'gap:' + gap.lo + ':' + gap.hi, null, () => h('div.gap', { role: 'separator', 'aria-label': `${more} not loaded yet` },
          h('button.btn.small', { type: 'button', on: { click: () => loadGap(false) } }, 'Show ' + more))));
      }
      // (Its own key after a gap: the jump's page may show the same day.)
      if (!prev || dayKey(prev.created_at) !== dk || across(prev, m)) rows.push(cached(used, (across(prev, m) ? 'gd:' : 'd:') + dk, dayLabel(m.created_at), () =>
        h('div.day-sep', { role: 'separator', 'aria-label': dayLabel(m.created_at) }, h('span', dayLabel(m.created_at)))));
      if (m.kind === 'system') {
        rows.push(cached(used, 'm:' + m.id, m.body, () => h('p.sys-msg', { dataset: { id: String(m.id), seq: String(m.seq) } }, m.body || '')));
        prev = m;
        continue;
      }
      if (unreadFrom != null && m.seq != null && m.seq > unreadFrom && m.sender_id !== state.me.id && !newMarked) {
        newMarked = true;
        rows.push(cached(used, 'new', unreadFrom, () => h('div.new-sep', { role: 'separator', 'aria-label': 'New messages' }, h('span', 'New messages'))));
      }
      const first = !prev || !sameGroup(prev, m) || across(prev, m);
      const last = !next || !sameGroup(m, next) || across(m, next);
      rows.push(messageRow(c, m, first, last, used));
      const readers = seen.get(m.seq);
      if (readers) {
        const names = readers.map((u) => userName(u));
        rows.push(cached(used, 'seen:' + m.seq, names, () => h('div.seen-by', { role: 'img', 'aria-label': 'Seen by ' + names.join(', ') },
          readers.slice(0, 5).map((u) => userAvatar(state.users.get(u) || { id: u, display_name: userName(u) })),
          readers.length > 5 ? h('span.more-readers', `+${readers.length - 5}`) : null)));
      }
      prev = m;
    }
    rowCache = used;

    const sc = view.scroller;
    const wasBottom = forceBottom || (!positioning && isNearBottom());
    // Keep what the reader looks at in place when rows are added above it.
    let anchor = null, anchorTop = 0;
    if (!wasBottom) {
      // A message, not the gap's row or a day's line beside it. Filling the
      // gap from below (a reader coming up from the newest messages), the
      // first message after the row: what loads goes in above it, and the
      // row must move away from the reader (see loadGap).
      const gapEl = gapFromBelow ? view.list.querySelector('.gap') : null;
      let el = gapEl ? gapEl.nextElementSibling : view.list.firstElementChild;
      for (; el; el = el.nextElementSibling) {
        if ((gapEl || el.offsetTop + el.offsetHeight > sc.scrollTop) && el.dataset.id) { anchor = el; anchorTop = el.offsetTop - sc.scrollTop; break; }
      }
    }
    // The top of the history, before the view is kept in place: it may
    // grow (the intro of a history loaded to its start).
    if (!ms.loaded && loadFailed && loadFailed.id === convId) {
      clear(view.histState).append(h('span', loadFailed.text), ' ',
        h('button.btn.small', { type: 'button', on: { click: () => retryLoad() } }, 'Try again'));
    } else if (!ms.loaded) view.histState.textContent = 'Loading…';
    else if (ms.hasMore && !ms.loadingOlder && olderFailed && olderFailed.id === convId) {
      clear(view.histState).append(h('span', olderFailed.text), ' ',
        h('button.btn.small', { type: 'button', on: { click: () => retryLoad() } }, 'Try again'));
    } else if (ms.hasMore) view.histState.textContent = ms.loadingOlder ? 'Loading earlier messages…' : '';
    else view.histState.textContent = '';
    view.intro.hidden = !(ms.loaded && !ms.hasMore);
    if (!view.intro.hidden && c) {
      clear(view.intro).append(convAvatar(c, 'l'), h('h3', convTitle(c)),
        h('p', c.type === 'group' ? `Group · ${plural(c.members ? c.members.length : c.member_count || 0, 'member', 'members')}` : 'You are connected on Messenger. Say hi!'));
    }
    // A control of a message row that is made anew keeps the focus (a
    // keyboard user's place): the same control of its new row gets it.
    const focused = document.activeElement;
    const focusedRow = focused && focused !== view.list && view.list.contains(focused) ? focused.closest('[data-id]') : null;
    reconcile(view.list, rows);
    showReadMore();
    if (focusedRow && !focused.isConnected) {
      const label = focused.dataset.control || focused.getAttribute('aria-label');
      const again = label ? rowControl(focusedRow.dataset.id, label) : null;
      if (again) again.focus({ preventScroll: true });
    }
    if (wasBottom) sc.scrollTop = sc.scrollHeight;
    else if (anchor) {
      // Found again by its message: a row is made anew when its grouping
      // changes (rows that load above it may join its group).
      const now = anchor.isConnected ? anchor : view.list.querySelector(`[data-id="${CSS.escape(anchor.dataset.id)}"]`);
      if (now) sc.scrollTop = now.offsetTop - anchorTop;
    }
    // Where this kept the view: a scroll to here is not the reader's.
    view.keptTop = sc.scrollTop;
    view.pinned = wasBottom;
    forceBottom = false;
    const gapRow = view.list.querySelector('.gap');
    if (gapObserver && gapRow !== watchedGap) {
      if (watchedGap) gapObserver.unobserve(watchedGap);
      watchedGap = gapRow;
      if (gapRow) gapObserver.observe(gapRow);
    }
  }

  // Where each reader's avatar goes: under the newest loaded message they
  // have read (not one they sent themselves).
  function seenMap(all) {
    const out = new Map();
    const r = state.receipts.get(convId);
    if (!r) return out;
    const c = state.convs.get(convId);
    const memberIds = c && c.members ? new Set(c.members.map((m) => m.user.id)) : null;
    const loaded = all.filter((m) => m.seq != null && m.kind !== 'system');
    const ms = store.msgState(convId);
    for (const [uid, x] of r) {
      if (uid === state.me.id || (memberIds && !memberIds.has(uid)) || !x.read) continue;
      // Read up to a message not loaded (in a jump's gap): not under an
      // older one, which would say they stopped there.
      if (store.inGap(ms, x.read)) continue;
      let target = null;
      for (let i = loaded.length - 1; i >= 0; i--) {
        if (loaded[i].seq <= x.read) { target = loaded[i]; break; }
      }
      if (!target || target.sender_id === uid) continue;
      if (!out.has(target.seq)) out.set(target.seq, []);
      out.get(target.seq).push(uid);
    }
    return out;
  }

  function sameGroup(a, b) {
    return a.sender_id === b.sender_id && a.kind !== 'system' && b.kind !== 'system' &&
      dayKey(a.created_at) === dayKey(b.created_at) &&
      Math.abs(new Date(b.created_at) - new Date(a.created_at)) < GROUP_GAP_MS;
  }

  function cached(used, key, sig, make) {
    const old = rowCache.get(key);
    const s = JSON.stringify(sig);
    const el = old && old.sig === s ? old.el : make();
    used.set(key, { sig: s, el });
    return el;
  }

  // Members of groups bigger than the server's receipt_fanout_max get no
  // receipt events: their read and delivered marks come with the group's
  // details, asked for again on opening and every 30 s while open.
  function quietReceipts(c) {
    return c.type === 'group' && (c.members ? c.members.length : c.member_count || 0) > store.receiptEventsMax();
  }

  function statusOf(c, m) {
    if (m.local) return m.state === 'failed' ? 'failed' : 'pending';
    return store.tickState(c.id, m.seq);
  }

  function replyInfo(m) {
    if (!m.reply_to) return null;
    const orig = store.findMessage(convId, m.reply_to) || store.quotedMessage(convId, m.reply_to);
    if (!orig) return { name: '', text: 'Original message' };
    return {
      name: state.me && orig.sender_id === state.me.id ? 'You' : userName(orig.sender_id),
      text: orig.deleted_at ? 'Message deleted' : orig.body || '',
    };
  }

  function messageRow(c, m, first, last, used) {
    const me = state.me.id;
    const mine = m.sender_id === me;
    const status = mine ? statusOf(c, m) : null;
    const reply = replyInfo(m);
    const group = c && c.type === 'group';
    const senderName = !mine ? userName(m.sender_id) : 'You';
    const sender = state.users.get(m.sender_id);
    const key = m.local ? 'c:' + m.client_id : 'm:' + m.id;
    const long = !m.deleted_at && (m.body || '').length > LONG_TEXT;
    const open = long && expanded.has(key);
    const writable = canWrite();
    const sig = [m.body, m.edited_at, m.deleted_at, m.reactions, status, first, last, reply, senderName, m.error, m.seq, m.created_at, group, open, writable];
    return cached(used, key, sig, () => {
      const deleted = !!m.deleted_at;
      const jumbo = !deleted && !reply && isEmojiOnly(m.body);
      const cls = ['msg', mine ? 'mine' : 'theirs', first ? 'first' : '', last ? 'last' : '', deleted ? 'deleted' : '', m.local ? status : '', jumbo ? 'jumbo' : '']
        .filter(Boolean).join('.');
      const bubble = h('div.bubble');
      if (reply && !deleted) {
        bubble.append(h('button.quote', { type: 'button', 'aria-label': `Quoted message${reply.name ? ' from ' + reply.name : ''}: ${Array.from(reply.text).slice(0, 140).join('')}. Go to it`, on: { click: () => jumpTo(m.reply_to) } },
          reply.name ? h('strong', reply.name) : null, h('bdi', { dir: 'auto' }, Array.from(reply.text).slice(0, 140).join(''))));
      }
      // Who wrote it, for a screen reader: the name shows only above the
      // first of a run in a group, and never in a direct chat.
      bubble.append(h('span.sr-only', (mine ? 'You' : senderName) + ': '),
        h('span.text' + (long && !open ? '.clamped' : ''), { dir: 'auto' }, deleted ? (mine ? 'You unsent a message' : 'This message was deleted') : linkify(m.body || '')));
      // A long message shows its first lines until asked for the rest.
      if (long) {
        bubble.append(h('button.read-more', { type: 'button', 'aria-expanded': String(open), dataset: { control: 'more' }, on: { click: () => {
          if (open) expanded.delete(key); else expanded.add(key);
          renderMessages();
          // Made short again, the message stays in view.
          if (open && view) { const row = rowControl(m.id, 'more'); if (row) row.closest('.msg').scrollIntoView({ block: 'nearest' }); }
        } } }, open ? 'Show less' : 'Read more'));
      }
      const meta = h('span.meta', m.edited_at && !deleted ? h('span.edited', 'Edited ·') : null,
        h('time', { datetime: m.created_at, title: fullTime(m.created_at) }, timeOfDay(m.created_at)));
      if (mine && !deleted) meta.append(tick(status));
      bubble.append(meta);
      const col = h('div.msg-col');
      if (group && !mine && first) col.append(h('span.sender', senderName));
      col.append(bubble);
      const reactions = (m.reactions || []).filter((r) => r.count > 0);
      if (reactions.length && !deleted) {
        col.append(h('div.reactions', reactions.map((r) => {
          const minePressed = r.user_ids.includes(me);
          const who = r.user_ids.map((u) => (u === me ? 'you' : userName(u))).join(', ');
          // A closed chat takes no new reactions; one's own can be taken back.
          return h('button.reaction', {
            type: 'button', 'aria-pressed': String(minePressed), title: who,
            'aria-label': `${r.emoji} ${r.count}, reacted by ${who}`, disabled: !writable && !minePressed,
            on: { click: () => react(m, r.emoji) },
          }, h('span', r.emoji), r.count > 1 ? h('span', String(r.count)) : null);
        })));
      }
      if (m.local && m.state === 'failed') {
        col.append(h('div.fail-note', { role: 'alert' }, h('span', 'Not sent' + (m.error ? `: ${m.error}` : '.')),
          h('button', { type: 'button', on: { click: () => { state.outbox.retry(m.client_id); composerFocus(); } } }, 'Retry'),
          h('button', { type: 'button', on: { click: () => { state.outbox.discard(m.client_id); composerFocus(); } } }, 'Delete')));
      }
      const tools = h('div.msg-tools');
      let more = null;
      if (!m.local && !deleted) {
        // Which message a button is for, for a screen reader going from
        // button to button: its sender and time.
        const which = `${mine ? 'your message' : senderName} at ${timeOfDay(m.created_at)}`;
        more = h('button.icon-btn', { type: 'button', 'aria-label': `Message actions: ${which}`, 'aria-haspopup': 'menu', 'aria-expanded': 'false', title: 'More', dataset: { control: 'actions' } }, icon('more'));
        more.addEventListener('click', () => actions(more, m));
        if (canWrite()) {
          const rb = iconButton('reply', `Reply to ${which}`, () => startReply(m), 'reply-btn');
          rb.title = 'Reply';
          rb.dataset.control = 'reply';
          tools.append(rb);
        }
        tools.append(more);
      }
      const av = h('span.av-slot', !mine && last ? userAvatar(sender || { id: m.sender_id, display_name: senderName }, 's') : null);
      const el = h('div.' + cls, {
        dataset: { id: String(m.id), seq: m.seq == null ? '' : String(m.seq), clientId: m.client_id || '', status: status || '' },
      }, av, col, tools);
      // On a touch screen the actions open from a long press on the message.
      if (more) onLongPress(col, () => actions(more, m));
      return el;
    });
  }

  function tick(status) {
    const label = { pending: 'Sending', failed: 'Not sent', sent: 'Sent', delivered: 'Delivered', read: 'Read' }[status] || '';
    const name = status === 'pending' ? 'clock' : status === 'failed' ? 'alert' : status === 'sent' ? 'check' : 'checks';
    return h('span.tick.' + status, { role: 'img', 'aria-label': label, title: label }, icon(name));
  }

  // A message's own control, found again in its row (made anew when the
  // message changes) by its data-control (the message actions, reply, read
  // more: their labels name the sender, who may be renamed) or its label.
  function rowControl(id, label) {
    const row = view && view.list.querySelector(`[data-id="${CSS.escape(String(id))}"]`);
    return row ? [...row.querySelectorAll('button')].find((b) => b.dataset.control === label || b.getAttribute('aria-label') === label) || null : null;
  }

  function actions(btn, m) {
    const mine = m.sender_id === state.me.id;
    showMenu(btn, (menu) => {
      // A closed chat takes no new reactions.
      if (canWrite()) {
        menu.append(h('div.quick', { role: 'group', 'aria-label': 'Quick reactions' }, QUICK.map((e) =>
          h('button', { type: 'button', 'aria-label': `React with ${e}`, on: { click: () => react(m, e) } }, e))));
        menu.append(menuItem('smile', 'More reactions…', () => reactionPicker(m)));
      }
      if (canWrite()) menu.append(menuItem('reply', 'Reply', () => startReply(m)));
      if (m.body) menu.append(menuItem('chat', 'Copy text', () => navigator.clipboard?.writeText(m.body).then(() => toast('Copied'), () => {})));
      if (m.body && m.kind === 'text') menu.append(menuItem('forward', 'Forward…', () => forwardDialog(m)));
      if (mine) {
        menu.append(menuItem('info', 'Message info', () => messageInfo(m)));
        if (canWrite()) menu.append(menuItem('edit', 'Edit', () => startEdit(m)));
        menu.append(menuItem('trash', 'Delete', () => removeMessage(m), true));
      }
    }, { refind: () => rowControl(m.id, 'actions') });
  }

  // Read more only where lines are hidden (a long text in few lines on a
  // wide screen has none); again when the width changes. All heights are
  // read before any button changes (one layout).
  function showReadMore() {
    if (!view) return;
    const texts = [...view.list.querySelectorAll('.text.clamped')];
    const hidden = texts.map((t) => t.scrollHeight <= t.clientHeight + 1);
    texts.forEach((t, i) => {
      const more = t.parentElement.querySelector('.read-more');
      if (more) more.hidden = hidden[i];
    });
  }

  // A grid of emoji buttons that is one tab stop: the arrow keys, Home and
  // End move within it (8 a row). button(e) makes each one.
  function emojiGrid(list, button) {
    const cols = 8;
    const buttons = list.map((e, i) => { const b = button(e); b.tabIndex = i === 0 ? 0 : -1; return b; });
    const grid = h('div.emoji-grid', { role: 'group', 'aria-label': 'Emoji' }, buttons);
    grid.addEventListener('keydown', (ev) => {
      const i = buttons.indexOf(document.activeElement);
      if (i < 0) return;
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, ArrowDown: i + cols, ArrowUp: i - cols, Home: 0, End: buttons.length - 1 }[ev.key];
      if (to === undefined || to < 0 || to >= buttons.length) return;
      ev.preventDefault();
      buttons[i].tabIndex = -1;
      buttons[to].tabIndex = 0;
      buttons[to].focus();
    });
    return grid;
  }

  function emojiPicker() {
    const input = view.input;
    const at = [input.selectionStart, input.selectionEnd];
    const grid = emojiGrid(MORE_EMOJI.concat(QUICK.filter((e) => !MORE_EMOJI.includes(e))), (e) =>
      h('button', { type: 'button', 'aria-label': e, on: { click: () => {
        dlg.close();
        // The chat closed or changed meanwhile: its box is gone.
        if (!view || view.input !== input) return;
        input.focus();
        input.setRangeText(e, at[0], at[1], 'end');
        input.dispatchEvent(new Event('input', { bubbles: true }));
      } } }, e));
    const dlg = openDialog({ title: 'Emoji', body: grid, className: 'emoji-dialog' });
  }

  // Who one of my messages has reached: read by, delivered to, not yet;
  // with the members' marks asked for afresh.
  function messageInfo(m) {
    const body = h('div.msg-info', { 'aria-live': 'polite' }, h('p.hint', 'Loading…'));
    const show = () => {
      const reach = store.reachOf(m.conversation_id, m.seq, m.created_at);
      const part = (title, ids) => (ids.length ? h('div.sect', h('h3', `${title} (${ids.length})`),
        h('ul.people', { 'aria-label': title }, ids.map((uid) => {
          const u = state.users.get(uid) || { id: uid, display_name: userName(uid) };
          return h('li.person', userAvatar(u, 'm'), h('span.person-main', h('span.person-name', u.display_name)));
        }))) : null);
      clear(body).append(h('p.hint', `Sent ${fullTime(m.created_at)}`), part('Read by', reach.read),
        part('Delivered to', reach.delivered), part('Not delivered yet', reach.waiting));
    };
    openDialog({ title: 'Message info', body });
    store.fetchConv(m.conversation_id).then(() => show(), () => {
      show();
      body.prepend(h('p.form-error', { role: 'alert' }, 'Could not ask for the latest marks; these may be older.'));
    });
  }

  // Forward: the text goes to other chats as a new message of mine, through
  // the outbox (sent once, when the connection allows). Open chats by last
  // activity, narrowed by name as one types; each is sent to once.
  function forwardDialog(m) {
    const text = m.body;
    const field = h('input', { type: 'search', 'aria-label': 'Search chats', placeholder: 'Search chats', autocomplete: 'off' });
    const list = h('ul.people', { 'aria-label': 'Chats to forward to' });
    const sentTo = new Set();
    const writable = (c) => !c.closed && !(c.type === 'direct' && c.peer && (state.users.get(c.peer.id) || c.peer).deleted);
    const draw = () => {
      const q = field.value.trim().toLocaleLowerCase();
      const convs = store.sortedConvs({ archived: true }).filter((c) => writable(c) && (!q || convTitle(c).toLocaleLowerCase().includes(q))).slice(0, 50);
      clear(list);
      if (!convs.length) list.append(h('li.hint', q ? `No chat found for “${field.value.trim()}”.` : 'No chats to forward to.'));
      for (const c of convs) {
        const title = convTitle(c);
        // Once sent, the button stays where it is (and keeps the focus),
        // saying so.
        const btn = h('button.btn.small', { type: 'button', on: { click: () => {
          if (sentTo.has(c.id)) return;
          const item = state.outbox.add(c.id, text, null);
          if (c.id === convId) { sentHere(item); forceBottom = true; renderMessages(); }
          sentTo.add(c.id);
          mark();
        } } });
        const mark = () => {
          const done = sentTo.has(c.id);
          btn.textContent = done ? 'Sent' : 'Send';
          btn.className = 'btn small' + (done ? '' : ' primary');
          btn.setAttribute('aria-label', (done ? 'Sent to ' : 'Send to ') + title);
          btn.setAttribute('aria-disabled', String(done));
        };
        mark();
        list.append(h('li.person', convAvatar(c, 'm'), h('span.person-main', h('span.person-name', title)), btn));
      }
    };
    field.addEventListener('input', draw);
    const preview = h('blockquote.fwd-preview', { dir: 'auto' }, text.length > 300 ? [...text].slice(0, 300).join('') + '…' : text);
    openDialog({ title: 'Forward', body: [preview, h('label.field', h('span', 'To'), field), list] });
    draw();
    field.focus();
  }

  // Any emoji: a grid of common ones, or one typed (or pasted) in; the
  // server says which text is not one emoji.
  function reactionPicker(m) {
    const err = h('p.form-error', { role: 'alert' });
    const typed = h('input', { 'aria-label': 'Or type an emoji', placeholder: 'Or type an emoji', autocomplete: 'off', maxLength: 32 });
    // An emoji already given is taken back (its button says so).
    const given = new Set((store.findMessage(m.conversation_id, m.id) || m).reactions?.filter((r) => r.user_ids.includes(state.me.id)).map((r) => r.emoji) || []);
    const pick = async (e) => {
      err.textContent = '';
      const failed = await react(m, e, { quiet: true });
      if (failed) err.textContent = failed;
      else dlg.close();
    };
    const grid = emojiGrid(MORE_EMOJI, (e) =>
      h('button', { type: 'button', 'aria-label': given.has(e) ? `Take back ${e}` : `React with ${e}`, 'aria-pressed': String(given.has(e)), on: { click: () => pick(e) } }, e));
    const form = h('form.emoji-typed', { on: { submit: (ev) => { ev.preventDefault(); const v = typed.value.trim(); if (v) pick(v); } } },
      typed, h('button.btn', { type: 'submit' }, 'React'));
    // The field first (Tab reaches it at once); no emoji has the focus,
    // so an Enter held down from the menu chooses none.
    const dlg = openDialog({ title: 'React', body: [form, grid, err], className: 'emoji-dialog' });
    typed.focus();
  }

  // Changes of one reaction go one after another: a second click before
  // the first is answered toggles what the first made (undoes a mistap),
  // rather than asking for the same change again.
  const reacting = new Map();
  // Toggles a reaction, after any change of the same one still on its way.
  // Resolves with nothing, or (quiet) with why it failed instead of saying so.
  function react(m, emoji, { quiet = false } = {}) {
    const key = m.conversation_id + ' ' + m.id + ' ' + emoji;
    const next = (reacting.get(key) || Promise.resolve())
      .then(() => store.toggleReaction(m.conversation_id, m.id, emoji))
      .then(() => null, (e) => { const why = api.friendlyError(e); if (!quiet) toast(why); return why; })
      .finally(() => { if (reacting.get(key) === next) reacting.delete(key); });
    reacting.set(key, next);
    return next;
  }

  async function removeMessage(m) {
    // Enter held down must not delete for everyone; the message's own
    // conversation, whatever is open when the dialog closes.
    if (!(await confirmDialog('Delete message?', 'It will be removed for everyone in this conversation.', 'Delete', true, { focusCancel: true }))) return;
    try { await store.deleteMessage(m.conversation_id, m.id); } catch (e) { toast(api.friendlyError(e)); }
    composerFocus();
  }

  // ---- reply / edit context ----
  // Whether the composer is there (not for a deleted contact).
  const canWrite = () => view && !view.form.hidden;
  function startReply(m) {
    if (!canWrite()) return;
    // An edit under way ends: the composer gets back what it held before.
    if (editing) { view.input.value = draftBeforeEdit; draftBeforeEdit = ''; editing = null; onInput(); }
    replyTo = m;
    renderCtx();
    view.input.focus();
  }
  // The message being replied to or edited changed meanwhile (an edit, from
  // anywhere): the bar shows it as it is now; deleted, the reply or the
  // edit ends, and says why.
  function freshCtx() {
    const m = replyTo || editing;
    if (!view || !m) return;
    const now = store.msgState(convId).byId.get(m.id);
    if (!now || now === m) return;
    if (now.deleted_at) {
      const what = editing ? 'editing' : 'replying to';
      cancelCtx();
      toast(`The message you were ${what} was deleted.`);
      return;
    }
    if (replyTo) replyTo = now; else editing = now;
    renderCtx();
  }
  function startEdit(m) {
    if (!canWrite()) return;
    replyTo = null;
    if (!editing) draftBeforeEdit = view.input.value;
    editing = m;
    view.input.value = m.body || '';
    renderCtx();
    onInput();
    view.input.focus();
  }
  function cancelCtx() {
    if (editing) { view.input.value = draftBeforeEdit; draftBeforeEdit = ''; }
    replyTo = null; editing = null;
    renderCtx();
    onInput();
  }
  function renderCtx() {
    const ctx = view.ctx;
    clear(ctx);
    const m = replyTo || editing;
    ctx.hidden = !m;
    if (!m) return;
    const who = m.sender_id === state.me.id ? 'yourself' : userName(m.sender_id);
    ctx.append(icon(editing ? 'edit' : 'reply'),
      h('span.ctx-text', h('strong', editing ? 'Editing message' : `Replying to ${who}`), h('span.ctx-body', { dir: 'auto' }, m.body || '')),
      iconButton('close', editing ? 'Cancel editing' : 'Cancel reply', () => { cancelCtx(); view.input.focus(); }, 'plain'));
  }

  // ---- composer ----
  function onKey(e) {
    // On a touch screen Enter is a new line (its keyboard has no
    // Shift+Enter) and the Send button sends.
    // An input method's Enter that confirms a word is no send: Safari
    // ends the composition before that keydown, which then has keyCode 229.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229 && !e.altKey && !e.ctrlKey && !e.metaKey && !touchScreen()) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape' && (replyTo || editing)) {
      e.preventDefault();
      cancelCtx();
    } else if (e.key === 'ArrowUp' && !view.input.value && !e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey) {
      const mine = store.sortedMessages(convId).filter((m) => m.sender_id === state.me.id && !m.deleted_at && m.kind === 'text');
      if (mine.length) { e.preventDefault(); startEdit(mine[mine.length - 1]); }
    }
  }
  function onInput() {
    const v = view.input.value;
    const len = [...v].length;
    view.send.disabled = !v.trim() || len > MAX_BODY;
    const empty = !v.trim() && !editing;
    view.send.hidden = empty;
    view.like.hidden = !empty;
    view.count.hidden = len < MAX_BODY - 200;
    view.count.textContent = `${len}/${MAX_BODY}`;
    if (!CSS.supports('field-sizing', 'content')) {
      view.input.style.height = 'auto';
      view.input.style.height = Math.min(160, view.input.scrollHeight) + 'px';
    }
  }

  // Focus that an action left nowhere (a button it hid or removed, the
  // page itself) goes back to the composer: the next key goes there.
  // Looked at once the change is drawn (renderAll draws in the next frame).
  function composerFocus() {
    requestAnimationFrame(() => {
      const now = document.activeElement;
      if (canWrite() && (!now || now === document.body || !now.isConnected || now === view.send || now === view.like) && !touchScreen()) view.input.focus();
    });
  }

  let saving = null;         // the edit on its way (one at a time)
  async function submit() {
    const text = view.input.value.replace(/^\s*\n|\s+$/g, '');
    if (!text.trim() || [...text].length > MAX_BODY) return;
    const id = convId;
    if (editing) {
      const m = editing;
      if (saving === m) return;
      if (text === m.body) { cancelCtx(); composerFocus(); return; }
      view.send.disabled = true;
      saving = m;
      try {
        await store.editMessage(id, m.id, text);
        // (The same message; freshCtx may have put its newer copy here.)
        if (convId === id && editing && editing.id === m.id) { editing = null; view.input.value = draftBeforeEdit; draftBeforeEdit = ''; renderCtx(); onInput(); composerFocus(); }
      } catch (e) { toast(api.friendlyError(e)); if (view) view.send.disabled = false; }
      finally { if (saving === m) saving = null; }
      return;
    }
    sentHere(state.outbox.add(id, text, replyTo ? replyTo.id : null));
    store.typingSent(id);
    replyTo = null;
    view.input.value = '';
    clearTimeout(draftTimer);
    store.setDraft(id, '');
    renderCtx();
    onInput();
    forceBottom = true;
    renderMessages();
    composerFocus();
  }

  // ---- scrolling ----
  async function loadOlder() {
    if (convId == null) return;
    const id = convId;
    const ms = store.msgState(id);
    if (!ms.loaded || !ms.hasMore || ms.loadingOlder) return;
    if (olderFailed && olderFailed.id === id) olderFailed = null;
    try {
      const did = await store.loadOlder(id);
      // Still at the top (a short page)? Keep going.
      if (did && convId === id && view && view.scroller.scrollTop < 200 && ms.hasMore) setTimeout(loadOlder, 50);
    } catch (e) {
      // Said, with a way to try again, until it works (the button, or the
      // connection coming back: retryLoad).
      if (convId === id && view) { olderFailed = { id, text: 'Could not load earlier messages. ' + api.friendlyError(e) }; renderMessages(); }
    }
  }

  async function loadGap(fromBelow) {
    const id = convId;
    if (id == null) return;
    gapFromBelow = fromBelow;
    try { await store.loadGap(id, fromBelow); } catch (e) {
      if (convId === id) toast('Could not load these messages. ' + api.friendlyError(e));
    }
  }

  async function jumpTo(messageId, seq) {
    const id = convId;
    const ms = store.msgState(id);
    // A quoted message not loaded: where it sits first.
    const quoted = ms.quoted && ms.quoted.get(messageId);
    if (seq == null && quoted) seq = quoted.seq;
    if (seq == null && !store.findMessage(id, messageId)) {
      try { seq = (await store.fetchMessage(id, messageId)).seq; } catch (e) {
        if (convId !== id) return;
        toast(e.status === 404 ? 'That message is no longer available.' : 'Could not load that message. ' + api.friendlyError(e));
        return;
      }
      if (convId !== id) return;
    }
    // One page around it when far back (the rest loads as the reader
    // scrolls), else the few pages down to it.
    if (!store.findMessage(id, messageId)) {
      try { await store.reach(id, seq, JUMP_PAGE_BACK); } catch (e) {
        if (convId === id) toast('Could not load that message. ' + api.friendlyError(e));
        return;
      }
      if (convId !== id) return;
    }
    renderMessages();
    const el = view && view.list.querySelector(`.msg[data-id="${CSS.escape(String(messageId))}"]`);
    if (!el) { toast('That message is no longer available.'); return; }
    el.scrollIntoView({ block: 'center' });
    el.classList.remove('flash');
    void el.offsetWidth;
    el.classList.add('flash');
  }

  let readTimer = null;
  function maybeMarkRead() {
    if (!shown() || !attentive() || !isNearBottom()) return;
    // Throttled, not debounced: a busy chat still gets read receipts.
    if (readTimer) return;
    readTimer = setTimeout(() => {
      readTimer = null;
      if (shown() && attentive() && isNearBottom()) store.markRead(convId);
    }, 150);
  }
  function onScroll() {
    if (!view) return;
    // The reader scrolling closes a message's menu; the view kept in place
    // as messages come (a busy chat) does not.
    if (view.scroller.scrollTop !== view.keptTop) {
      closeMenu();
      view.pinned = isNearBottom();
    }
    view.jump.hidden = isNearBottom();
    if (view.jump.hidden && view.unseen) { view.unseen = 0; showUnseen(); }
    maybeMarkRead();
  }
  // The jump button counts the messages that came below the reader.
  function showUnseen() {
    const n = view.unseen;
    view.jump.setAttribute('aria-label', n ? `Jump to the latest message, ${plural(n, 'new message', 'new messages')}` : 'Jump to the latest message');
    view.jumpCount.textContent = n > 99 ? '99+' : String(n);
    view.jumpCount.hidden = !n;
  }
  // Read once the user looks again: the tab shown, or its window focused.
  // The draft is kept a moment after typing stops: a page hidden or closed
  // meanwhile keeps it at once.
  const onVisible = () => { if (document.hidden) keepDraft(); else maybeMarkRead(); };
  const keepDraft = () => {
    if (draftTimer == null || convId == null || !view) return;
    clearTimeout(draftTimer);
    draftTimer = null;
    store.setDraft(convId, draft());
  };
  document.addEventListener('visibilitychange', onVisible);
  window.addEventListener('focus', onVisible);
  window.addEventListener('pagehide', keepDraft);

  // ---- updates ----
  let queued = false;
  function renderAll() {
    if (queued || !view) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      if (!view) return;
      renderHeader();
      renderMessages();
      renderTyping();
      maybeMarkRead();
    });
  }
  store.on('chat', (id) => { if (id === convId) { freshCtx(); renderAll(); } });
  store.on('conv', (id) => { if (id === convId) renderAll(); });
  store.on('users', () => { if (view) { rowCache = new Map(); renderAll(); } });
  store.on('presence', () => renderHeader());
  store.on('typing', (id) => { if (id === convId) { renderTyping(); renderHeader(); } });
  store.on('outbox', (id) => { if (id === convId) renderAll(); });
  store.on('incoming', (m) => {
    if (m.conversation_id !== convId || !view) return;
    if (m.sender_id === state.me.id) {
      if (mine.delete(m.client_id)) forceBottom = true;
      return;
    }
    if (!view.pinned) { view.unseen++; showUnseen(); }
    // Read out once; the last few kept (a burst is not cut short).
    view.announcer.append(h('p', m.kind === 'system' ? m.body || '' : `${userName(m.sender_id)}: ${m.body || 'New message'}`));
    while (view.announcer.childElementCount > 5) view.announcer.firstElementChild.remove();
  });

  // Loads the open chat's history again if it has not loaded, or the
  // earlier page that failed (the retry buttons; app.js when the connection
  // comes back).
  function retryLoad() {
    if (convId == null || !view) return;
    if (!store.msgState(convId).loaded) open(convId);
    else if (olderFailed && olderFailed.id === convId) loadOlder();
  }

  return {
    root, open, close, retryLoad,
    dispose() {
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('focus', onVisible);
      window.removeEventListener('pagehide', keepDraft);
      clearInterval(presenceTimer);
      if (observer) observer.disconnect();
      if (resizer) resizer.disconnect();
      if (gapObserver) gapObserver.disconnect();
      clearTimeout(draftTimer);
      convId = null;
      view = null;
    },
    get convId() { return convId; },
    // Not on touch screens: the keyboard would cover the chat just opened.
    focusComposer: () => {
      if (canWrite() && !touchScreen()) view.input.focus();
    },
  };
}
