// Entry point: restores the session, loads state, starts the event stream and
// wires the views together.
//
// Modules: api.js (REST client, tokens), events.js (SSE / long-poll stream),
// outbox.js (sends, offline queue), store.js (state and event merging),
// attention.js (which tab of the browser notifies),
// views/ (auth, sidebar, chat, dialogs, common), dom.js and format.js (helpers).
// Startup order matters: the stream's cursor is taken first, then the
// conversation snapshot, then the stream runs from that cursor, so nothing
// that happens during the load is missed (and replays merge idempotently).
import { h, clear } from './dom.js';
import * as api from './api.js';
import * as store from './store.js';
import { state } from './store.js';
import { EventStream } from './events.js';
import { Outbox } from './outbox.js';
import { renderAuth } from './views/auth.js';
import { createSidebar } from './views/sidebar.js';
import { createChat } from './views/chat.js';
import { newChatDialog, newGroupDialog, convInfoDialog, profileDialog, sessionsDialog, blocksDialog, archiveDialog } from './views/dialogs.js';
import { toast, closeMenu, confirmDialog, setFocusFallback } from './views/common.js';
import { startAttention } from './attention.js';

const root = document.getElementById('app');
let stream = null;
let session = 0;
let cleanups = [];   // bumps on every sign-in/out so late answers of an old session are ignored

api.onLoggedOut((e) => signedOut(ENDED, e));

// A logout the server has not heard of yet (offline then) is finished
// first, and whenever the network comes back.
window.addEventListener('online', () => { api.finishPendingLogout(); });

async function boot() {
  await api.finishPendingLogout();
  if (!api.hasSession()) { showAuth(); return; }
  try {
    const me = await api.get('/me');
    await start(me);
  } catch (e) {
    if (e instanceof api.ApiError && e.status === 401) { showAuth(); return; }
    if (!api.hasSession()) { showAuth(); return; }
    // Offline at startup: keep the session and try again shortly.
    clear(root).append(h('div.boot', { role: 'status' }, 'Waiting for the network…'));
    const retry = () => { window.removeEventListener('online', retry); clearTimeout(t); boot(); };
    const t = setTimeout(retry, 5000);
    window.addEventListener('online', retry);
  }
}

// Nothing of an account that logged out (or was deleted) stays behind on a
// shared computer.
function forgetAccount(id) {
  try {
    sessionStorage.removeItem('messenger.cursor.' + id);
    localStorage.removeItem('messenger.outbox.' + id);
    localStorage.removeItem(store.draftsKey(id));
  } catch { /* ignore */ }
}

function showAuth(message) {
  renderAuth(root, (user) => start(user));
  if (message) toast(message);
}

const ENDED = 'Your session has ended. Please log in again.';

// why: the refusal that ended it. A session ended on purpose (signed out
// from another device, a new password) takes along what this device kept
// of the account: its drafts and unsent messages. One that only expired
// keeps them for the next login.
function signedOut(message, why) {
  if (!state.me) return;
  const id = state.me.id;
  const ended = why instanceof api.ApiError && why.problem && why.problem.code === 'session_ended';
  teardown();
  api.clearTokens();
  forgetChatAddress();
  if (ended) forgetAccount(id);
  showAuth(ended ? 'You were signed out of this device. Please log in again.' : message);
}

// The open chat's address (#/c/ID) goes with its account: the next person
// to sign in here would open it.
function forgetChatAddress() {
  if (location.hash) history.replaceState({}, '', location.pathname);
}

function teardown() {
  session++;
  if (stream) { stream.stop(); stream = null; }
  if (state.outbox) { state.outbox.dispose(); state.outbox = null; }
  closeMenu();
  for (const f of cleanups) f();
  cleanups = [];
  for (const d of document.querySelectorAll('dialog')) d.close();
  store.reset();
  store.clearListeners();
  document.title = 'Messenger';
}

