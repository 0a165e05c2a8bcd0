// The left pane: who I am, the conversation list (live, by last activity),
// message search and the connection banner.
import { h, icon, iconButton, clear, reconcile } from '../dom.js';
import { listTime } from '../format.js';
import * as api from '../api.js';
import * as store from '../store.js';
import { state, convTitle, userName } from '../store.js';
import { userAvatar, convAvatar, showMenu, menuItem, toast, onLongPress } from './common.js';

export function createSidebar({ onOpen, onNewChat, onNewGroup, onProfile, onSessions, onBlocks, onArchive, onLogout }) {
  const meBtn = h('button.me-btn', { type: 'button', 'aria-label': 'Account menu', 'aria-haspopup': 'menu', 'aria-expanded': 'false' });
  meBtn.addEventListener('click', () => showMenu(meBtn, (m) => {
    m.append(...[menuItem('user', 'Edit profile', onProfile), menuItem('devices', 'Devices', onSessions),
      menuItem('archive', 'Archived chats', onArchive),
      menuItem('block', 'Blocked people', onBlocks),
      typeof Notification === 'function' && Notification.permission === 'default'
        ? menuItem('bell', 'Turn on desktop notifications', () => Notification.requestPermission()) : null,
      menuItem('info', 'API reference', () => window.open('/docs/', '_blank', 'noopener')),
      menuItem('logout', 'Log out', onLogout, true)].filter(Boolean));
  }));
  // The list's heading takes the focus when nothing else in the list can
  // (the chat that had it is gone: left, or removed).
  const head = h('header.side-head', meBtn, h('h1', { tabindex: '-1' }, 'Chats'),
    iconButton('group', 'New group', onNewGroup), iconButton('edit', 'New message', onNewChat));
  const banner = h('div.conn-banner', { role: 'status', hidden: true });
  const searchInput = h('input', { type: 'search', placeholder: 'Search chats, people and messages', 'aria-label': 'Search', autocomplete: 'off' });
  // Searching the messages of one conversation (from its header): said by
  // a chip above the field, which ends it.
  let scope = null;
  const scopeChip = h('div.search-scope', { hidden: true });
  const search = h('div.side-search', { role: 'search' }, scopeChip, h('div.search-field', icon('search'), searchInput));
  const list = h('ul.conv-list', { 'aria-label': 'Conversations' });
  const empty = h('div.empty-list', { hidden: true },
    h('p', 'No conversations yet.'),
    h('button.btn.primary', { type: 'button', on: { click: onNewChat } }, 'Start a chat'));
  const sentinel = h('div.list-sentinel');
  // Older conversations that failed to load: said, with a way to ask again
  // (and asked again when the connection comes back).
  const moreText = h('span');
  const moreFailed = h('div.more-failed', { hidden: true, role: 'status' }, moreText, ' ',
    h('button.btn.small', { type: 'button', on: { click: () => loadMore() } }, 'Try again'));
  function loadMore() {
    moreFailed.hidden = true;
    store.loadConversations(true).catch((e) => {
      moreText.textContent = 'Could not load more conversations. ' + api.friendlyError(e);
      moreFailed.hidden = false;
    });
  }
  const results = h('div.search-box', { hidden: true, 'aria-live': 'polite' });
  const scroller = h('div.conv-scroll', list, empty, moreFailed, sentinel, results);
  const root = h('aside.sidebar', { 'aria-label': 'Conversations' }, head, banner, search, scroller);

  const items = new Map();   // conversation id -> {li, sig}
  // The presence of a direct chat's person is asked for once its row comes
  // into view (then events keep it current): the dots of a long list cost
  // a request each only as the list is scrolled.
  const presenceAsking = new Set();
  const seen = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      const c = state.convs.get(Number(e.target.dataset.convId));
      if (!c || c.type !== 'direct' || !c.peer || presenceAsking.has(c.peer.id) || state.presence.has(c.peer.id)) continue;
      const uid = c.peer.id;
      presenceAsking.add(uid);
      store.fetchPresence(uid).finally(() => presenceAsking.delete(uid));
    }
  }, { root: scroller });
  // After a reload of everything (presence known before is gone): the rows
  // in view ask again.
  function refreshPresence() {
    for (const it of items.values()) {
      const b = it.li.firstChild;
      seen.unobserve(b);
      seen.observe(b);
    }
  }

  function previewText(c) {
    const typing = store.typingUsers(c.id);
    if (typing.length) return { text: c.type === 'group' ? `${userName(typing[0])} is typing…` : 'typing…', typing: true };
    // Not the open chat's: its draft is in front of the reader already.
    const d = state.activeId === c.id ? '' : store.draft(c.id);
    if (d) return { text: d.replace(/\s+/g, ' '), draft: true };
    const waiting = state.outbox ? state.outbox.forConv(c.id) : [];
    if (waiting.length) {
      const last = waiting[waiting.length - 1];
      const failed = waiting.some((w) => w.state === 'failed');
      return { text: `You: ${last.body.replace(/\s+/g, ' ')}`, icon: failed ? 'alert' : 'clock', note: failed ? 'Not sent' : 'Sending' };
    }
    const m = c.last_message;
    if (!m) return { text: c.type === 'group' ? 'Group created' : 'Say hi 👋' };
    let body = m.deleted_at ? 'Message deleted' : (m.body || '').replace(/\s+/g, ' ');
    if (m.kind && m.kind !== 'text' && m.kind !== 'system' && !m.deleted_at) body = `Sent a ${m.kind}`;
    if (m.kind === 'system') return { text: body };
    const who = state.me && m.sender_id === state.me.id ? 'You' : c.type === 'group' ? userName(m.sender_id).split(' ')[0] : '';
    return { text: who ? `${who}: ${body}` : body };
  }

  function renderItem(c) {
    const title = convTitle(c);
    const p = previewText(c);
    const unread = c.unread_count || 0;
    const online = c.type === 'direct' && c.peer && state.presence.get(c.peer.id)?.online;
    const active = state.activeId === c.id;
    const time = listTime(c.last_message ? c.last_message.created_at : c.last_activity_at);
    const muted = store.isMuted(c);
    const marked = !unread && !!c.marked_unread;
    const pinned = !!c.pinned;
    const sig = JSON.stringify([title, p, unread, online, active, time, muted, marked, pinned]);
    const it = items.get(c.id);
    if (it && it.sig === sig) return it.li;
    const label = `${title}${unread ? `, ${unread} unread` : ''}${marked ? ', marked unread' : ''}${pinned ? ', pinned' : ''}${online ? ', online' : ''}${muted ? ', muted' : ''}. ${p.note ? p.note + ': ' : ''}${p.draft ? 'Draft: ' : ''}${p.text}`;
    const btn = h('button.conv-item' + (unread || marked ? '.unread' : ''), {
      type: 'button', 'aria-label': label, 'aria-current': active ? 'true' : null,
      dataset: { convId: String(c.id) }, on: { click: () => onOpen(c.id) },
    },
    convAvatar(c),
    h('span.conv-main',
      h('span.conv-top', h('span.conv-title', title), muted ? icon('mute', 'muted-icon') : null,
        pinned ? icon('pin', 'muted-icon pin-icon') : null, h('span.conv-time', time)),
      h('span.conv-bottom', h('span.conv-preview' + (p.typing ? '.typing' : ''), p.icon ? icon(p.icon) : null,
        p.draft ? h('span.draft-note', 'Draft: ') : null, p.text),
        unread ? h('span.badge' + (muted ? '.muted' : ''), { 'aria-hidden': 'true' }, unread > 99 ? '99+' : String(unread))
          : marked ? h('span.badge.dot' + (muted ? '.muted' : ''), { 'aria-hidden': 'true' }) : null)));
    // The chat's own actions: a button beside it (shown on hover and to the
    // keyboard), or a long press on a touch screen.
    const more = h('button.icon-btn.conv-more', { type: 'button', 'aria-label': `Chat actions: ${title}`, 'aria-haspopup': 'menu', 'aria-expanded': 'false', title: 'More',
      on: { click: () => chatActions(more, c.id) } }, icon('more'));
    // On a touch screen the button is not shown: the menu opens by the row.
    onLongPress(btn, () => chatActions(more.offsetParent ? more : btn, c.id));
    // reconcile puts it in place of the old entry (keeping the focus on
    // the same control of the row: the row carries the id too).
    const li = h('li.conv-row', { dataset: { convId: String(c.id) } }, btn, more);
    if (c.type === 'direct' && c.peer && !state.presence.has(c.peer.id)) seen.observe(btn);
    if (it) seen.unobserve(it.li.firstChild);
    items.set(c.id, { li, sig });
    return li;
  }

  // Pin, mark as unread or read, mute: my own marks on the chat.
  function chatActions(anchor, id) {
    const c = state.convs.get(id);
    if (!c) return;
    const set = (marks, said) => store.setMarks(id, marks).then(() => toast(said), (e) => toast(api.friendlyError(e)));
    showMenu(anchor, (m) => {
      m.append(c.pinned ? menuItem('pin', 'Unpin', () => set({ pinned: false }, 'Unpinned'))
        : menuItem('pin', 'Pin to the top', () => set({ pinned: true }, 'Pinned')));
      // The open chat is being read: no mark "unread" for it.
      if (c.unread_count || c.marked_unread) m.append(menuItem('checks', 'Mark as read', () => store.markRead(id)));
      else if (state.activeId !== id) m.append(menuItem('unread', 'Mark as unread', () => set({ marked_unread: true }, 'Marked as unread')));
      m.append(store.isMuted(c) ? menuItem('bell', 'Unmute', () => set({ muted_until: null }, 'Notifications on'))
        : menuItem('mute', 'Mute', () => set({ muted_until: new Date(Date.now() + 10 * 365 * 86400000).toISOString() }, 'Notifications muted')));
      m.append(menuItem('archive', 'Archive', () => set({ archived: true }, 'Archived. A new message brings it back.')));
    }, { refind: () => list.querySelector(`li.conv-row[data-conv-id="${id}"] .conv-more`) });
  }

  let queued = false;
  function render() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      const convs = store.sortedConvs();
      for (const [id, it] of items) if (!state.convs.has(id)) { seen.unobserve(it.li.firstChild); items.delete(id); }
      reconcile(list, convs.map(renderItem));
      empty.hidden = convs.length > 0 || !state.convsComplete;
      const n = convs.reduce((s, c) => s + ((c.unread_count || c.marked_unread) && !store.isMuted(c) ? 1 : 0), 0);
      document.title = n ? `(${n}) Messenger` : 'Messenger';
    });
  }

  function renderMe() {
    clear(meBtn).append(userAvatar(state.me, 'm'));
    meBtn.title = state.me ? `${state.me.display_name} (@${state.me.username})` : '';
  }

  function setConnection(status) {
    banner.classList.toggle('offline', status === 'offline');
    banner.dataset.status = status;
    if (status === 'live') {
      // Back after an outage the banner told of: older conversations that
      // failed to load are asked for again. Not after a blip (a stream
      // reconnecting in under 2 s).
      const outage = !banner.hidden;
      banner.hidden = true;
      clearTimeout(setConnection.t);
      if (outage && !moreFailed.hidden) loadMore();
      return;
    }
    const text = status === 'offline'
      ? 'You are offline. Messages you send will go out when you are back online.'
      : 'Connecting…';
    clearTimeout(setConnection.t);
    // Brief reconnects do not flash a banner.
    // Shown first and filled a frame later: a screen reader announces a
    // status region's change, not what was already in it when it appeared.
    setConnection.t = setTimeout(() => {
      if (banner.hidden) { clear(banner); banner.hidden = false; }
      requestAnimationFrame(() => { if (!banner.hidden) clear(banner).append(icon(status === 'offline' ? 'alert' : 'retry'), h('span', text)); });
    }, status === 'offline' ? 300 : 2000);
  }

  // Older conversations load as the list scrolls.
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && !state.convsComplete && state.convs.size && moreFailed.hidden) loadMore();
  }, { root: scroller }).observe(sentinel);

  // ---- search: my chats by name, people by name, messages by words ----
  let searchSeq = 0;
  let searchTimer = null;
  searchInput.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 250);
  });
  function setScope(id) {
    scope = id;
    clear(scopeChip);
    scopeChip.hidden = id == null;
    searchInput.placeholder = id == null ? 'Search chats, people and messages' : 'Search messages in this chat';
    if (id == null) return;
    const c = state.convs.get(id);
    scopeChip.append(h('span', `In ${c ? convTitle(c) : 'this conversation'}`),
      iconButton('close', 'Search everywhere', () => { setScope(null); searchInput.focus(); runSearch(); }, 'plain'));
  }
  function searchIn(id) {
    setScope(id);
    searchInput.focus();
    runSearch();
  }
  searchInput.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      // Esc empties the field, and once empty ends a chat's search.
      if (!searchInput.value && scope != null) setScope(null);
      searchInput.value = ''; runSearch();
    }
    if (e.key === 'Enter') { clearTimeout(searchTimer); runSearch(); }
  });
  async function runSearch() {
    const q = searchInput.value.trim();
    const mine = ++searchSeq;
    const searching = q.length > 0 || scope != null;
    list.hidden = searching; empty.hidden = searching || store.sortedConvs().length > 0 || !state.convsComplete;
    results.hidden = !searching;
    if (!searching) { clear(results); return; }
    if (scope != null) { searchScoped(q, mine); return; }
    // My chats by name come from memory, at once; people and messages
    // from the server (people by the start of a name of up to 64
    // characters, as the API takes it).
    const ql = q.toLocaleLowerCase();
    const chats = store.sortedConvs({ archived: true }).filter((c) => convTitle(c).toLocaleLowerCase().includes(ql)).slice(0, 8);
    const chatList = chats.length ? [h('p.section-label', 'Chats'), h('ul.search-results', { 'aria-label': 'Chats' }, chats.map((c) =>
      h('li', h('button.result', { type: 'button', 'aria-label': convTitle(c), on: { click: () => onOpen(c.id) } },
        convAvatar(c, 'm'), h('span.conv-main', h('span.conv-top', h('span.conv-title', highlight(convTitle(c), q))))))))] : [];
    clear(results).append(...chatList, h('p.section-label', 'Searching…'));
    const [found, people] = await Promise.allSettled([store.searchMessages(q),
      [...q].length <= 64 ? store.searchUsers(q) : Promise.resolve([])]);
    if (mine !== searchSeq) return;
    clear(results).append(...chatList);
    // People I have no direct chat with yet (those I have are under Chats).
    const direct = new Set(chats.filter((c) => c.type === 'direct' && c.peer).map((c) => c.peer.id));
    const others = people.status === 'fulfilled' ? people.value.filter((u) => !direct.has(u.id) && !u.deleted).slice(0, 8) : [];
    if (others.length) {
      results.append(h('p.section-label', 'People'), h('ul.search-results', { 'aria-label': 'People' }, others.map((u) =>
        h('li', h('button.result', { type: 'button', 'aria-label': `${u.display_name} (@${u.username})`, on: { click: () => startChat(u) } },
          userAvatar(u, 'm'), h('span.conv-main', h('span.conv-top', h('span.conv-title', highlight(u.display_name, q))),
            h('span.conv-preview', '@' + u.username)))))));
    }
    if (people.status !== 'fulfilled') results.append(h('p.empty-list', `People: ${api.friendlyError(people.reason)}`));
    if (found.status !== 'fulfilled') {
      results.append(h('p.empty-list', `Messages: ${api.friendlyError(found.reason)}`));
      return;
    }
    showFound(found.value, q, mine, 'Messages', null);
  }
  // Messages of one conversation only.
  async function searchScoped(q, mine) {
    const c = state.convs.get(scope);
    const where = c ? convTitle(c) : 'this conversation';
    if (!q) { clear(results).append(h('p.section-label', `Type to search the messages in ${where}.`)); return; }
    clear(results).append(h('p.section-label', 'Searching…'));
    let r;
    try { r = await store.searchMessages(q, null, scope); } catch (e) {
      if (mine === searchSeq) clear(results).append(h('p.empty-list', `Messages: ${api.friendlyError(e)}`));
      return;
    }
    if (mine !== searchSeq) return;
    clear(results);
    showFound(r, q, mine, `Messages in ${where}`, scope);
  }
  // A page of found messages, and older ones a page at a time.
  function showFound(r, q, mine, label, convScope) {
    const ul = h('ul.search-results', { 'aria-label': 'Messages' });
    const addFound = (page) => {
      for (const m of page) {
        const c = state.convs.get(m.conversation_id);
        ul.append(h('li', h('button.result', {
          type: 'button', on: { click: () => onOpen(m.conversation_id, m) },
          'aria-label': `${c ? convTitle(c) : 'Conversation'}, ${userName(m.sender_id)}: ${m.body || ''}`,
        }, c ? convAvatar(c, 'm') : userAvatar(state.users.get(m.sender_id), 'm'),
        h('span.conv-main',
          h('span.conv-top', h('span.conv-title', c ? convTitle(c) : userName(m.sender_id)), h('span.conv-time', listTime(m.created_at))),
          h('span.conv-preview', highlight(`${state.me && m.sender_id === state.me.id ? 'You' : userName(m.sender_id)}: ${m.body || ''}`, q))))));
      }
    };
    addFound(r.results);
    results.append(h('p.section-label', r.results.length ? label : `No messages match “${q}”.`), ul);
    // Older matches, a page at a time.
    let next = r.next_cursor;
    const more = h('button.btn.more-results', { type: 'button', hidden: !next }, 'More messages');
    const moreNote = h('p.empty-list', { hidden: true, role: 'alert' });
    more.addEventListener('click', async () => {
      more.disabled = true;
      moreNote.hidden = true;
      try {
        const page = await store.searchMessages(q, next, convScope);
        if (mine !== searchSeq) return;
        const firstNew = ul.children.length;
        addFound(page.results);
        next = page.next_cursor;
        more.hidden = !next;
        // The first of the new ones takes the focus (the button may be gone).
        const b = ul.children[firstNew] && ul.children[firstNew].querySelector('button');
        if (b) b.focus();
      } catch (e) {
        if (mine !== searchSeq) return;
        moreNote.textContent = api.friendlyError(e);
        moreNote.hidden = false;
      } finally { more.disabled = false; }
    });
    results.append(more, moreNote);
  }
  // A person from the search: our direct chat (made on the first click).
  async function startChat(u) {
    try {
      const id = await store.openDirect(u.id);
      searchInput.value = '';
      runSearch();
      onOpen(id);
    } catch (e) { toast(api.friendlyError(e)); }
  }

  store.on('list', render);
  // Nothing else redraws the list when only time moves on: a mute that
  // ran out, a time that becomes "Mon" after midnight.
  const tick = setInterval(render, 60 * 1000);
  store.on('users', () => { items.clear(); render(); renderMe(); });
  store.on('presence', render);
  store.on('typing', render);
  store.on('me', renderMe);
  renderMe();
  render();

  return { root, render, setConnection, refreshPresence, searchIn, focusSearch: () => searchInput.focus(), dispose: () => { clearInterval(tick); seen.disconnect(); } };
}

function highlight(text, q) {
  const words = q.split(/\s+/).filter(Boolean).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (!words.length) return text;
  const re = new RegExp(`(${words.join('|')})`, 'ig');
  return text.split(re).map((part, i) => (i % 2 ? h('mark', part) : part));
}