async function start(me) {
  teardown();
  const mySession = session;
  store.putUser(me);
  state.me = { ...me };
  state.outbox = new Outbox(me.id, {
    onChange: (convId) => { store.emit('outbox', convId); store.emit('list'); },
    beforeSend: () => store.typingSettled(),
    onSent: (msg) => { store.putMessage(msg); store.emit('chat', msg.conversation_id); store.emit('list'); },
  });
  stream = new EventStream({
    userId: me.id,
    onEvent: (ev) => store.applyEvent(ev),
    onStatus: (s) => {
      state.connection = s;
      sidebar.setConnection(s);
      // Back online: what failed meanwhile goes again.
      if (s === 'live') {
        if (state.outbox) state.outbox.kick();
        store.flushReads();
        chat.retryLoad();
      }
    },
    // The first load of the list failed, or the log no longer reaches back
    // to our cursor: everything is loaded afresh (conversations we have
    // left, old presence and typing go), retried until it works.
    onResync: async () => {
      const open = chat.convId;
      await store.reloadConversations();
      sidebar.refreshPresence();
      if (open != null) chat.open(open);
    },
    onLoggedOut: (e) => signedOut(ENDED, e),
  });

  const sidebar = createSidebar({
    onOpen: (id, msg) => openConv(id, msg),
    onNewChat: () => newChatDialog(openConv),
    onNewGroup: () => newGroupDialog(openConv),
    onProfile: () => profileDialog({ onDeleted: () => {
      // A request of this tab may have met the ended session first. The
      // outbox is closed before its stored copy goes.
      if (state.me) signedOut('Your account was deleted.'); else toast('Your account was deleted.');
      forgetAccount(me.id);
    } }),
    onSessions: () => sessionsDialog(),
    onBlocks: () => blocksDialog(),
    onArchive: () => archiveDialog(openConv),
    onLogout: async () => {
      // Messages not sent yet go with the account's data: asked first.
      const unsent = state.outbox ? state.outbox.items.length : 0;
      if (unsent && !(await confirmDialog('Log out?', `${unsent === 1 ? 'A message' : `${unsent} messages`} not sent yet will be lost.`, 'Log out', true, { focusCancel: true }))) return;
      const s = stream;
      if (s) s.stop();
      // Signed out here at once; the server is told meanwhile (on a slow
      // or stalled network the chats used to stay on screen until it
      // answered). A login waits for it (they take turns, api.js).
      const told = api.logout();
      teardown();
      forgetAccount(me.id);
      forgetChatAddress();
      showAuth();
      await told;
    },
  });
  const chat = createChat({
    onBack: () => closeConv(),
    // On a phone the list (and its search) shows in place of the chat,
    // once the chat has gone (after the history's Back).
    onSearchIn: (id) => {
      if (!matchMedia('(max-width: 760px)').matches) { sidebar.searchIn(id); return; }
      afterList = () => sidebar.searchIn(id);
      closeConv();
    },
    onInfo: (id) => convInfoDialog(id, { onLeft: (cid, leaving) => { if (leaving) leftByMe.add(cid); else leftByMe.delete(cid); } }),
  });
  cleanups.push(() => chat.dispose(), () => sidebar.dispose());
  const shell = h('div.shell', sidebar.root, chat.root);
  clear(root).append(shell);
  sidebar.setConnection('connecting');

  // What is shown: a chat, or the list (on a phone one at a time).
  function showChat(id, msg) {
    state.activeId = id;
    shell.classList.add('chat-open');
    store.emit('list');
    chat.open(id, msg);
  }
  let afterList = null;   // what to do once the list shows (a search)
  function showList() {
    const was = state.activeId;
    state.activeId = null;
    shell.classList.remove('chat-open');
    chat.close();
    store.emit('list');
    if (afterList) { const then = afterList; afterList = null; then(); }
    // On a phone the chat's Back button is gone with the chat: the focus
    // goes to the chat's row in the list, not to the page; a chat left or
    // removed has no row: the first one, else the list's heading.
    requestAnimationFrame(() => {
      const now = document.activeElement;
      if (was == null || (now && now !== document.body && now.isConnected)) return;
      focusList(was);
    });
  }
  // The focus in the list: chat id's row, else the first row, else the
  // list's heading (whichever is shown).
  function focusList(id) {
    const shown = (el) => el && el.offsetParent !== null;
    const row = id != null ? document.querySelector(`.conv-item[data-conv-id="${id}"]`) : null;
    const to = [row, document.querySelector('.conv-item'), document.querySelector('.side-head h1')].find(shown);
    if (to) to.focus();
  }
  // What had the focus is gone: the open chat's message box, else the list.
  setFocusFallback(() => {
    if (state.activeId != null) chat.focusComposer();
    else focusList(null);
  });
  function openConv(id, msg) {
    showChat(id, msg);
    if (!msg) chat.focusComposer();
    // At most one history entry for "in a chat", so Back returns to the list.
    if (history.state?.conv !== id) {
      if (history.state?.conv != null) history.replaceState({ conv: id }, '', `#/c/${id}`);
      else history.pushState({ conv: id }, '', `#/c/${id}`);
    }
  }
  // Alt+Up / Alt+Down: the chat above or below the open one in the list
  // (the top one when none is open), as in desktop messengers.
  // Not while a menu or dialog is open, nor in a field with text (where
  // Option+Up/Down moves the caret on a Mac).
  const onChatKey = (e) => {
    if (!e.altKey || e.ctrlKey || e.metaKey || e.shiftKey || (e.key !== 'ArrowUp' && e.key !== 'ArrowDown')) return;
    if (e.defaultPrevented || document.querySelector('dialog[open], .menu')) return;
    const t = e.target;
    if (t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT') && t.value) return;
    const list = store.sortedConvs();
    const at = list.findIndex((c) => c.id === state.activeId);
    // From no chat, or one not in the list (archived): Down goes to the top.
    const to = at < 0 ? (e.key === 'ArrowDown' ? 0 : -1) : at + (e.key === 'ArrowDown' ? 1 : -1);
    if (to < 0 || to >= list.length) return;
    e.preventDefault();
    openConv(list[to].id);
  };
  document.addEventListener('keydown', onChatKey);
  cleanups.push(() => document.removeEventListener('keydown', onChatKey));
  // Back in the app is Back in the browser: the chat's history entry goes,
  // and onpopstate closes the chat (so the phone's Back button never has
  // dead entries to step through).
  // Once: a second Back before the first one lands would leave the app.
  let backPending = false;
  function closeConv() {
    if (history.state?.conv != null) {
      if (!backPending) { backPending = true; history.back(); }
      return;
    }
    showList();
    if (location.hash) history.replaceState({}, '', location.pathname);
  }
  window.onpopstate = () => {
    backPending = false;
    const m = /^#\/c\/(\d+)$/.exec(location.hash);
    if (m && state.convs.has(Number(m[1]))) showChat(Number(m[1]));
    else if (state.activeId != null) showList();
  };
  // The browser knows first when the network goes away: say so at once, and
  // drop a stream that may be dead without knowing it.
  const onOffline = () => { if (stream) { stream.setStatus('offline'); stream.reconnectNow(); } };
  window.addEventListener('offline', onOffline);
  cleanups.push(() => window.removeEventListener('offline', onOffline));
  // Desktop notifications (when allowed) for messages that arrive while the
  // user is elsewhere: the tab in the background, or its window behind another.
  // They go with the session (a sign-out leaves none of its messages on
  // the screen, and none opens the account's chat for the next person).
  // One per conversation (a new one replaces the one before, by its tag).
  // Another tab of this browser in use, or another one that notifies
  // instead: none from this one (attention.js).
  const shown = new Map();
  const attention = startAttention(state.me.id);
  cleanups.push(() => { for (const n of shown.values()) n.close(); shown.clear(); }, () => attention.stop());
  const canNotify = () => typeof Notification === 'function' && Notification.permission === 'granted' && attention.shouldNotify();
  // One of each kind per conversation: a message's replaces the one before,
  // a reaction's the reaction's before (not a message still unread there).
  function notify(c, who, text, kind = 'conv') {
    const tag = `${kind}-${c.id}`;
    const n = new Notification(c.type === 'group' ? store.convTitle(c) : who, {
      body: (c.type === 'group' ? who + ': ' : '') + text, icon: '/favicon.svg', tag,
    });
    shown.set(tag, n);
    n.onclose = () => { if (shown.get(tag) === n) shown.delete(tag); };
    n.onclick = () => { n.close(); if (mySession !== session) return; window.focus(); openConv(c.id); };
  }
  // Who did it, by name: a group member's profile may not be held yet.
  async function nameOf(id) {
    if (!state.users.has(id)) await store.fetchUser(id);
    return store.userName(id);
  }
  // A chat the page does not hold (archived, or past the list's first
  // page) is asked for first.
  async function held(id) {
    if (!state.convs.has(id)) { try { await store.fetchConv(id); } catch { return null; } }
    return mySession === session ? state.convs.get(id) : null;
  }
  store.on('incoming', async (msg) => {
    if (!canNotify() || msg.sender_id === state.me.id || msg.kind === 'system') return;
    const c = await held(msg.conversation_id);
    if (!c || store.isMuted(c)) return;
    const who = await nameOf(msg.sender_id);
    if (mySession !== session || !canNotify()) return;
    notify(c, who, msg.body || 'New message');
  });
  // A reaction to a message of mine, as Messenger tells it. The message is
  // asked for when it is not held (an old one).
  store.on('reacted', async (ev) => {
    if (!canNotify()) return;
    const c = await held(ev.conversation_id);
    if (!c || store.isMuted(c)) return;
    let msg = store.findMessage(c.id, ev.message_id);
    if (!msg) { try { msg = await store.fetchMessage(c.id, ev.message_id); } catch { return; } }
    if (mySession !== session || !msg || msg.sender_id !== state.me.id || msg.deleted_at || !msg.body) return;
    const who = await nameOf(ev.user_id);
    if (mySession !== session || !canNotify()) return;
    const text = [...(msg.body || '').replace(/\s+/g, ' ')];
    notify(c, who, `Reacted ${ev.emoji} to your message: “${text.length > 80 ? text.slice(0, 79).join('') + '…' : text.join('')}”`, 'reaction');
  });
  // Groups this tab left: leaving is no news to whoever left.
  const leftByMe = new Set();
  store.on('removed', (id) => {
    // Its unsent messages can never be sent (the server answers 404) and
    // would wait unseen, counted at sign-out: they go, and the user is told.
    const unsent = state.outbox ? state.outbox.forConv(id) : [];
    for (const it of unsent) state.outbox.discard(it.client_id);
    const lost = unsent.length ? ` ${unsent.length === 1 ? 'A message' : unsent.length + ' messages'} not sent there yet ${unsent.length === 1 ? 'was' : 'were'} discarded.` : '';
    const open = chat.convId === id;
    if (open) closeConv();
    if (leftByMe.has(id)) { if (lost) toast(lost.trim()); } else if (open) toast('You are no longer in that conversation.' + lost);
    else if (lost) toast('You are no longer in a conversation you were writing to.' + lost);
  });

  // The stream's starting point is taken before the snapshot, so nothing
  // that happens in between is missed. If that fails, the stream takes it
  // later and reloads the snapshot then.
  try { await stream.prime(); } catch { stream.resyncOnPrime = true; }
  try {
    await store.loadConversations();
  } catch (e) {
    if (mySession !== session) return;
    if (!(e instanceof api.NetworkError)) toast(api.friendlyError(e));
    // The stream loads it (retrying) before it reads any event.
    stream.resyncOnPrime = true;
  }
  if (mySession !== session) return;
  state.ready = true;
  stream.start();
  state.outbox.kick();
  const m = /^#\/c\/(\d+)$/.exec(location.hash);
  if (m) {
    // A link to a chat: the list is the entry before it, so Back leads there.
    history.replaceState({}, '', location.pathname);
    openConv(Number(m[1]));
  }
}

// Global shortcuts: Ctrl/Cmd+K focuses search; Esc closes a menu.
document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
    const s = document.querySelector('.side-search input');
    if (s) { e.preventDefault(); s.focus(); }
  }
});

boot();
